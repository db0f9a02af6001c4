"""The one place that maps domain errors to HTTP statuses and the ``{"error": ...}`` body."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from batchcalls.domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    Unauthorized,
)

M = TypeVar("M", bound=BaseModel)

STATUS_FOR: list[tuple[type[DomainError], int]] = [
    (InvalidRequest, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (IllegalTransition, 409),
    (Conflict, 409),
]


def status_for(error: DomainError) -> int:
    for kind, status in STATUS_FOR:
        if isinstance(error, kind):
            return status
    return 400


def error_body(error: DomainError) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error.message}
    if isinstance(error, InvalidRequest) and error.errors:
        body["details"] = error.errors
    return body


def from_validation_error(exc: ValidationError) -> InvalidRequest:
    """A pydantic error → a sentence naming the first field and problem, plus every detail."""
    return from_error_list(list(exc.errors()))


def from_error_list(errors: list[Any], strip: tuple[str, ...] = ()) -> InvalidRequest:
    """Errors in pydantic's shape; ``strip`` drops leading location parts (``body``, a tag)."""
    for err in errors:
        # The discriminated union of actions: the tag is the action.
        if err.get("type") == "union_tag_invalid":
            tag = (err.get("ctx") or {}).get("tag", "")
            return InvalidRequest(f"Unknown action: {tag}")
        if err.get("type") == "union_tag_not_found":
            return InvalidRequest("action is required", [{"field": "action", "message": "is required"}])
        if err.get("type") == "json_invalid":
            return InvalidRequest("The request body is not valid JSON")
    details = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        while loc and loc[0] in strip:
            loc = loc[1:]
        field = ".".join(loc) or "body"
        message = str(err.get("msg", "is not valid")).removeprefix("Value error, ")
        if err["type"] == "missing":
            message = "is required"
        elif err["type"] == "extra_forbidden":
            message = "is not a field this action takes"
        elif err["type"] == "string_pattern_mismatch" and field.endswith("agent_id"):
            message = "must be 1–100 letters, digits, '-', '_', '.' or ':'"
        details.append({"field": field, "message": message})
    first = details[0]
    more = f" (and {len(details) - 1} more problems)" if len(details) > 1 else ""
    text = f"{first['field']}: {first['message']}{more}" if first["field"] != "body" else first["message"]
    return InvalidRequest(text, details)


def parse(model: type[M], data: Any) -> M:
    """Validate ``data`` as ``model`` or raise the 400 naming the field and the problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc
