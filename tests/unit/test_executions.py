"""The Step Functions adapter, against botocore's Stubber: the requests it makes for a pass, and
the errors it takes as ordinary outcomes (a pass started twice, a closed task token)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from batchcalls.models.messages import DialOutcome, RunPass
from batchcalls.store.executions import ExecutionStore

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:batch-run"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:batch-run:B1-r2-p3"
PASS = RunPass(batch_id="B1", run=2, pass_number=3)


@pytest.fixture
def stub() -> Iterator[tuple[ExecutionStore, Stubber]]:
    client = boto3.client(
        "stepfunctions", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    with Stubber(client) as stubber:
        yield ExecutionStore(client, MACHINE), stubber
        stubber.assert_no_pending_responses()


def test_a_pass_starts_by_its_own_name_once(stub: tuple[ExecutionStore, Stubber]) -> None:
    executions, stubber = stub
    request = {
        "stateMachineArn": MACHINE,
        "name": "B1-r2-p3",
        "input": json.dumps({"batch_id": "B1", "run": 2, "pass": 3}),
    }
    stubber.add_response("start_execution", {"executionArn": EXECUTION, "startDate": 0}, request)
    stubber.add_client_error("start_execution", "ExecutionAlreadyExists", expected_params=request)
    assert executions.start_pass(PASS) is True
    assert executions.start_pass(PASS) is False


def test_a_pass_is_running_only_while_its_execution_is(stub: tuple[ExecutionStore, Stubber]) -> None:
    executions, stubber = stub
    described: dict[str, Any] = {
        "executionArn": EXECUTION,
        "stateMachineArn": MACHINE,
        "startDate": 0,
    }
    stubber.add_response(
        "describe_execution", {**described, "status": "RUNNING"}, {"executionArn": EXECUTION}
    )
    stubber.add_response(
        "describe_execution", {**described, "status": "ABORTED"}, {"executionArn": EXECUTION}
    )
    stubber.add_client_error("describe_execution", "ExecutionDoesNotExist")
    assert [executions.is_running(PASS) for _ in range(3)] == [True, False, False]


def test_stopping_a_pass_never_started_is_no_error(stub: tuple[ExecutionStore, Stubber]) -> None:
    executions, stubber = stub
    request = {"executionArn": EXECUTION, "cause": "Batch cancelled"}
    stubber.add_response("stop_execution", {"stopDate": 0}, request)
    stubber.add_client_error("stop_execution", "ExecutionDoesNotExist", expected_params=request)
    executions.stop_pass(PASS, cause="Batch cancelled")
    executions.stop_pass(PASS, cause="Batch cancelled")


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_a_closed_token_is_answered_already(stub: tuple[ExecutionStore, Stubber], code: str) -> None:
    executions, stubber = stub
    outcome = DialOutcome(outcome="completed", recipient_key="R#1")
    # The state machine reads the recipient as "rk" (statemachines/batch_run.asl.json).
    output = json.dumps({"outcome": "completed", "rk": "R#1"})
    stubber.add_response("send_task_success", {}, {"taskToken": "open", "output": output})
    stubber.add_client_error("send_task_success", code)
    assert executions.answer_task("open", outcome) is True
    assert executions.answer_task("closed", outcome) is False


def test_any_other_answer_failure_is_raised(stub: tuple[ExecutionStore, Stubber]) -> None:
    executions, stubber = stub
    stubber.add_client_error("send_task_success", "ThrottlingException", http_status_code=400)
    with pytest.raises(ClientError, match="ThrottlingException"):
        executions.answer_task("token", DialOutcome(outcome="completed"))
