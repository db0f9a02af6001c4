"""Passes of a run as executions of the batch_run state machine, and the task tokens its Map
children wait on: the one module that speaks to Step Functions."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from batchcalls.models.messages import DialOutcome, RunPass

# A token that timed out or was already answered: the child has moved on, nothing to do.
CLOSED_TOKEN_ERRORS = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class ExecutionStore:
    def __init__(self, client: Any, state_machine_arn: str) -> None:
        self._sfn = client
        self._state_machine_arn = state_machine_arn

    def start_pass(self, run_pass: RunPass) -> bool:
        """Start the pass's execution. Its name is the pass's own, so starting a pass twice
        starts it once: False when it existed already."""
        try:
            self._sfn.start_execution(
                stateMachineArn=self._state_machine_arn,
                name=run_pass.execution_name,
                input=json.dumps(run_pass.as_input()),
            )
        except self._sfn.exceptions.ExecutionAlreadyExists:
            return False
        return True

    def is_running(self, run_pass: RunPass) -> bool:
        try:
            return bool(self._sfn.describe_execution(executionArn=self._arn(run_pass))["status"] == "RUNNING")
        except self._sfn.exceptions.ExecutionDoesNotExist:
            return False

    def stop_pass(self, run_pass: RunPass, cause: str) -> None:
        """Stop the pass's execution, if it was ever started."""
        try:
            self._sfn.stop_execution(executionArn=self._arn(run_pass), cause=cause)
        except self._sfn.exceptions.ExecutionDoesNotExist:
            pass

    def answer_task(self, token: str, outcome: DialOutcome) -> bool:
        """Hand the outcome to the Map child waiting on ``token``; False when the token was
        closed already (timed out or answered)."""
        try:
            self._sfn.send_task_success(taskToken=token, output=json.dumps(outcome.model_dump(by_alias=True)))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in CLOSED_TOKEN_ERRORS:
                raise
            return False
        return True

    def _arn(self, run_pass: RunPass) -> str:
        # An execution's ARN is its state machine's, with ":execution:" and its name.
        machine = self._state_machine_arn.replace(":stateMachine:", ":execution:")
        return f"{machine}:{run_pass.execution_name}"
