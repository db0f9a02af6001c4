"""The scheduler's tick (EventBridge, every minute): act on every batch that is due, then
sweep calls stuck without a final status (``services/sweep``).

Only the sparse ``due`` index is read — never a table scan. Each action is a conditional
write first, so two ticks running at once start nothing twice.
"""

from __future__ import annotations

import logging
import time

from batchcalls.domain.errors import Conflict
from batchcalls.domain.lifecycle import BatchStatus, PausedReason
from batchcalls.models.domain import Batch
from batchcalls.services import series
from batchcalls.services.bulk import skip_pending
from batchcalls.services.context import Context
from batchcalls.services.lifecycle import begin_run, finish_resets
from batchcalls.services.runs import continue_run
from batchcalls.services.sweep import sweep

logger = logging.getLogger(__name__)

# Bulk work (skipping a cancelled big list, resetting a re-run's) per tick, over all batches:
# the scheduler has 60 s, and the stuck-call sweep runs after it.
TICK_SKIP_BUDGET_SECONDS = 20


def tick(ctx: Context) -> dict[str, int]:
    acted = 0
    bulk = BulkBudget(TICK_SKIP_BUDGET_SECONDS)
    for batch_id in ctx.batches.due_batch_ids(ctx.now_iso()):
        batch = ctx.batches.get(batch_id)
        if batch is None or not batch.due_at:
            continue
        try:
            acted += 1 if handle_due(ctx, batch, bulk) else 0
        except Exception:
            logger.exception("tick failed for batch %s", batch_id)
    return {"acted": acted, **sweep(ctx)}


class BulkBudget:
    """What is left of the tick's time for bulk work, shared by every due batch."""

    def __init__(self, seconds: float) -> None:
        self._deadline = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self._deadline - time.monotonic())


def handle_due(ctx: Context, batch: Batch, bulk: BulkBudget | None = None) -> bool:
    bulk = bulk or BulkBudget(TICK_SKIP_BUDGET_SECONDS)
    if batch.status is BatchStatus.SCHEDULED:
        try:
            begin_run(ctx, batch)
        except Conflict:
            return False  # another tick (or a user's start or cancel) got there first
        return True
    if batch.status is BatchStatus.RECURRING:
        # A series parent: spawn its next run when the last one has ended and it is time.
        series.spawn_next(ctx, batch)
        return True
    if batch.status is BatchStatus.RUNNING:
        # A re-run of a big list first resets more of its recipients. A pass still running
        # keeps the batch due: the next tick looks again.
        batch = finish_resets(ctx, batch, bulk.left())
        return continue_run(ctx, batch)
    if batch.status is BatchStatus.CANCELLED:
        # A big cancelled list: skip more of its pending recipients; done → leave the index.
        _, finished = skip_pending(ctx, batch.id, bulk.left())
        if finished:
            ctx.batches.leave_due_index(batch)
        return True
    if batch.status is BatchStatus.PAUSED and batch.paused_reason == PausedReason.OUTSIDE_WINDOW:
        # Its window opens now: running again, and the next pass dials.
        resumed = ctx.batches.resume_window_open(batch, ctx.now_iso())
        return resumed is not None and continue_run(ctx, resumed)
    # Nothing to do for this status any more: leave the due index.
    ctx.batches.leave_due_index(batch)
    return False
