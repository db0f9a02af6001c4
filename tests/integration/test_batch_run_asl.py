"""batch_run.asl.json executed by moto: the happy path and the timeout → Catch → lost-call path."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from batchcalls import aws
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.services.context import get_context
from local.stack import OfflineStack, StackOptions
from tests.helpers import create_from_request, wait_for


def _create(numbers: list[str]) -> str:
    batch = create_from_request(
        get_context(),
        name="asl",
        recipients=[{"phone_number": n} for n in numbers],
        reserved_concurrency=18,  # 2 slots
    )
    return batch.id


def _finished(batch_id: str) -> object:
    batch = get_context().batches.get(batch_id)
    return batch if batch and batch.status is BatchStatus.COMPLETED else None


def _executions(stack: OfflineStack) -> list[dict[str, object]]:
    sfn = aws.client("stepfunctions")
    arn = next(iter(stack.template.of_type("AWS::Serverless::StateMachine")))
    return list(sfn.list_executions(stateMachineArn=stack.template.refs[arn])["executions"])


def _stack(talk_seconds: str = "0.1", **options: str) -> Iterator[OfflineStack]:
    """A stack with fast calls; ``options`` are LOCAL_SIM_* flags (lower case, no prefix) or
    settings overrides (``settings_*``)."""
    sim_env = {"LOCAL_SIM_RING_SECONDS": "0.05", "LOCAL_SIM_TALK_SECONDS": talk_seconds}
    sim_env.update({f"LOCAL_SIM_{k.upper()}": v for k, v in options.items() if not k.startswith("settings_")})
    extra_env = {k.removeprefix("settings_"): v for k, v in options.items() if k.startswith("settings_")}
    stack = OfflineStack(
        StackOptions(
            port=0, tick_seconds=3600, sim_env=sim_env, extra_env=extra_env, demo_calls_per_second=1000
        )
    ).start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
def fast_stack() -> Iterator[OfflineStack]:
    yield from _stack()


def test_a_pass_dials_everyone_and_completes(fast_stack: OfflineStack) -> None:
    batch_id = _create(["+14155551231", "+14155551232", "+14155551237", "+14155551238", "+14155551239"])
    batch = wait_for(lambda: _finished(batch_id), timeout=90)
    assert batch.completed_count == 2 and batch.failed_count == 3  # type: ignore[attr-defined]
    # Settle completes the batch as its last step; the execution ends a moment later.
    executions = wait_for(
        lambda: [e for e in _executions(fast_stack) if e["status"] != "RUNNING"], timeout=30
    )
    assert [e["name"] for e in executions] == [f"{batch_id}-r1-p1"]
    assert executions[0]["status"] == "SUCCEEDED"
    # The Map never had more than the batch's 2 slots in use.
    assert fast_stack.simulator.peak_concurrency() <= 2
    output = json.loads(
        aws.client("stepfunctions").describe_execution(executionArn=executions[0]["executionArn"])["output"]
    )
    assert output["status"] == "completed"


@pytest.fixture
def silent_stack() -> Iterator[OfflineStack]:
    # Calls last far longer than the dial task's 2 s timeout, and no status callback arrives.
    yield from _stack(
        "60", settings_dial_task_timeout_override_seconds="2", settings_public_base_url="http://127.0.0.1:9"
    )


def test_a_lost_final_status_times_out_into_the_catch(silent_stack: OfflineStack) -> None:
    batch_id = _create(["+14155551231"])
    batch = wait_for(lambda: _finished(batch_id), timeout=90)
    recipient = next(get_context().recipients.in_batch(batch_id))
    assert recipient.status is RecipientStatus.FAILED
    assert recipient.error_message == "No final call status arrived in time"
    assert batch.failed_count == 1  # type: ignore[attr-defined]
    # The lost call was hung up at the provider, so it does not run on unbilled.
    call = silent_stack.simulator.calls[0]
    wait_for(lambda: call.ended, timeout=5)


@pytest.fixture
def deaf_stack() -> Iterator[OfflineStack]:
    # Status callbacks go nowhere (port 9 is closed), so every final status is lost in transit.
    yield from _stack(
        "0.2", settings_dial_task_timeout_override_seconds="2", settings_public_base_url="http://127.0.0.1:9"
    )


def test_a_lost_callback_is_reconciled_from_the_provider(deaf_stack: OfflineStack) -> None:
    batch_id = _create(["+14155551231", "+14155551237"])
    batch = wait_for(lambda: _finished(batch_id), timeout=90)
    statuses = sorted(r.status.value for r in get_context().recipients.in_batch(batch_id))
    # The provider's final statuses win over "lost".
    assert statuses == ["busy", "completed"]
    assert batch.completed_count == 1 and batch.failed_count == 1  # type: ignore[attr-defined]


@pytest.fixture
def unruly_stack() -> Iterator[OfflineStack]:
    # Every callback twice, and each call's callbacks shuffled (never in their real order).
    yield from _stack(duplicate_callbacks="true", reorder_callbacks="true")


def test_duplicated_and_reordered_callbacks_count_once(unruly_stack: OfflineStack) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(2000, 2020)]
    batch_id = _create(numbers)
    batch = wait_for(lambda: _finished(batch_id), timeout=60)
    recipients = list(get_context().recipients.in_batch(batch_id))
    by_digit = {r.phone_number[-1]: r.status for r in recipients}
    assert by_digit["7"] is RecipientStatus.BUSY and by_digit["8"] is RecipientStatus.NO_ANSWER
    assert by_digit["9"] is RecipientStatus.FAILED and by_digit["1"] is RecipientStatus.COMPLETED
    assert all(r.attempts == 1 for r in recipients)
    # 20 numbers ending 0..9 twice: 7, 8, 9 fail → 6 failed, 14 completed; each counted once.
    assert batch.completed_count == 14 and batch.failed_count == 6  # type: ignore[attr-defined]
    assert len(unruly_stack.simulator.calls) == 20
