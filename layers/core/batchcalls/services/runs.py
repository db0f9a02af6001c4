"""Starting a pass of a run: one execution of the batch_run state machine."""

from __future__ import annotations

import json

from batchcalls.models.messages import RunPass
from batchcalls.services.context import Context


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
