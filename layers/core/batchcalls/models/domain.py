"""Domain entities: what a batch and a recipient *are*, independent of API and storage."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from batchcalls.domain.imports import ImportStatus
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.domain.retry import RetryPolicy
from batchcalls.domain.window import CallWindow


class Account(BaseModel):
    id: str
    name: str = ""
    timezone: str | None = None
    max_concurrency: int = 20
    per_minute_rate_micros: int = 0
    calls_per_second: float = 1.0  # pacing: call starts per second across all batches
    resume_after_top_up: bool = False  # insufficient_credits batches resume when credits arrive
    low_balance_threshold_micros: int = 1_000_000  # credits.low when the balance falls under it; 0 = never
    # recipient.status_changed events (several per call) also without an endpoint asking for them.
    recipient_events: bool = False


class LedgerEntry(BaseModel):
    """One change of an account's balance; written in the same transaction as the change."""

    account_id: str
    at: str
    ref: str  # what caused it: "dial:{batch}:{rk}:{ticket}", "call:{call id}", "refund:dial:…", "top_up:{id}"
    kind: str  # dial_fee | call_minutes | refund | top_up | adjustment
    amount_micros: int  # signed: charges are negative
    batch_id: str | None = None
    recipient_key: str | None = None  # the recipient's sort key in its batch (R#…)
    call_id: str | None = None
    note: str | None = None


class DialClaim(BaseModel):
    """One delivery's claim of a recipient for a call (``RecipientStore.claim``): pending →
    calling for this pass, only while the batch runs this run and the number is not on the
    account's do-not-call list."""

    batch_id: str
    run: int
    sk: str  # the recipient's sort key
    ticket: str  # "{run}:{pass}": names the attempt in every later write and callback
    task_token: str  # the Map child's token, answered when the attempt ends
    account_id: str  # whose concurrency slot the call holds, whose do-not-call list applies
    phone_number: str  # the number to dial (E.164)
    slot_holder: str
    attempted_at: str  # the start the pacer gave this attempt
    stuck_after: str  # when the stuck-call sweep looks at the call if no final status came


class ClaimOutcome(StrEnum):
    CLAIMED = "claimed"
    NOT_PENDING = "not_pending"  # another delivery dealt with it (or it is final)
    BATCH_NOT_RUNNING = "batch_not_running"  # cancelled, paused or re-run since it was read
    INSUFFICIENT_CREDITS = "insufficient_credits"  # the balance does not cover the dial fee
    SUPPRESSED = "suppressed"  # the number is on the account's do-not-call list


class CallerNumber(BaseModel):
    phone_number: str
    active: bool = True
    agent_id: str | None = None


class Agent(BaseModel):
    """One of an account's voice agents: what answers its calls. Caller IDs and batches name
    one by ``id``; an agent of another account is unknown here."""

    id: str
    name: str = ""
    description: str | None = None
    created_at: str | None = None


class Batch(BaseModel):
    id: str
    account_id: str  # the owner; "user_id" on the wire and in the item (Magpipe's name)
    name: str
    caller_id: str
    agent_id: str | None = None
    status: BatchStatus
    paused_reason: str | None = None
    failure_reason: str | None = None
    send_now: bool = True
    scheduled_at: str | None = None
    window_start_time: str = "00:00"
    window_end_time: str = "23:59"
    window_days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])
    timezone: str = "UTC"
    # "batch": the window is read in ``timezone``; "recipient": in each recipient's own zone(s).
    window_timezone: str = "batch"
    retry_policy: RetryPolicy | None = None
    reserved_concurrency: int = 5
    max_concurrency: int | None = None  # the client's upper bound on this batch's slots
    purpose: str | None = None
    goal: str | None = None
    total_recipients: int = 0
    completed_count: int = 0
    failed_count: int = 0
    skipped_count: int = 0
    duplicates_dropped: int = 0
    suppressed_dropped: int = 0  # numbers on the do-not-call list, left out at create
    # A batch whose recipients come as an uploaded file (POST /batch-calls/uploads): it stays a
    # draft while import_status is waiting_for_upload or importing; then it starts (or is
    # scheduled) if start_after_import, else stays a draft.
    import_status: ImportStatus | None = None
    import_rows_read: int = 0
    import_started_at: str | None = None  # names the import (a takeover starts another)
    import_heartbeat_at: str | None = None  # the import's last progress
    start_after_import: bool = False
    import_options: dict[str, Any] | None = None  # default_country, skip_invalid
    created_at: str
    updated_at: str
    started_at: str | None = None
    last_final_at: str | None = None  # the latest final status of one of its recipients
    completed_at: str | None = None
    cancelled_at: str | None = None
    parent_batch_id: str | None = None
    occurrence_number: int | None = None
    recurrence_type: str = "none"
    recurrence_interval: int = 1
    recurrence_end_date: str | None = None
    recurrence_max_runs: int | None = None
    recurrence_run_count: int = 0
    # A series parent: occurrences are counted from this moment (no drift); the last spawned
    # occurrence's index (-1 before the first run).
    recurrence_anchor_at: str | None = None
    recurrence_last_index: int = -1
    run_number: int = 0  # 1 for the first start, +1 per re-run
    # A re-run of a big list whose final recipients the scheduler is still putting back to
    # pending (these statuses); the run cannot complete until it is done.
    resetting_statuses: list[str] | None = None
    pass_number: int = 0  # passes of the state machine within the current run
    # When the scheduler must look at this batch next (sparse "due" index); None = never.
    due_at: str | None = None

    @property
    def window(self) -> CallWindow:
        return CallWindow(start=self.window_start_time, end=self.window_end_time, days=self.window_days)


class Recipient(BaseModel):
    batch_id: str
    seq: int  # position in the batch; the sort key is R#{seq:07d}
    id: str
    phone_number: str
    name: str | None = None
    sort_order: int
    status: RecipientStatus = RecipientStatus.PENDING
    attempts: int = 0
    ticket: str | None = None  # "{run}:{pass}" of the last pass that dealt with it
    account_id: str | None = None  # set by the claim: whose concurrency slot the call holds
    slot_holder: str | None = None  # …and which holder of that semaphore
    call_id: str | None = None
    task_token: str | None = None
    attempted_at: str | None = None
    answered_at: str | None = None
    completed_at: str | None = None
    duration_seconds: int | None = None
    answered_by: str | None = None
    error_message: str | None = None
    updated_at: str | None = None
    cost_micros: int = 0  # dial fees and call minutes of every attempt
    variables: dict[str, str] = Field(default_factory=dict)
    timezone: str | None = None  # given with the recipient (else derived from the number)
    next_attempt_at: str | None = None  # a pending recipient waits until then (window, redial)
    attempt_history: list[dict[str, Any]] = Field(default_factory=list)  # one entry per ended attempt

    @property
    def sk(self) -> str:
        return recipient_sk(self.seq)


def recipient_sk(seq: int) -> str:
    return f"R#{seq:07d}"
