"""The API contract: request bodies of the actions and the shapes of the responses.

Requests follow Magpipe's Batch Calls API (``shared/reference``) field for field; our
additions (``timezone``, ``max_concurrency``…) are optional. Responses are built from domain
entities by the ``*_out`` functions at the bottom, explicitly.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from batchcalls.domain.recipient_status import UI_LABELS, RecipientStatus
from batchcalls.models.domain import Batch, Recipient

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _check_hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("must be a time of day as HH:MM (00:00–23:59)")
    return value


def _check_days(value: list[int]) -> list[int]:
    if not value:
        raise ValueError("must name at least one day (0=Sunday … 6=Saturday)")
    if any(day < 0 or day > 6 for day in value):
        raise ValueError("days are 0=Sunday … 6=Saturday")
    if len(set(value)) != len(value):
        raise ValueError("must not repeat a day")
    return value


def _check_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"'{value}' is not an IANA time zone (e.g. America/New_York)") from exc
    return value


HHMM = Annotated[str, AfterValidator(_check_hhmm)]
WindowDays = Annotated[list[int], AfterValidator(_check_days)]
TimeZone = Annotated[str, AfterValidator(_check_zone)]


AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
MAX_RECIPIENTS_PER_REQUEST = 20_000  # larger lists: the CSV upload


class _Request(BaseModel):
    # A field this API does not know is reported (400), so a typo never silently does nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    action: str | None = None


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone_number: str = Field(min_length=1, max_length=40)
    name: str | None = Field(default=None, max_length=200)
    sort_order: int | None = None


class CreateBatchRequest(_Request):
    name: str = Field(min_length=1, max_length=200)
    caller_id: str = Field(min_length=1, max_length=40)
    recipients: list[RecipientIn] = Field(min_length=1, max_length=MAX_RECIPIENTS_PER_REQUEST)
    agent_id: str | None = Field(default=None, pattern=AGENT_ID)
    status: Literal["draft", "running", "scheduled"] | None = None
    send_now: bool = True
    scheduled_at: str | None = None
    window_start_time: HHMM = "00:00"
    window_end_time: HHMM = "23:59"
    window_days: WindowDays = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    timezone: TimeZone | None = None
    reserved_concurrency: int = Field(default=5, ge=0, le=20)
    max_concurrency: int | None = Field(default=None, ge=1, le=20)
    purpose: str | None = Field(default=None, max_length=2000)
    goal: str | None = Field(default=None, max_length=2000)
    recurrence_type: Literal["none", "hourly", "daily", "weekly", "monthly"] = "none"
    recurrence_interval: int = Field(default=1, ge=1, le=1000)
    recurrence_end_date: str | None = None
    recurrence_max_runs: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _schedule(self) -> CreateBatchRequest:
        if not self.send_now and self.status != "draft" and not self.scheduled_at:
            raise ValueError("scheduled_at is required when send_now is false")
        return self


class BatchIdRequest(_Request):
    batch_id: str = Field(min_length=1, max_length=100)


_FINAL_STATUSES = Literal["completed", "failed", "busy", "no_answer", "skipped"]


class StartBatchRequest(BatchIdRequest):
    # Ours: re-run (or retry, on a running batch) only recipients with these final outcomes…
    only_statuses: list[_FINAL_STATUSES] | None = Field(default=None, min_length=1)
    # …or only these recipients (ids from `get`).
    recipient_ids: list[str] | None = Field(default=None, min_length=1, max_length=10_000)


class UpdateBatchRequest(BatchIdRequest):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    caller_id: str | None = Field(default=None, min_length=1, max_length=40)
    agent_id: str | None = Field(default=None, pattern=AGENT_ID)
    send_now: bool | None = None
    scheduled_at: str | None = None
    window_start_time: HHMM | None = None
    window_end_time: HHMM | None = None
    window_days: WindowDays | None = None
    timezone: TimeZone | None = None
    reserved_concurrency: int | None = Field(default=None, ge=0, le=20)
    max_concurrency: int | None = Field(default=None, ge=1, le=20)
    purpose: str | None = Field(default=None, max_length=2000)
    goal: str | None = Field(default=None, max_length=2000)


class ListRunsRequest(_Request):
    parent_batch_id: str = Field(min_length=1, max_length=100)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)


class ListBatchesRequest(_Request):
    status: (
        Literal["draft", "scheduled", "running", "paused", "completed", "cancelled", "failed", "recurring"]
        | None
    ) = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0)
    cursor: str | None = Field(default=None, max_length=2000)  # ours: from next_cursor


class RecipientsPageRequest(BaseModel):
    """Query of ``GET /batch-calls/{id}/recipients``."""

    model_config = ConfigDict(extra="forbid")

    status: (
        Literal[
            "pending",
            "calling",
            "initiated",
            "ringing",
            "in_progress",
            "completed",
            "failed",
            "busy",
            "no_answer",
            "skipped",
        ]
        | None
    ) = None
    cursor: str | None = Field(default=None, max_length=200)
    updated_since: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=100, ge=1, le=1000)


# -- responses -------------------------------------------------------------------------------

_BATCH_FIELDS = [
    "id",
    "user_id",
    "name",
    "caller_id",
    "agent_id",
    "status",
    "paused_reason",
    "failure_reason",
    "send_now",
    "scheduled_at",
    "window_start_time",
    "window_end_time",
    "window_days",
    "timezone",
    "reserved_concurrency",
    "max_concurrency",
    "purpose",
    "goal",
    "total_recipients",
    "completed_count",
    "failed_count",
    "skipped_count",
    "duplicates_dropped",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "parent_batch_id",
    "occurrence_number",
    "recurrence_type",
    "recurrence_interval",
    "recurrence_end_date",
    "recurrence_max_runs",
    "recurrence_run_count",
    "run_number",
]


def batch_out(batch: Batch, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out = {name: getattr(batch, name) for name in _BATCH_FIELDS}
    out["status"] = batch.status.value
    if counts is not None:
        out["counts"] = counts
    return out


def recipient_out(recipient: Recipient) -> dict[str, Any]:
    return {
        "id": recipient.id,
        "batch_id": recipient.batch_id,
        "phone_number": recipient.phone_number,
        "name": recipient.name,
        "status": recipient.status.value,
        "status_label": UI_LABELS[recipient.status],
        "sort_order": recipient.sort_order,
        "attempts": recipient.attempts,
        "call_id": recipient.call_id,
        "attempted_at": recipient.attempted_at,
        "answered_at": recipient.answered_at,
        "completed_at": recipient.completed_at,
        "duration_seconds": recipient.duration_seconds,
        "answered_by": recipient.answered_by,
        "error_message": recipient.error_message,
        "updated_at": recipient.updated_at,
    }


def status_counts(recipients: list[Recipient]) -> dict[str, int]:
    counts = {status.value: 0 for status in RecipientStatus}
    for recipient in recipients:
        counts[recipient.status.value] += 1
    return counts
