"""Starting passes of a run: executions of the batch_run state machine."""

from __future__ import annotations

import json

from batchcalls.domain import window
from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.domain import Batch
from batchcalls.models.messages import RunPass
from batchcalls.services.context import Context

OUTSIDE_WINDOW = "outside_window"
RECIPIENT_WINDOWS = "recipient"


def start_pass(ctx: Context, run_pass: RunPass) -> None:
    """Start the execution for this pass; starting the same pass twice is a no-op."""
    try:
        ctx.sfn.start_execution(
            stateMachineArn=ctx.settings.state_machine_arn,
            name=run_pass.execution_name,
            input=json.dumps(run_pass.as_input()),
        )
    except ctx.sfn.exceptions.ExecutionAlreadyExists:
        pass


def pass_in_progress(ctx: Context, run_pass: RunPass) -> bool:
    arn = (
        ctx.settings.state_machine_arn.replace(":stateMachine:", ":execution:")
        + f":{run_pass.execution_name}"
    )
    try:
        return ctx.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    except ctx.sfn.exceptions.ExecutionDoesNotExist:
        return False


def continue_run(ctx: Context, batch: Batch) -> bool:
    """Make sure the pending recipients of a running batch get a pass.

    Starts the next pass now, unless the current one is still running: one pass at a time
    keeps the batch within its slots; the recipients that pass did not plan are then picked
    up by the pass its Settle makes due. Returns whether a pass was started.
    """
    current = RunPass(batch_id=batch.id, run=batch.run_number, pass_number=batch.pass_number)
    if batch.pass_number > 0 and pass_in_progress(ctx, current):
        return False
    if pause_outside_window(ctx, batch):
        return False
    now_iso = ctx.now_iso()
    # A re-run still resetting its recipients stays due: the next tick resets more.
    resetting = bool(batch.resetting_statuses)
    moved = ctx.batches.update_status(
        batch.id,
        from_statuses=[BatchStatus.RUNNING],
        to_status=BatchStatus.RUNNING,
        set_fields={"pass_number": batch.pass_number + 1, "updated_at": now_iso}
        | ({"due_at": now_iso} if resetting else {}),
        remove_fields=[] if resetting else ["due_at"],
        expect={"run_number": batch.run_number, "pass_number": batch.pass_number},
    )
    if moved is None:
        return False
    start_pass(ctx, RunPass(batch_id=batch.id, run=moved.run_number, pass_number=moved.pass_number))
    return True


def pause_outside_window(ctx: Context, batch: Batch) -> bool:
    """A running batch whose call window is closed now is paused (``outside_window``) until it
    opens: the scheduler resumes it at ``due_at``. Returns whether it was paused."""
    if batch.window_timezone == RECIPIENT_WINDOWS:
        return False  # each recipient waits for its own window (the dialer decides per call)
    now = ctx.clock()
    opens = window.next_open(batch.window, now, batch.timezone)
    if opens == now:
        return False
    paused = ctx.batches.update_status(
        batch.id,
        from_statuses=[BatchStatus.RUNNING],
        to_status=BatchStatus.PAUSED,
        set_fields={
            "paused_reason": OUTSIDE_WINDOW,
            "updated_at": iso(now),
            **({"due_at": iso(opens)} if opens else {}),
        },
        remove_fields=[] if opens else ["due_at"],
        expect={"run_number": batch.run_number},
    )
    return paused is not None
