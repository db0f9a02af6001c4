from __future__ import annotations

from typing import Any

import pytest

from batchcalls.api.actions import parse_action
from batchcalls.api.errors import error_body, status_for
from batchcalls.domain.errors import DomainError, InvalidRequest


def refuse(body: Any) -> dict[str, Any]:
    with pytest.raises(DomainError) as err:
        parse_action(body)  # validation fails before any use case runs: no AWS is touched
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


def test_unknown_fields_are_reported() -> None:
    body = refuse({**VALID, "nmae": "typo"})
    assert body["details"][0] == {"field": "nmae", "message": "is not a field this action takes"}
    body = refuse({**VALID, "recipients": [{"phone_number": "+14155551234", "emial": "x"}]})
    assert body["details"][0]["field"] == "recipients.0.emial"


def test_magpipe_client_fields_are_accepted() -> None:
    from batchcalls.models.api import CreateBatchRequest

    # What Magpipe's web client sends for a scheduled batch.
    body = {
        **VALID,
        "status": "scheduled",
        "send_now": False,
        "scheduled_at": "2030-03-01T17:30:00.000Z",
        "window_days": [3, 1, 2],
        "max_concurrency": 10,
        "reserved_concurrency": 0,
        "recipients": [{"name": "A", "phone_number": "+14155551234", "sort_order": 0}],
        "recurrence_type": "none",
    }
    request = CreateBatchRequest.model_validate(body)
    assert request.window_days == [3, 1, 2] and request.max_concurrency == 10


def test_agent_id_format() -> None:
    body = refuse({**VALID, "agent_id": "bad agent!"})
    assert body["details"][0]["field"] == "agent_id"
    assert "letters" in body["details"][0]["message"]
