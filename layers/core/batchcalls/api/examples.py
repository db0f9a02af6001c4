"""Examples shown in the OpenAPI document (one per action, and its response)."""

from __future__ import annotations

from typing import Any

API_SUMMARY = "Outbound batch call campaigns: a superset of Magpipe's Batch Calls API"

_BATCH_ID = "f1e2d3c4-5678-9012-3456-789012345678"

ACTIONS: dict[str, Any] = {
    "create": {
        "summary": "create: send now",
        "value": {
            "action": "create",
            "name": "Appointment Reminders",
            "caller_id": "+16045551234",
            "send_now": True,
            "window_start_time": "09:00",
            "window_end_time": "17:00",
            "window_days": [1, 2, 3, 4, 5],
            "reserved_concurrency": 5,
            "recipients": [
                {"name": "John Doe", "phone_number": "+14155551234"},
                {"name": "Jane Smith", "phone_number": "+12125559876"},
            ],
        },
    },
    "create_draft": {
        "summary": "create: save a draft",
        "value": {
            "action": "create",
            "name": "Draft",
            "caller_id": "+16045551234",
            "status": "draft",
            "recipients": [{"phone_number": "+14155551234"}],
        },
    },
    "get": {"summary": "get", "value": {"action": "get", "batch_id": _BATCH_ID}},
    "list": {"summary": "list", "value": {"action": "list", "status": "completed", "limit": 50, "offset": 0}},
    "list_runs": {"summary": "list_runs", "value": {"action": "list_runs", "parent_batch_id": _BATCH_ID}},
    "update": {
        "summary": "update (drafts)",
        "value": {"action": "update", "batch_id": _BATCH_ID, "name": "New name"},
    },
    "start": {"summary": "start / re-run", "value": {"action": "start", "batch_id": _BATCH_ID}},
    "rerun_failures": {
        "summary": "start: re-run only failed outcomes",
        "value": {"action": "start", "batch_id": _BATCH_ID, "only_statuses": ["failed", "busy", "no_answer"]},
    },
    "cancel": {"summary": "cancel", "value": {"action": "cancel", "batch_id": _BATCH_ID}},
    "pause": {"summary": "pause", "value": {"action": "pause", "batch_id": _BATCH_ID}},
    "resume": {"summary": "resume", "value": {"action": "resume", "batch_id": _BATCH_ID}},
}

_BATCH = {
    "id": _BATCH_ID,
    "user_id": "a1b2c3d4-0000-4000-8000-000000000001",
    "name": "Appointment Reminders",
    "caller_id": "+16045551234",
    "agent_id": "agent-demo",
    "status": "running",
    "paused_reason": None,
    "failure_reason": None,
    "send_now": True,
    "scheduled_at": None,
    "window_start_time": "09:00",
    "window_end_time": "17:00",
    "window_days": [1, 2, 3, 4, 5],
    "timezone": "UTC",
    "reserved_concurrency": 5,
    "max_concurrency": None,
    "purpose": None,
    "goal": None,
    "total_recipients": 2,
    "completed_count": 0,
    "failed_count": 0,
    "skipped_count": 0,
    "duplicates_dropped": 0,
    "suppressed_dropped": 0,
    "created_at": "2026-11-23T09:00:00.000Z",
    "updated_at": "2026-11-23T09:00:00.000Z",
    "started_at": "2026-11-23T09:00:00.000Z",
    "completed_at": None,
    "cancelled_at": None,
    "parent_batch_id": None,
    "occurrence_number": None,
    "recurrence_type": "none",
    "recurrence_interval": 1,
    "recurrence_end_date": None,
    "recurrence_max_runs": None,
    "recurrence_run_count": 0,
    "run_number": 1,
    "due_at": None,
}

RESPONSES: dict[str, Any] = {
    "create": {"summary": "create, update", "value": {"batch": _BATCH}},
    "list": {"summary": "list", "value": {"batches": [_BATCH], "next_cursor": None}},
    "start": {
        "summary": "start, cancel, pause, resume",
        "value": {"success": True, "message": "Batch started"},
    },
}
