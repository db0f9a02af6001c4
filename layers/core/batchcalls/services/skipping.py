"""Skipping the pending recipients of a cancelled batch, within a time budget.

A batch of a million recipients cannot be skipped inside one API request (API Gateway gives
29 s), so ``cancel`` skips what it can in its budget and leaves the batch due; the scheduler's
ticks skip the rest (and any recipient a dialer deferred while the cancel ran).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from batchcalls.services.context import Context

CANCELLED = "Batch cancelled"


def skip_pending(
    ctx: Context,
    batch_id: str,
    budget_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> tuple[int, bool]:
    """Skip pending recipients until none is left or the budget is spent: (skipped, finished).
    A budget of 0 or less skips none; any other skips at least one (every call progresses)."""
    deadline = monotonic() + budget_seconds
    now_iso = ctx.now_iso()
    skipped = 0
    for ref in ctx.recipients.pending_keys(batch_id):
        if budget_seconds <= 0:
            return skipped, False
        if ctx.recipients.skip(batch_id, ref.sk, CANCELLED, now_iso):
            skipped += 1
        if monotonic() > deadline:
            # Out of time: finished only if this was the last one (the next call will see).
            return skipped, False
    return skipped, True
