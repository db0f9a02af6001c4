"""The scheduler's tick (EventBridge, every minute): act on every batch that is due.

Only the sparse ``due`` index is read — never a table scan. Each action is a conditional
write first, so two ticks running at once start nothing twice.
"""

from __future__ import annotations

import logging

from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.domain import Batch
from batchcalls.models.messages import RunPass
from batchcalls.services.context import Context
from batchcalls.services.runs import start_pass

logger = logging.getLogger(__name__)


def tick(ctx: Context) -> dict[str, int]:
    acted = 0
    for batch_id in ctx.batches.due_batch_ids(ctx.now_iso()):
        batch = ctx.batches.get(batch_id)
        if batch is None or not batch.due_at:
            continue
        try:
            acted += 1 if handle_due(ctx, batch) else 0
        except Exception:
            logger.exception("tick failed for batch %s", batch_id)
    return {"acted": acted}


def handle_due(ctx: Context, batch: Batch) -> bool:
    now_iso = ctx.now_iso()
    if batch.status is BatchStatus.SCHEDULED:
        started = ctx.batches.update_status(
            batch.id,
            from_statuses=[BatchStatus.SCHEDULED],
            to_status=BatchStatus.RUNNING,
            set_fields={
                "started_at": now_iso,
                "updated_at": now_iso,
                "run_number": batch.run_number + 1,
                "pass_number": 1,
            },
            remove_fields=["due_at"],
            expect={"run_number": batch.run_number},
        )
        if started:
            start_pass(ctx, RunPass(batch_id=batch.id, run=started.run_number, pass_number=1))
        return started is not None
    if batch.status is BatchStatus.RUNNING:
        moved = ctx.batches.update_status(
            batch.id,
            from_statuses=[BatchStatus.RUNNING],
            to_status=BatchStatus.RUNNING,
            set_fields={"pass_number": batch.pass_number + 1, "updated_at": now_iso},
            remove_fields=["due_at"],
            expect={"run_number": batch.run_number, "pass_number": batch.pass_number},
        )
        if moved:
            start_pass(ctx, RunPass(batch_id=batch.id, run=moved.run_number, pass_number=moved.pass_number))
        return moved is not None
    # Nothing to do for this status any more: leave the due index.
    ctx.batches.update_status(
        batch.id, from_statuses=[batch.status], to_status=batch.status, remove_fields=["due_at"]
    )
    return False
