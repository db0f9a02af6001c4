from __future__ import annotations

from typing import Any

import pytest

from batchcalls.api.actions import dispatch
from batchcalls.api.errors import error_body, status_for
from batchcalls.domain.errors import DomainError, InvalidRequest
from batchcalls.services.context import Context


class NoContext(Context):
    """Validation fails before any use case runs, so no AWS is touched."""

    def __init__(self) -> None:
        pass


def refuse(body: Any) -> dict[str, Any]:
    with pytest.raises(DomainError) as err:
        dispatch(NoContext(), "acct", body)
    assert status_for(err.value) == 400
    return error_body(err.value)


VALID = {
    "action": "create",
    "name": "n",
    "caller_id": "+16045551234",
    "recipients": [{"phone_number": "+14155551234"}],
}


def test_unknown_action() -> None:
    assert refuse({"action": "explode"}) == {"error": "Unknown action: explode"}


def test_missing_action_and_non_object_body() -> None:
    assert "action" in refuse({})["error"]
    assert "JSON object" in refuse([1, 2])["error"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"recipients": []}, "recipients"),
        ({"window_start_time": "9am"}, "window_start_time"),
        ({"window_days": []}, "window_days"),
        ({"window_days": [1, 1]}, "window_days"),
        ({"window_days": [7]}, "window_days"),
        ({"reserved_concurrency": 21}, "reserved_concurrency"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"recipients": [{"name": "x"}]}, "recipients.0.phone_number"),
    ],
)
def test_create_errors_name_the_field(change: dict[str, Any], field: str) -> None:
    body = refuse({**VALID, **change})
    assert body["error"].startswith(field)
    assert body["details"][0]["field"] == field


def test_scheduled_create_needs_scheduled_at() -> None:
    body = refuse({**VALID, "send_now": False})
    assert "scheduled_at is required" in body["error"]


def test_invalid_request_is_400_with_details() -> None:
    error = InvalidRequest("x bad", [{"field": "x", "message": "bad"}])
    assert status_for(error) == 400
    assert error_body(error) == {"error": "x bad", "details": [{"field": "x", "message": "bad"}]}
