"""Starting passes of a run: executions of the batch_run state machine."""

from __future__ import annotations

from batchcalls.domain.clock import iso
from batchcalls.domain.recipient_window import next_open
from batchcalls.models.domain import Batch
from batchcalls.models.messages import RunPass
from batchcalls.services.context import Context

RECIPIENT_WINDOWS = "recipient"


def continue_run(ctx: Context, batch: Batch) -> bool:
    """Make sure the pending recipients of a running batch get a pass.

    Starts the next pass now, unless the current one is still running: one pass at a time
    keeps the batch within its slots; the recipients that pass did not plan are then picked
    up by the pass its Settle makes due. Returns whether a pass was started.
    """
    current = RunPass(batch_id=batch.id, run=batch.run_number, pass_number=batch.pass_number)
    if batch.pass_number > 0 and ctx.executions.is_running(current):
        return False
    if pause_outside_window(ctx, batch):
        return False
    now_iso = ctx.now_iso()
    # A re-run still resetting its recipients stays due: the next tick resets more.
    resetting = bool(batch.resetting_statuses)
    moved = ctx.batches.advance_pass(batch, now_iso, stay_due=resetting)
    if moved is None:
        return False
    ctx.executions.start_pass(RunPass(batch_id=batch.id, run=moved.run_number, pass_number=moved.pass_number))
    return True


def pause_outside_window(ctx: Context, batch: Batch) -> bool:
    """A running batch whose call window is closed now is paused (``outside_window``) until it
    opens: the scheduler resumes it at ``due_at``. Returns whether it was paused."""
    if batch.window_timezone == RECIPIENT_WINDOWS:
        return False  # each recipient waits for its own window (the dialer decides per call)
    now = ctx.clock()
    opens = next_open(batch.window, now, batch.timezone)
    if opens == now:
        return False
    paused = ctx.batches.pause_outside_window(batch, iso(opens) if opens else None, iso(now))
    return paused is not None
