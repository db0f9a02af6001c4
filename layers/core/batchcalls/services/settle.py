"""Settle: after a pass's Map, decide what the batch is now.

Every recipient final → ``completed`` (counters recounted from the recipients, so they are
exact). Recipients still pending (deferred in this pass) → the next pass is made due for the
scheduler. A cancelled batch has its remaining pending recipients skipped.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Protocol

from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus, PausedReason
from batchcalls.domain.recipient_status import FAILED_OUTCOMES, IN_CALL, RecipientStatus
from batchcalls.models.messages import RunPass
from batchcalls.models.results import SettleResult
from batchcalls.observability import log_keys
from batchcalls.services import series
from batchcalls.services.bulk import skip_pending_or_hand_over
from batchcalls.services.context import Context
from batchcalls.services.runs import pause_outside_window

SETTLE_SKIP_BUDGET_SECONDS = 20  # of the settle Lambda's 300 s; the scheduler does the rest


def settle_pass(ctx: Context, run_pass: RunPass) -> SettleResult:
    log_keys(batch_id=run_pass.batch_id, run=run_pass.run, pass_number=run_pass.pass_number)
    batch = ctx.batches.get(run_pass.batch_id)
    if batch is None or batch.run_number != run_pass.run:
        return SettleResult(status="stale")
    now_iso = ctx.now_iso()
    if batch.status is BatchStatus.CANCELLED:
        skip_pending_or_hand_over(ctx, batch.id, SETTLE_SKIP_BUDGET_SECONDS)

    # One streaming pass over statuses (not whole items): a million recipients stay cheap.
    counts = {status.value: 0 for status in RecipientStatus}
    next_pass = NextPass(ctx)
    for state in ctx.recipients.states(batch.id):
        counts[state.status.value] += 1
        next_pass.add(state)
    pending = counts[RecipientStatus.PENDING.value]
    in_call = sum(counts[s.value] for s in IN_CALL)
    if in_call == 0:
        # No call can finish concurrently now, so the recount cannot lose an increment.
        ctx.batches.set_counters(
            batch.id,
            {
                "completed_count": counts[RecipientStatus.COMPLETED.value],
                "failed_count": sum(counts[s.value] for s in FAILED_OUTCOMES),
                "skipped_count": counts[RecipientStatus.SKIPPED.value],
            },
            now_iso,
        )
    if batch.status not in (BatchStatus.RUNNING, BatchStatus.PAUSED):
        return SettleResult(status=batch.status.value, pending=pending)
    if batch.status is BatchStatus.PAUSED and pending:
        return SettleResult(status=batch.status.value, pending=pending)  # resume starts the next pass
    if pending == 0 and in_call == 0 and not batch.resetting_statuses:
        done = ctx.batches.complete_run(batch.id, run_pass.run, now_iso)
        if done is not None:
            series.run_ended(ctx, done)
        return SettleResult(status=(done.status if done else batch.status).value, pending=0)
    # Work remains. Outside the window the batch pauses until it opens; otherwise (deferred
    # recipients, or calls whose final status is still to come) the scheduler starts the
    # next pass when it is due.
    if batch.status is BatchStatus.RUNNING and pause_outside_window(ctx, batch):
        return SettleResult(
            status=BatchStatus.PAUSED.value, pending=pending, paused_reason=PausedReason.OUTSIDE_WINDOW.value
        )
    ctx.batches.next_pass_due(batch.id, run_pass.run, run_pass.pass_number, next_pass.at(), now_iso)
    return SettleResult(status=batch.status.value, pending=pending, in_call=in_call)


class _Waiting(Protocol):
    @property
    def status(self) -> RecipientStatus: ...

    @property
    def next_attempt_at(self) -> str | None: ...


class NextPass:
    """When the next pass should run: soon, or — when every pending recipient waits for a
    later time (its own window, its redial) — when the first of them is due, so no pass runs
    just to defer them all again. Fed one recipient at a time."""

    def __init__(self, ctx: Context) -> None:
        self.soon = iso(ctx.clock() + timedelta(seconds=ctx.settings.next_pass_delay_seconds))
        self._soon_needed = False
        self._first_wait: str | None = None

    def add(self, recipient: _Waiting) -> None:
        if recipient.status is not RecipientStatus.PENDING or self._soon_needed:
            return
        wait = recipient.next_attempt_at
        if not wait or wait <= self.soon:
            self._soon_needed = True
        elif self._first_wait is None or wait < self._first_wait:
            self._first_wait = wait

    def at(self) -> str:
        return self.soon if self._soon_needed or self._first_wait is None else self._first_wait
