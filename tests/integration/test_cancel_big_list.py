"""Cancelling a batch too big to skip inside one API request: cancel skips what its budget
allows and leaves the batch due; the scheduler's ticks skip the rest, then drop it from the
due index (real DynamoDB semantics from moto)."""

from __future__ import annotations

import pytest

from batchcalls.config import get_settings
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.api import CreateBatchRequest
from batchcalls.services import lifecycle, tick
from batchcalls.services.batches import create_batch
from batchcalls.services.context import Context
from local.seed import DEMO_ACCOUNT_ID
from tests.helpers import AUTH_TOKEN, FakeProvider, SfnSpy


@pytest.fixture
def ctx(quiet_stack: object) -> Context:
    context = Context(settings=get_settings())
    context._provider = FakeProvider(AUTH_TOKEN)
    context.__dict__["sfn"] = SfnSpy(context.sfn)
    return context


def test_a_cancel_out_of_budget_is_finished_by_the_ticks(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    request = CreateBatchRequest.model_validate(
        {
            "action": "create",
            "name": "big",
            "caller_id": "+16045551234",
            "status": "draft",
            "recipients": [{"phone_number": f"+1212555{n:04d}"} for n in range(300)],
        }
    )
    batch = create_batch(ctx, DEMO_ACCOUNT_ID, request)
    monkeypatch.setattr(lifecycle, "CANCEL_SKIP_BUDGET_SECONDS", 0)  # nothing fits
    monkeypatch.setattr(tick, "TICK_SKIP_BUDGET_SECONDS", 0.05)  # a part per tick

    answer = lifecycle.cancel(ctx, DEMO_ACCOUNT_ID, batch.id)
    assert answer["skipped"] == 0 and answer["skipping_in_background"] is True
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
