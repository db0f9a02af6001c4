"""The API contract: request bodies of the actions and the shapes of the responses.

Requests follow Magpipe's Batch Calls API (``shared/reference``) field for field; our
additions (``timezone``, ``max_concurrency``…) are optional. Responses are built from domain
entities by the ``*_out`` functions at the bottom, explicitly.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from batchcalls.domain.billing import dollars
from batchcalls.domain.recipient_limits import (
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_RECIPIENTS_PER_REQUEST,
    MAX_VARIABLE_CHARS,
    MAX_VARIABLE_NAME_CHARS,
    MAX_VARIABLES,
)
from batchcalls.domain.recipient_status import UI_LABELS
from batchcalls.domain.retry import RetryPolicy
from batchcalls.models.domain import Batch, LedgerEntry, Recipient
from batchcalls.models.results import AccountView, ImportSummary, NewUpload, Page, RecipientReport

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
    # OSError: a name too long for a file name, or a folder of the tz database ("America").
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        shown = value if len(value) <= 60 else value[:57] + "..."
        raise ValueError(f"'{shown}' is not an IANA time zone (e.g. America/New_York)") from exc
    return value


HHMM = Annotated[str, AfterValidator(_check_hhmm)]
WindowDays = Annotated[list[int], AfterValidator(_check_days)]
TimeZone = Annotated[str, AfterValidator(_check_zone)]


AGENT_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
MAX_CSV_CHARS = 5_000_000  # API Gateway takes 10 MB; bigger files go through the upload


class _Request(BaseModel):
    # A field this API does not know is reported (400), so a typo never silently does nothing.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone_number: str = Field(min_length=1, max_length=MAX_PHONE_CHARS)
    name: str | None = Field(default=None, max_length=MAX_NAME_CHARS)
    # Bounded: DynamoDB numbers hold 38 digits, and a sort key needs no more than JSON's safe ints.
    sort_order: int | None = Field(default=None, ge=-(2**53), le=2**53)
    # Ours: the recipient's own zone for window_timezone "recipient" (else derived from the number)…
    timezone: TimeZone | None = None
    # …and values passed to the agent with purpose and goal (e.g. from extra CSV columns).
    variables: (
        dict[
            Annotated[str, Field(max_length=MAX_VARIABLE_NAME_CHARS)],
            Annotated[str, Field(max_length=MAX_VARIABLE_CHARS)],
        ]
        | None
    ) = Field(default=None, max_length=MAX_VARIABLES)


class BatchSpec(_Request):
    name: str = Field(min_length=1, max_length=200)
    caller_id: str = Field(min_length=1, max_length=40)
    # The list as JSON (Magpipe's) or, ours, as CSV text with a header row (the template's
    # columns; extra columns become each recipient's variables).
    recipients: list[RecipientIn] | None = Field(
        default=None, min_length=1, max_length=MAX_RECIPIENTS_PER_REQUEST
    )
    recipients_csv: str | None = Field(default=None, min_length=1, max_length=MAX_CSV_CHARS)
    # Ours: the country of numbers written without +country (ISO 3166 code, e.g. "GB").
    default_country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    # Ours: create from the valid rows even when some are invalid (they are reported).
    skip_invalid: bool = False
    # Ours: answer what create would do (the preview report) without creating anything.
    dry_run: bool = False
    # One of the account's agents (GET /account lists them); default: the caller ID's agent.
    agent_id: str | None = Field(default=None, pattern=AGENT_ID)
    status: Literal["draft", "running", "scheduled"] | None = None
    send_now: bool = True
    scheduled_at: str | None = None
    window_start_time: HHMM = "00:00"
    window_end_time: HHMM = "23:59"
    window_days: WindowDays = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    timezone: TimeZone | None = None
    # Ours: "recipient" reads the window in each recipient's own time zone(s).
    window_timezone: Literal["batch", "recipient"] = "batch"
    # Ours: redial busy / no_answer / failed outcomes after a delay, up to max_attempts in all.
    retry_policy: RetryPolicy | None = None
    reserved_concurrency: int = Field(default=5, ge=0, le=20)
    max_concurrency: int | None = Field(default=None, ge=1, le=20)
    purpose: str | None = Field(default=None, max_length=2000)
    goal: str | None = Field(default=None, max_length=2000)
    recurrence_type: Literal["none", "hourly", "daily", "weekly", "monthly"] = "none"
    recurrence_interval: int = Field(default=1, ge=1, le=1000)
    recurrence_end_date: str | None = None
    recurrence_max_runs: int | None = Field(default=None, ge=1, le=100_000)

    @model_validator(mode="after")
    def _schedule(self) -> Self:
        if not self.send_now and self.status != "draft" and not self.scheduled_at:
            raise ValueError("scheduled_at is required when send_now is false")
        if (self.recipients is None) == (self.recipients_csv is None):
            raise ValueError(
                "give the recipients either as recipients (a list) or as recipients_csv (CSV text)"
            )
        return self


class CreateBatchRequest(BatchSpec):
    """Create a batch: send now (default), schedule (``send_now: false`` + ``scheduled_at``),
    save a draft (``status: "draft"``) or start a recurring series (``recurrence_type``)."""

    action: Literal["create"]


class UploadBatchRequest(BatchSpec):
    """Ours, ``POST /batch-calls/uploads``: a batch whose recipient list is a CSV file too big
    for a request. The answer holds a presigned S3 URL to PUT the file to; the batch stays a
    draft while the file is imported, then starts (or is scheduled) as ``create`` would —
    unless ``status: "draft"``."""

    @model_validator(mode="after")
    def _schedule(self) -> Self:
        if not self.send_now and self.status != "draft" and not self.scheduled_at:
            raise ValueError("scheduled_at is required when send_now is false")
        if self.recipients is not None or self.recipients_csv is not None:
            raise ValueError(
                "an upload's recipients come in the uploaded file: leave out recipients and recipients_csv"
            )
        if self.dry_run:
            raise ValueError("dry_run is for create and preview; an upload reports when its import ends")
        if self.recurrence_type != "none":
            raise ValueError(
                "a recurring series takes its recipients in create (recipients or recipients_csv)"
            )
        return self


class UploadTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="PUT the CSV file here (with the headers below) before expires_at")
    method: Literal["PUT"]
    headers: dict[str, str]
    expires_at: str
    max_bytes: int


class UploadResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch: BatchOut
    upload: UploadTarget


class ExportResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(description="the CSV file (also the Location of the 303 answer)")
    expires_at: str
    rows: int


class PreviewBatchRequest(BatchSpec):
    """Ours: what create would make of this request, creating nothing — valid count, every
    invalid row (row, column, reason), duplicates, cost estimate and ETA."""

    action: Literal["preview"]


class BatchIdRequest(_Request):
    batch_id: str = Field(min_length=1, max_length=100)


class GetBatchRequest(BatchIdRequest):
    """The batch with its recipients, per-status ``counts`` and (series parents) the last 20 runs."""

    action: Literal["get"]


class CancelBatchRequest(BatchIdRequest):
    """Pending recipients are skipped; calls already connected finish and report."""

    action: Literal["cancel"]


class PauseBatchRequest(BatchIdRequest):
    """Ours: no new dial starts until ``resume``; calls in progress finish."""

    action: Literal["pause"]


class ResumeBatchRequest(BatchIdRequest):
    """Ours: a paused batch dials its pending recipients again."""

    action: Literal["resume"]


class PauseSeriesRequest(BatchIdRequest):
    """A recurring parent: no new runs spawn; a run in progress continues."""

    action: Literal["pause_series"]


class ResumeSeriesRequest(BatchIdRequest):
    """A paused recurring parent: runs spawn again at the next occurrence."""

    action: Literal["resume_series"]


_FINAL_STATUSES = Literal["completed", "failed", "busy", "no_answer", "skipped"]


class StartBatchRequest(BatchIdRequest):
    """Start a draft, start a scheduled batch now, continue a running or paused one, or re-run
    a completed/cancelled/failed one (every recipient back to pending, counters to 0)."""

    action: Literal["start"]
    # Ours: re-run (or retry, on a running batch) only recipients with these final outcomes…
    only_statuses: list[_FINAL_STATUSES] | None = Field(default=None, min_length=1)
    # …or only these recipients (ids from `get`).
    recipient_ids: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, min_length=1, max_length=10_000
    )


class UpdateBatchRequest(BatchIdRequest):
    """Change a draft (only drafts can be edited)."""

    action: Literal["update"]
    name: str | None = Field(default=None, min_length=1, max_length=200)
    caller_id: str | None = Field(default=None, min_length=1, max_length=40)
    # One of the account's agents; null (or a new caller_id without it): the caller ID's agent.
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
    # A recurring parent's rule (the next runs follow it; a run in progress keeps its own).
    recurrence_interval: int | None = Field(default=None, ge=1, le=1000)
    recurrence_end_date: str | None = None
    recurrence_max_runs: int | None = Field(default=None, ge=1, le=100_000)
    window_timezone: Literal["batch", "recipient"] | None = None
    # An explicit null removes the batch's retry policy.
    retry_policy: RetryPolicy | None = None


class ListRunsRequest(_Request):
    """The runs of a recurring series, newest occurrence first."""

    action: Literal["list_runs"]
    parent_batch_id: str = Field(min_length=1, max_length=100)
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)


class ListBatchesRequest(_Request):
    """The account's batches, newest first (runs of a series are listed under their parent)."""

    action: Literal["list"]
    status: (
        Literal["draft", "scheduled", "running", "paused", "completed", "cancelled", "failed", "recurring"]
        | None
    ) = None
    limit: int = Field(default=50, ge=1, le=200)
    offset: int = Field(default=0, ge=0, le=100_000)
    cursor: str | None = Field(default=None, max_length=2000)  # ours: from next_cursor


_BatchStatusName = Literal[
    "draft", "scheduled", "running", "paused", "completed", "cancelled", "failed", "recurring"
]
_RecipientStatusName = Literal[
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


class RecipientsPageRequest(BaseModel):
    """Query of ``GET /batch-calls/{id}/recipients``."""

    model_config = ConfigDict(extra="forbid")

    status: _RecipientStatusName | None = None
    cursor: str | None = Field(default=None, max_length=200)
    updated_since: str | None = Field(default=None, max_length=40)
    limit: int = Field(default=100, ge=1, le=1000)


ActionRequest = Annotated[
    CreateBatchRequest
    | PreviewBatchRequest
    | GetBatchRequest
    | ListBatchesRequest
    | ListRunsRequest
    | UpdateBatchRequest
    | StartBatchRequest
    | CancelBatchRequest
    | PauseBatchRequest
    | ResumeBatchRequest
    | PauseSeriesRequest
    | ResumeSeriesRequest,
    Field(discriminator="action"),
]


# -- responses -------------------------------------------------------------------------------
# Documented in the OpenAPI; the ``*_out`` functions below build exactly these shapes.


class BatchOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    user_id: str
    name: str
    caller_id: str
    agent_id: str | None
    status: _BatchStatusName
    paused_reason: str | None = Field(description="manual, outside_window or insufficient_credits")
    failure_reason: str | None
    send_now: bool
    scheduled_at: str | None
    window_start_time: str
    window_end_time: str
    window_days: list[int]
    timezone: str
    window_timezone: Literal["batch", "recipient"]
    retry_policy: RetryPolicy | None
    reserved_concurrency: int
    max_concurrency: int | None
    purpose: str | None
    goal: str | None
    total_recipients: int
    completed_count: int
    failed_count: int = Field(description="failed + busy + no_answer")
    skipped_count: int
    duplicates_dropped: int
    suppressed_dropped: int
    import_status: Literal["waiting_for_upload", "importing", "completed", "failed"] | None = Field(
        description="batches created by POST /batch-calls/uploads: where the file's import is"
    )
    import_rows_read: int = Field(description="rows of the uploaded file read so far")
    created_at: str
    updated_at: str
    started_at: str | None
    completed_at: str | None
    cancelled_at: str | None
    parent_batch_id: str | None
    occurrence_number: int | None
    recurrence_type: str
    recurrence_interval: int
    recurrence_end_date: str | None
    recurrence_max_runs: int | None
    recurrence_run_count: int
    run_number: int
    due_at: str | None = Field(description="when the scheduler acts on it next (e.g. its window opens)")
    counts: dict[str, int] | None = Field(default=None, description="recipients per status (get only)")


class RecipientOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    batch_id: str
    phone_number: str
    name: str | None
    status: _RecipientStatusName
    status_label: str
    sort_order: int
    attempts: int
    call_id: str | None
    attempted_at: str | None
    answered_at: str | None
    completed_at: str | None
    duration_seconds: int | None
    answered_by: str | None
    error_message: str | None
    updated_at: str | None
    cost_micros: int = Field(description="dial fees and call minutes of every attempt, in micro-dollars")
    timezone: str | None
    variables: dict[str, str]
    next_attempt_at: str | None = Field(
        description="a pending recipient waits until then (its window, a redial)"
    )
    attempt_history: list[dict[str, Any]] = Field(
        description="every ended attempt: outcome, times, duration, cost"
    )


class CostEstimateOut(BaseModel):
    # from_attributes: made from the domain's CostEstimate as it is.
    model_config = ConfigDict(extra="forbid", from_attributes=True)
    recipients: int
    dial_fee_micros: int
    estimated_cost_micros: int = Field(description="recipients × dial fee (call minutes come on top)")
    balance_micros: int
    balance_after_micros: int
    sufficient: bool


class BatchResponse(BaseModel):
    """create, update"""

    model_config = ConfigDict(extra="forbid")
    batch: BatchOut
    first_run: BatchOut | None = Field(
        default=None, description="create of a recurring series: its first run"
    )
    estimate: CostEstimateOut | None = Field(default=None, description="create only")
    suppressed: list[str] | None = Field(
        default=None, description="create only: numbers left out because they are on the do-not-call list"
    )
    import_report: ImportSummary | None = Field(
        default=None, description="batches from an uploaded file: the import's report (when it ended)"
    )


class CallerIdOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_number: str
    active: bool
    agent_id: str | None


class AgentOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(description="what agent_id names in create and update")
    name: str
    description: str | None
    created_at: str | None


class AccountOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    name: str
    timezone: str
    balance_micros: int
    balance: str = Field(description="the balance in dollars, exact")
    dial_fee_micros: int
    per_minute_rate_micros: int
    max_concurrency: int
    calls_per_second: float
    resume_after_top_up: bool
    low_balance_threshold_micros: int = Field(
        description="a credits.low event when the balance falls under it (0: never)"
    )
    recipient_events: bool = Field(
        description="every recipient status change is an event (else only for endpoints asking)"
    )
    caller_ids: list[CallerIdOut]
    agents: list[AgentOut] = Field(description="the account's voice agents (agent_id must name one)")


class SuppressionAddRequest(BaseModel):
    """Numbers for the account's do-not-call list: a JSON list, CSV text (the recipient
    template's phone columns), or both."""

    model_config = ConfigDict(extra="forbid")
    numbers: list[Annotated[str, Field(min_length=1, max_length=40)]] | None = Field(
        default=None, max_length=10_000
    )
    csv: str | None = Field(default=None, max_length=5_000_000)
    reason: str | None = Field(default=None, max_length=200)
    default_country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    skip_invalid: bool = False

    @model_validator(mode="after")
    def _some_numbers(self) -> SuppressionAddRequest:
        if not self.numbers and self.csv is None:
            raise ValueError("give numbers (a list) or csv (text)")
        return self


class SuppressedNumberOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_number: str
    added_at: str
    reason: str | None = None


class SuppressionPage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    numbers: list[SuppressedNumberOut]
    next_cursor: str | None


class SuppressionAdded(BaseModel):
    model_config = ConfigDict(extra="forbid")
    added: int
    invalid: list[dict[str, str]]
    invalid_count: int


class SuppressionCheck(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone_number: str = Field(description="the number as E.164")
    suppressed: Literal[True]


class SuppressionRemoved(BaseModel):
    model_config = ConfigDict(extra="forbid")
    removed: str = Field(description="the number taken off the list, as E.164")


class AccountResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account: AccountOut


class LedgerEntryOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: str
    ref: str
    kind: Literal["dial_fee", "call_minutes", "refund", "top_up", "adjustment"]
    amount_micros: int = Field(description="signed: charges are negative")
    batch_id: str | None
    recipient_id: str | None = Field(description="the recipient's key in the batch (R#0000001 is the first)")
    call_id: str | None
    note: str | None


class LedgerPage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    entries: list[LedgerEntryOut]
    next_cursor: str | None


class GetBatchResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batch: BatchOut
    recipients: list[RecipientOut]
    runs: list[BatchOut] | None
    recipients_next_cursor: str | None = Field(
        default=None,
        description="more than 1,000 recipients: the rest at GET /batch-calls/{id}/recipients?cursor=…",
    )
    import_report: ImportSummary | None = Field(
        default=None, description="batches from an uploaded file: the import's report (when it ended)"
    )


class ListBatchesResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    batches: list[BatchOut]
    next_cursor: str | None


class ListRunsResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")
    runs: list[BatchOut]


class PreviewOut(RecipientReport):
    model_config = ConfigDict(extra="forbid")
    estimate: CostEstimateOut
    eta_seconds: int = Field(description="at the batch's concurrency and the account's pacing, 60 s a call")
    would_create: bool


class PreviewResponse(BaseModel):
    """preview, and create with dry_run"""

    model_config = ConfigDict(extra="forbid")
    preview: PreviewOut


class ActionResult(BaseModel):
    """start, cancel, pause, resume"""

    model_config = ConfigDict(extra="forbid")
    success: bool
    message: str
    skipped: int | None = Field(default=None, description="cancel: pending recipients skipped so far")
    skipping_in_background: bool | None = Field(
        default=None, description="cancel of a big list: the scheduler skips the rest within minutes"
    )
    cancelled_children: int | None = Field(default=None, description="cancel of a recurring parent")


class RecipientsPage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    recipients: list[RecipientOut]
    next_cursor: str | None
    server_time: str


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorOut(BaseModel):
    error: str
    details: list[ErrorDetail] | None = None


ActionResponse = (
    PreviewResponse | BatchResponse | GetBatchResponse | ListBatchesResponse | ListRunsResponse | ActionResult
)

_BATCH_FIELDS = [name for name in BatchOut.model_fields if name not in ("counts", "user_id")]


def batch_out(batch: Batch, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out = {name: getattr(batch, name) for name in _BATCH_FIELDS}
    out["user_id"] = batch.account_id  # Magpipe's name for the owner
    out["status"] = batch.status.value
    out["retry_policy"] = batch.retry_policy.model_dump() if batch.retry_policy else None
    if counts is not None:
        out["counts"] = counts
    return out


def recipient_out(recipient: Recipient) -> dict[str, Any]:
    out = {name: getattr(recipient, name) for name in RecipientOut.model_fields if name != "status_label"}
    out["status"] = recipient.status.value
    out["status_label"] = UI_LABELS[recipient.status]
    return out


def upload_target(upload: NewUpload) -> UploadTarget:
    return UploadTarget(
        url=upload.url,
        method="PUT",
        headers={"Content-Type": upload.content_type},
        expires_at=upload.expires_at,
        max_bytes=upload.max_bytes,
    )


def account_out(view: AccountView) -> AccountOut:
    account = view.account
    return AccountOut(
        id=account.id,
        name=account.name,
        timezone=view.timezone,
        balance_micros=view.balance_micros,
        balance=dollars(view.balance_micros),
        dial_fee_micros=view.dial_fee_micros,
        per_minute_rate_micros=account.per_minute_rate_micros,
        max_concurrency=account.max_concurrency,
        calls_per_second=account.calls_per_second,
        resume_after_top_up=account.resume_after_top_up,
        low_balance_threshold_micros=account.low_balance_threshold_micros,
        recipient_events=account.recipient_events,
        caller_ids=[CallerIdOut(**number.model_dump()) for number in view.caller_ids],
        agents=[AgentOut(**agent.model_dump()) for agent in view.agents],
    )


def ledger_entry_out(entry: LedgerEntry) -> LedgerEntryOut:
    return LedgerEntryOut(
        at=entry.at,
        ref=entry.ref,
        kind=entry.kind,
        amount_micros=entry.amount_micros,
        batch_id=entry.batch_id,
        recipient_id=entry.recipient_key,
        call_id=entry.call_id,
        note=entry.note,
    )


def ledger_page_out(page: Page[LedgerEntry]) -> LedgerPage:
    return LedgerPage(entries=[ledger_entry_out(e) for e in page.items], next_cursor=page.next_cursor)
