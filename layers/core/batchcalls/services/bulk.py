"""Changing every recipient of a big batch, within a time budget: skipping the pending ones
of a cancelled batch, and putting final ones back to pending for a re-run.

A batch of a million recipients cannot be changed inside one API request (API Gateway gives
29 s), so ``cancel`` and ``start`` (re-run) do what fits in their budget and leave the batch
due; the scheduler's ticks do the rest. Both are idempotent, so doing a part twice is harmless.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch
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
    batch = ctx.batches.get(batch_id)
    if batch is None or batch.status is not BatchStatus.CANCELLED:
        return 0, True  # re-run meanwhile: its recipients are not ours to skip
    for ref in ctx.recipients.pending_keys(batch_id):
        if budget_seconds <= 0:
            return skipped, False
        # Each skip is conditioned on the batch still being cancelled in this run.
        if ctx.recipients.skip(batch_id, ref.sk, CANCELLED, now_iso, only_if_cancelled_run=batch.run_number):
            skipped += 1
        elif (now := ctx.batches.get(batch_id)) is None or now.status is not BatchStatus.CANCELLED:
            return skipped, True  # re-run meanwhile: stop
        if monotonic() > deadline:
            # Out of time: finished only if this was the last one (the next call will see).
            return skipped, False
    return skipped, True


def skip_pending_or_hand_over(ctx: Context, batch_id: str, budget_seconds: float) -> tuple[int, bool]:
    """``skip_pending``, and what it could not finish is left to the scheduler: the cancelled
    batch is made due, and each tick skips more."""
    skipped, finished = skip_pending(ctx, batch_id, budget_seconds)
    if not finished:
        ctx.batches.make_due(batch_id, BatchStatus.CANCELLED, ctx.now_iso())
    return skipped, finished


def reset_finals(
    ctx: Context,
    batch: Batch,
    statuses: list[RecipientStatus],
    budget_seconds: float,
    monotonic: Callable[[], float] = time.monotonic,
) -> bool:
    """Final recipients with one of ``statuses`` back to pending for the batch's current run,
    until none is left or the budget is spent; whether it finished. A recipient already dealt
    with in this run (its ticket names the run) is left alone, so a reset resumed while the
    run dials never resets a recipient twice."""
    deadline = monotonic() + budget_seconds
    now_iso = ctx.now_iso()
    wanted = set(statuses)
    this_run = f"{batch.run_number}:"
    for state in ctx.recipients.states(batch.id):
        if state.status not in wanted or (state.ticket or "").startswith(this_run):
            continue  # not to reset, or dealt with in this run already (no write wasted)
        # Out of time only after a reset: each call gets past the ones this run already
        # dialed (which stay final) and makes progress.
        reset = ctx.recipients.reset_for_rerun(batch.id, state.sk, statuses, now_iso, run=batch.run_number)
        if reset and monotonic() > deadline:
            return False
    return True


def reset_ids(
    ctx: Context, batch: Batch, ids: set[str], statuses: list[RecipientStatus], *, run: int | None
) -> int:
    """The named recipients (at most 10,000) back to pending, eight writes at a time; how many.
    ``run`` as in ``reset_for_rerun`` (None: a retry within the current run)."""
    now_iso = ctx.now_iso()
    sks = [
        state.sk for state in ctx.recipients.states(batch.id) if state.id in ids and state.status in statuses
    ]
    with ThreadPoolExecutor(max_workers=8) as pool:
        done = pool.map(
            lambda sk: ctx.recipients.reset_for_rerun(batch.id, sk, statuses, now_iso, run=run), sks
        )
        return sum(1 for ok in done if ok)
