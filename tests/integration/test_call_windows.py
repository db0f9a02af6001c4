"""Outside its call window a batch is paused (outside_window) with no dials, and the scheduler
resumes it when the window opens (moto, with an injected clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.messages import RunPass
from batchcalls.services.context import Context
from batchcalls.services.tick import tick
from local.seed import DEMO_ACCOUNT_ID
from local.stack import OfflineStack
from tests.helpers import Clock, create_from_request

# Monday 2026-11-23 20:00 in New York (01:00 UTC on Tuesday).
MONDAY_EVENING = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(MONDAY_EVENING)  # the tests move it to the window's opening


def business_hours_batch(ctx: Context) -> str:
    return create_from_request(
        ctx,
        name="business hours",
        timezone="America/New_York",
        window_start_time="09:00",
        window_end_time="17:00",
        window_days=[1, 2, 3, 4, 5],
    ).id


def test_created_outside_the_window_it_waits_paused(ctx: Context, quiet_stack: OfflineStack) -> None:
    batch_id = business_hours_batch(ctx)
    batch = ctx.batches.get(batch_id)
    assert batch is not None and batch.status is BatchStatus.PAUSED
    assert batch.paused_reason == "outside_window"
    assert batch.due_at == iso(datetime(2026, 11, 24, 14, 0, tzinfo=UTC))  # Tuesday 09:00 New York
    assert batch.pass_number == 0  # no pass, so no dial
    assert not ctx.executions.is_running(RunPass(batch_id=batch_id, run=1, pass_number=1))


def test_the_tick_resumes_it_when_the_window_opens(ctx: Context, clock: Clock) -> None:
    batch_id = business_hours_batch(ctx)
    clock.now = datetime(2026, 11, 24, 13, 59, tzinfo=UTC)  # 08:59 in New York: not yet
    tick(ctx)
    assert ctx.batches.get(batch_id).status is BatchStatus.PAUSED  # type: ignore[union-attr]
    clock.now = datetime(2026, 11, 24, 14, 0, 30, tzinfo=UTC)  # 09:00:30
    tick(ctx)
    batch = ctx.batches.get(batch_id)
    assert batch is not None and batch.status is BatchStatus.RUNNING
    assert batch.paused_reason is None and batch.due_at is None and batch.pass_number == 1


def test_a_manual_pause_outranks_the_window(ctx: Context, clock: Clock) -> None:
    from batchcalls.services.lifecycle import pause

    batch_id = business_hours_batch(ctx)
    pause(ctx, DEMO_ACCOUNT_ID, batch_id)
    clock.now = MONDAY_EVENING + timedelta(days=1)
    tick(ctx)
    batch = ctx.batches.get(batch_id)
    assert batch is not None and batch.status is BatchStatus.PAUSED and batch.paused_reason == "manual"


def test_a_running_batch_whose_first_pass_never_started_is_started_by_the_tick(
    ctx: Context, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    import batchcalls.services.batches as batches_service

    clock.now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)  # Tuesday 10:00 in New York: open
    monkeypatch.setattr(batches_service, "continue_run", lambda *_: False)  # the start is lost
    batch_id = business_hours_batch(ctx)
    lost = ctx.batches.get(batch_id)
    assert lost is not None and lost.status is BatchStatus.RUNNING and lost.pass_number == 0
    assert lost.due_at == iso(clock.now)
    monkeypatch.undo()
    tick(ctx)
    started = ctx.batches.get(batch_id)
    assert started is not None and started.pass_number == 1 and started.due_at is None
