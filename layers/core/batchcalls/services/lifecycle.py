"""Use cases that move a batch through its lifecycle: start (and re-run), cancel, pause,
resume, update. Every one asks the transition table (``domain/lifecycle.py``) first and
then writes conditionally on the status it saw, so two racing actions cannot both win."""

from __future__ import annotations

from typing import Any

from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.errors import Conflict, InvalidRequest
from batchcalls.domain.lifecycle import BatchAction, BatchStatus, is_rerun, next_status
from batchcalls.domain.recipient_status import FAILED_OUTCOMES, TERMINAL, RecipientStatus
from batchcalls.models.api import ActionResult, StartBatchRequest, UpdateBatchRequest
from batchcalls.models.domain import Batch
from batchcalls.models.messages import RunPass
from batchcalls.services import series
from batchcalls.services.batches import checked_against_account, future_iso, get_owned_batch, schedule_moment
from batchcalls.services.bulk import reset_finals, reset_ids, skip_pending_or_hand_over
from batchcalls.services.context import Context
from batchcalls.services.runs import continue_run

CANCEL_SKIP_BUDGET_SECONDS = 10  # inside API Gateway's 29 s, with room for the rest
RERUN_RESET_BUDGET_SECONDS = 10

A = BatchAction
B = BatchStatus


def _changed_meanwhile(batch: Batch) -> Conflict:
    return Conflict(f"Batch changed while this request ran (it was {batch.status.value}); please retry")


def begin_run(
    ctx: Context,
    batch: Batch,
    *,
    statuses: list[RecipientStatus] | None = None,
    recipient_ids: set[str] | None = None,
) -> Batch:
    """Start a new run of ``batch`` (first start, scheduled start or re-run) and its first pass.

    On a re-run, final recipients (only those with ``statuses``, or named by
    ``recipient_ids``, when given) go back to pending and the counters are recounted.
    """
    now_iso = ctx.now_iso()
    started = ctx.batches.begin_run(batch, now_iso)
    if started is None:
        raise _changed_meanwhile(batch)
    if batch.run_number > 0:
        reset_statuses = statuses or [s for s in RecipientStatus if s in TERMINAL]
        if recipient_ids is not None:
            reset_ids(ctx, started, recipient_ids, reset_statuses, run=started.run_number)
        elif not reset_finals(ctx, started, reset_statuses, RERUN_RESET_BUDGET_SECONDS):
            # A big list: the scheduler resets the rest; the run does not end before that.
            started = (
                ctx.batches.keep_resetting(
                    batch.id, started.run_number, [s.value for s in reset_statuses], now_iso
                )
                or started
            )
        recount(ctx, batch.id)
    continue_run(ctx, started)
    return started


def finish_resets(ctx: Context, batch: Batch, budget_seconds: float) -> Batch:
    """Go on resetting a re-run's recipients (``resetting_statuses``); the batch as it is then."""
    if not batch.resetting_statuses:
        return batch
    statuses = [RecipientStatus(s) for s in batch.resetting_statuses]
    if not reset_finals(ctx, batch, statuses, budget_seconds):
        return batch
    done = ctx.batches.end_resetting(batch)
    recount(ctx, batch.id)
    return done or batch


def recount(ctx: Context, batch_id: str) -> dict[str, int]:
    counts = ctx.recipients.status_counts(batch_id)
    counters = {
        "completed_count": counts[RecipientStatus.COMPLETED.value],
        "failed_count": sum(counts[s.value] for s in FAILED_OUTCOMES),
        "skipped_count": counts[RecipientStatus.SKIPPED.value],
    }
    ctx.batches.set_counters(batch_id, counters, ctx.now_iso())
    return counters


def _require_active_caller(ctx: Context, batch: Batch) -> None:
    number = ctx.accounts.get_caller_number(batch.account_id, batch.caller_id)
    if number is None or not number.active:
        raise Conflict(f"The caller ID {batch.caller_id} is not an active number of this account")


def start_draft(ctx: Context, batch: Batch) -> str:
    """A draft starts now, or is scheduled when it has a future ``scheduled_at`` and is not
    sent now; what happened, in a sentence."""
    if not batch.send_now and batch.scheduled_at and parse_iso(batch.scheduled_at) > ctx.clock():
        scheduled = ctx.batches.schedule_draft(
            batch.id, next_status(batch.status, A.SCHEDULE), batch.scheduled_at, ctx.now_iso()
        )
        if scheduled is None:
            raise _changed_meanwhile(batch)
        return f"Batch scheduled for {batch.scheduled_at}"
    begin_run(ctx, batch)
    return "Batch started"


def start(ctx: Context, account_id: str, request: StartBatchRequest) -> ActionResult:
    batch = get_owned_batch(ctx, account_id, request.batch_id)
    next_status(batch.status, A.START)  # 409 for a status start does not apply to
    _require_active_caller(ctx, batch)
    ids = set(request.recipient_ids) if request.recipient_ids else None
    statuses = [RecipientStatus(s) for s in request.only_statuses] if request.only_statuses else None

    if is_rerun(batch.status, A.START):
        begin_run(ctx, batch, statuses=statuses, recipient_ids=ids)
        return _done("Batch re-started")
    if batch.status is B.DRAFT:
        if batch.import_status not in (None, "completed"):
            raise Conflict(
                f"Cannot start a batch whose recipient file is not imported (import_status: {batch.import_status})"
            )
        return _done(start_draft(ctx, batch))
    if batch.status is B.SCHEDULED:
        begin_run(ctx, batch)
        return _done("Batch started")
    if batch.status is B.PAUSED:
        return resume(ctx, account_id, batch.id, via_start=True)
    # running: make sure pending recipients (e.g. ones reset for a retry) get dialed
    if ids:
        _retry_recipients(ctx, batch, ids)
    continue_run(ctx, batch)
    return _done("Batch started")


def _done(message: str) -> ActionResult:
    return ActionResult(success=True, message=message)


def _retry_recipients(ctx: Context, batch: Batch, ids: set[str]) -> int:
    final = [s for s in RecipientStatus if s in TERMINAL]
    reset = reset_ids(ctx, batch, ids, final, run=None)  # a retry within the current run
    if reset:
        recount(ctx, batch.id)
    return reset


def cancel(ctx: Context, account_id: str, batch_id: str) -> ActionResult:
    batch = get_owned_batch(ctx, account_id, batch_id)
    if series.is_series_parent(batch):
        return series.cancel_series(ctx, account_id, batch, cancel_run=cancel)
    target = next_status(batch.status, A.CANCEL)
    now_iso = ctx.now_iso()
    cancelled = ctx.batches.cancel(batch, target, now_iso)
    if cancelled is None:
        raise _changed_meanwhile(batch)
    series.run_ended(ctx, cancelled)
    if batch.pass_number > 0:
        # No new Map child starts; children already waiting are answered by their calls or
        # time out. Dial messages still queued find the batch cancelled and skip.
        run_pass = RunPass(batch_id=batch.id, run=batch.run_number, pass_number=batch.pass_number)
        ctx.executions.stop_pass(run_pass, cause="Batch cancelled")
    # A big list: the scheduler skips the rest, a tick at a time.
    skipped, finished = skip_pending_or_hand_over(ctx, batch.id, CANCEL_SKIP_BUDGET_SECONDS)
    return ActionResult(
        success=True, message="Batch cancelled", skipped=skipped, skipping_in_background=not finished
    )


def pause(ctx: Context, account_id: str, batch_id: str, reason: str = "manual") -> ActionResult:
    batch = get_owned_batch(ctx, account_id, batch_id)
    target = next_status(batch.status, A.PAUSE)
    paused = ctx.batches.pause(batch, target, reason, ctx.now_iso())
    if paused is None:
        raise _changed_meanwhile(batch)
    return _done("Batch paused")


def resume(ctx: Context, account_id: str, batch_id: str, *, via_start: bool = False) -> ActionResult:
    batch = get_owned_batch(ctx, account_id, batch_id)
    target = next_status(batch.status, A.START if via_start else A.RESUME)
    _require_active_caller(ctx, batch)
    resumed = ctx.batches.resume(batch, target, ctx.now_iso())
    if resumed is None:
        raise _changed_meanwhile(batch)
    continue_run(ctx, resumed)
    return _done("Batch resumed")


_UPDATABLE = [
    "recurrence_interval",
    "recurrence_max_runs",
    "name",
    "agent_id",
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
    "window_timezone",
    "retry_policy",
]


def update(ctx: Context, account_id: str, request: UpdateBatchRequest) -> Batch:
    batch = get_owned_batch(ctx, account_id, request.batch_id)
    # Only drafts, and the template of a recurring series (recurring or paused).
    next_status(batch.status, A.UPDATE, is_series_parent=series.is_series_parent(batch))
    given = request.model_dump(exclude_unset=True)
    fields, removed = _given_fields(given)
    fields.update(_account_fields(ctx, account_id, batch, given))
    if fields.get("scheduled_at"):
        fields["scheduled_at"] = future_iso(ctx, "scheduled_at", fields["scheduled_at"])
    if given.get("recurrence_end_date"):
        fields["recurrence_end_date"] = iso(
            schedule_moment("recurrence_end_date", given["recurrence_end_date"])
        )
    changed = [*fields, *removed]
    if any(name.startswith("recurrence_") for name in changed) and not series.is_series_parent(batch):
        message = "can only be changed on a recurring series"
        raise InvalidRequest(f"recurrence {message}", [{"field": "recurrence_type", "message": message}])
    fields["updated_at"] = ctx.now_iso()
    updated = ctx.batches.edit(batch, fields, removed)
    if updated is None:
        raise _changed_meanwhile(batch)
    return updated


def _given_fields(given: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The updatable fields given, and those given as null: an optional one (retry_policy: no
    redials; purpose…) is removed, a required one (name…) is refused as create refuses it."""
    fields: dict[str, Any] = {}
    removed: list[str] = []
    for name, value in given.items():
        if name in ("action", "batch_id", "agent_id"):  # the agent: _account_fields
            continue
        if value is None:
            field = Batch.model_fields.get(name)
            if field is None or field.is_required() or field.default is not None:
                message = "must not be null"
                raise InvalidRequest(f"{name} {message}", [{"field": name, "message": message}])
            removed.append(name)
        elif name in _UPDATABLE:
            fields[name] = value
    return fields, removed


def _account_fields(ctx: Context, account_id: str, batch: Batch, given: dict[str, Any]) -> dict[str, str]:
    """The caller ID, agent and reserve given, checked against the account exactly as create
    checks them. No agent named (or null) with a new caller ID: that caller ID's agent."""
    _, number = checked_against_account(
        ctx,
        account_id,
        caller_id=given.get("caller_id"),
        agent_id=given.get("agent_id"),
        reserved_concurrency=given.get("reserved_concurrency"),
    )
    fields: dict[str, str] = {}
    if number is not None:
        fields["caller_id"] = number.phone_number
    if given.get("agent_id"):
        fields["agent_id"] = given["agent_id"]
    elif number is not None or "agent_id" in given:
        caller = number or ctx.accounts.get_caller_number(account_id, batch.caller_id)
        if caller is not None and caller.agent_id:
            fields["agent_id"] = caller.agent_id
    return fields
