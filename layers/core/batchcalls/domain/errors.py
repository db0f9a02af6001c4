"""Domain errors. ``batchcalls.api.errors`` is the one place that maps them to HTTP statuses."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    pass


class InvalidRequest(DomainError):
    """Bad input: names the field and the problem."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


def invalid_cursor(reason: str = "malformed") -> InvalidRequest:
    """A paging cursor this API did not give out (or one of another list)."""
    return InvalidRequest("cursor is not one this API gave out", [{"field": "cursor", "message": reason}])


class IllegalTransition(DomainError):
    pass


class Conflict(DomainError):
    pass


class Unauthorized(DomainError):
    pass


class Forbidden(DomainError):
    pass
