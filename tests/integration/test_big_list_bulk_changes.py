"""Cancelling or re-running a batch too big to change inside one API request: the action does
what its budget allows and leaves the batch due; the scheduler's ticks do the rest (real
DynamoDB semantics from moto; passes are recorded, not run)."""

from __future__ import annotations

import pytest

from batchcalls.config import Settings, get_settings
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.api import StartBatchRequest
from batchcalls.models.domain import Batch
from batchcalls.models.messages import RunPass
from batchcalls.services import lifecycle, tick
from batchcalls.services.bulk import skip_pending
from batchcalls.services.context import Context
from batchcalls.store import keys
from batchcalls.store.dynamo import serialize, values
from local.seed import DEMO_ACCOUNT_ID
from local.stack import OfflineStack
from tests.helpers import ExecutionsSpy, create_from_request, set_batch_fields


class PassRecorder(ExecutionsSpy):
    """Records the passes started instead of running them."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings)
        self.started: list[str] = []

    def start_pass(self, run_pass: RunPass) -> bool:
        self.started.append(run_pass.execution_name)
        return True


def started(ctx: Context) -> list[str]:
    assert isinstance(ctx.executions, PassRecorder)
    return ctx.executions.started


@pytest.fixture
def executions(quiet_stack: OfflineStack) -> PassRecorder:
    return PassRecorder(get_settings())  # the ticks' passes are counted, not run


def draft(ctx: Context, count: int = 300) -> Batch:
    recipients = [{"phone_number": f"+1212555{n:04d}"} for n in range(count)]
    return create_from_request(ctx, name="big", status="draft", recipients=recipients)


def end_with(ctx: Context, batch_id: str, sk: str, status: RecipientStatus, ticket: str) -> None:
    ctx.db.update_item(
        TableName=ctx.settings.table_name,
        Key=serialize({"pk": keys.batch_pk(batch_id), "sk": sk}),
        UpdateExpression="SET #s = :s, ticket = :t",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=values(s=status.value, t=ticket),
    )


def completed_first_run(ctx: Context, batch: Batch) -> Batch:
    """Run 1 ended: every recipient completed."""
    for state in ctx.recipients.states(batch.id):
        end_with(ctx, batch.id, state.sk, RecipientStatus.COMPLETED, "1:1")
    set_batch_fields(ctx, batch.id, status="completed", run_number=1, pass_number=1)
    return batch


def test_a_cancel_out_of_budget_is_finished_by_the_ticks(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = draft(ctx)
    monkeypatch.setattr(lifecycle, "CANCEL_SKIP_BUDGET_SECONDS", 0)  # nothing fits
    monkeypatch.setattr(tick, "TICK_SKIP_BUDGET_SECONDS", 0.05)  # a part per tick

    answer = lifecycle.cancel(ctx, DEMO_ACCOUNT_ID, batch.id)
    assert answer.skipped == 0 and answer.skipping_in_background is True
    cancelled = ctx.batches.get(batch.id)
    assert cancelled is not None and cancelled.status is BatchStatus.CANCELLED and cancelled.due_at

    ticks = 0
    while ctx.recipients.status_counts(batch.id)["pending"] and ticks < 500:
        tick.tick(ctx)
        ticks += 1
    assert ticks > 1  # it took several ticks, each within its budget
    counts = ctx.recipients.status_counts(batch.id)
    assert counts["pending"] == 0 and counts["skipped"] == 300
    tick.tick(ctx)  # one more: nothing pending, the batch leaves the due index
    after = ctx.batches.get(batch.id)
    assert after is not None and after.due_at is None and after.skipped_count == 300
    assert batch.id not in ctx.batches.due_batch_ids("9999")


def test_a_rerun_out_of_budget_resets_in_the_ticks_and_never_twice(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = completed_first_run(ctx, draft(ctx))
    monkeypatch.setattr(lifecycle, "RERUN_RESET_BUDGET_SECONDS", 0.0)  # one reset, then background
    monkeypatch.setattr(tick, "TICK_SKIP_BUDGET_SECONDS", 0.05)

    start = StartBatchRequest.model_validate({"action": "start", "batch_id": batch.id})
    assert lifecycle.start(ctx, DEMO_ACCOUNT_ID, start).message == "Batch re-started"
    running = ctx.batches.get(batch.id)
    assert running is not None and running.run_number == 2 and running.resetting_statuses
    assert started(ctx) == [f"{batch.id}-r2-p1"]
    first = next(s for s in ctx.recipients.states(batch.id) if s.status is RecipientStatus.PENDING)
    # Run 2 dials the reset one at once, and it completes again while the rest are reset.
    end_with(ctx, batch.id, first.sk, RecipientStatus.COMPLETED, "2:1")

    ticks = 0
    while (current := ctx.batches.get(batch.id)) and current.resetting_statuses and ticks < 500:
        tick.tick(ctx)
        ticks += 1
    assert ticks > 1
    counts = ctx.recipients.status_counts(batch.id)
    assert counts["completed"] == 1 and counts["pending"] == 299  # that one was not reset twice
    after = ctx.batches.get(batch.id)
    assert after is not None and after.completed_count == 1 and after.status is BatchStatus.RUNNING


def test_a_cancelled_background_rerun_leaves_nothing_to_the_next_run(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = completed_first_run(ctx, draft(ctx, 40))
    monkeypatch.setattr(lifecycle, "RERUN_RESET_BUDGET_SECONDS", 0.0)
    rerun = StartBatchRequest.model_validate({"action": "start", "batch_id": batch.id})
    lifecycle.start(ctx, DEMO_ACCOUNT_ID, rerun)
    lifecycle.cancel(ctx, DEMO_ACCOUNT_ID, batch.id)  # before the background reset finished
    cancelled = ctx.batches.get(batch.id)
    assert cancelled is not None and cancelled.resetting_statuses is None

    # Run 3 re-runs one recipient only; a background skip of run 2's cancel that is still
    # going must not touch it.
    one = next(s for s in ctx.recipients.states(batch.id) if s.status is RecipientStatus.COMPLETED)
    only = StartBatchRequest.model_validate(
        {"action": "start", "batch_id": batch.id, "recipient_ids": [one.id]}
    )
    lifecycle.start(ctx, DEMO_ACCOUNT_ID, only)
    assert skip_pending(ctx, batch.id, 10) == (0, True)
    tick.tick(ctx)
    rerun3 = ctx.batches.get(batch.id)
    assert rerun3 is not None and rerun3.run_number == 3 and rerun3.resetting_statuses is None
    pending = [s.sk for s in ctx.recipients.states(batch.id) if s.status is RecipientStatus.PENDING]
    assert pending == [one.sk]
