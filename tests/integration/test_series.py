"""Recurring series on moto with an injected clock: the parent spawns one run at a time at
anchored occurrences, skips missed ones, stops when paused or ended, and cancels its runs."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch
from batchcalls.services import series
from batchcalls.services.context import Context
from batchcalls.services.lifecycle import cancel
from batchcalls.services.tick import handle_due
from local.seed import DEMO_ACCOUNT_ID
from tests.helpers import Clock, fresh, hourly_series, set_batch_fields

START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ANCHOR = START + timedelta(hours=1)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)  # the tests move it from occurrence to occurrence


def hourly(ctx: Context, **extra: Any) -> Batch:
    return hourly_series(ctx, iso(ANCHOR), **extra)


def run(ctx: Context, parent: Batch, index: int) -> Batch:
    found = ctx.batches.get(series.child_id(parent.id, index))
    assert found is not None, f"run {index} was not spawned"
    return found


def end_run(ctx: Context, child: Batch) -> None:
    done = set_batch_fields(ctx, child.id, status="completed", remove=("due_at",))
    assert done is not None
    series.run_ended(ctx, done)


def test_create_returns_a_recurring_parent_and_its_first_run(ctx: Context) -> None:
    parent = hourly(ctx)
    assert parent.status is BatchStatus.RECURRING
    assert parent.recurrence_run_count == 1
    first = run(ctx, parent, 0)
    assert first.status is BatchStatus.SCHEDULED and first.due_at == iso(ANCHOR)
    assert first.parent_batch_id == parent.id and first.occurrence_number == 1
    cloned = list(ctx.recipients.in_batch(first.id))
    template = list(ctx.recipients.in_batch(parent.id))
    assert [(r.phone_number, r.name) for r in cloned] == [(r.phone_number, r.name) for r in template]
    assert {r.id for r in cloned}.isdisjoint({r.id for r in template})
    # Runs are not in the account's list; they are under their parent.
    assert [b.id for b in ctx.batches.runs_of(parent.id)] == [first.id]


def test_the_next_run_waits_for_the_last_one_and_follows_the_anchor(ctx: Context, clock: Clock) -> None:
    parent = hourly(ctx)
    clock.now = ANCHOR + timedelta(minutes=20)
    assert series.spawn_next(ctx, fresh(ctx, parent)) is None  # run 1 has not ended
    end_run(ctx, run(ctx, parent, 0))
    assert fresh(ctx, parent).due_at == iso(clock.now)  # its end made the parent due
    assert handle_due(ctx, fresh(ctx, parent))
    second = run(ctx, parent, 1)
    assert second.status is BatchStatus.SCHEDULED
    assert second.due_at == iso(ANCHOR + timedelta(hours=1))  # anchored, not "an hour after it ended"
    assert second.occurrence_number == 2


def test_missed_occurrences_are_skipped_never_bunched(ctx: Context, clock: Clock) -> None:
    parent = hourly(ctx)
    clock.now = ANCHOR + timedelta(hours=5, minutes=30)  # the first run took 5.5 hours
    end_run(ctx, run(ctx, parent, 0))
    spawned = series.spawn_next(ctx, fresh(ctx, parent))
    assert spawned is not None and spawned.occurrence_number == 7  # index 6 = ANCHOR + 6 h
    assert spawned.due_at == iso(ANCHOR + timedelta(hours=6))
    assert len(ctx.batches.runs_of(parent.id)) == 2
    assert fresh(ctx, parent).recurrence_run_count == 2


def test_two_spawners_at_once_make_one_run(ctx: Context, clock: Clock) -> None:
    parent = hourly(ctx)
    clock.now = ANCHOR + timedelta(minutes=5)
    end_run(ctx, run(ctx, parent, 0))
    due = fresh(ctx, parent)
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: series.spawn_next(ctx, due), range(6)))
    assert len(ctx.batches.runs_of(parent.id)) == 2
    after = fresh(ctx, parent)
    assert after.recurrence_run_count == 2 and after.recurrence_last_index == 1


def test_pause_series_stops_spawning_and_resume_series_starts_again(ctx: Context, clock: Clock) -> None:
    parent = hourly(ctx)
    series.pause_series(ctx, DEMO_ACCOUNT_ID, parent.id)
    paused = fresh(ctx, parent)
    assert paused.status is BatchStatus.PAUSED and paused.due_at is None
    clock.now = ANCHOR + timedelta(minutes=5)
    end_run(ctx, run(ctx, parent, 0))
    assert series.spawn_next(ctx, fresh(ctx, parent)) is None
    assert len(ctx.batches.runs_of(parent.id)) == 1

    series.resume_series(ctx, DEMO_ACCOUNT_ID, parent.id)
    assert fresh(ctx, parent).status is BatchStatus.RECURRING
    assert len(ctx.batches.runs_of(parent.id)) == 2


def test_the_series_ends_after_max_runs(ctx: Context, clock: Clock) -> None:
    parent = hourly(ctx, recurrence_max_runs=2)
    clock.now = ANCHOR + timedelta(minutes=5)
    end_run(ctx, run(ctx, parent, 0))
    assert series.spawn_next(ctx, fresh(ctx, parent)) is not None
    clock.now = ANCHOR + timedelta(hours=1, minutes=5)
    end_run(ctx, run(ctx, parent, 1))
    assert series.spawn_next(ctx, fresh(ctx, parent)) is None
    ended = fresh(ctx, parent)
    assert ended.status is BatchStatus.COMPLETED and ended.due_at is None
    assert ended.recurrence_run_count == 2


def test_the_series_ends_at_its_end_date(ctx: Context, clock: Clock) -> None:
    parent = hourly(ctx, recurrence_end_date=iso(ANCHOR + timedelta(minutes=90)))
    clock.now = ANCHOR + timedelta(minutes=5)
    end_run(ctx, run(ctx, parent, 0))
    assert series.spawn_next(ctx, fresh(ctx, parent)) is not None  # ANCHOR + 1 h is before the end
    clock.now = ANCHOR + timedelta(hours=1, minutes=5)
    end_run(ctx, run(ctx, parent, 1))
    assert series.spawn_next(ctx, fresh(ctx, parent)) is None  # ANCHOR + 2 h is after it
    assert fresh(ctx, parent).status is BatchStatus.COMPLETED


def test_cancel_on_the_parent_cancels_its_active_runs_and_keeps_the_template(ctx: Context) -> None:
    parent = hourly(ctx)
    result = cancel(ctx, DEMO_ACCOUNT_ID, parent.id)
    assert result.cancelled_children == 1
    assert fresh(ctx, parent).status is BatchStatus.CANCELLED
    assert run(ctx, parent, 0).status is BatchStatus.CANCELLED
    template = list(ctx.recipients.in_batch(parent.id))
    assert all(r.status is RecipientStatus.PENDING for r in template)
    cloned = list(ctx.recipients.in_batch(series.child_id(parent.id, 0)))
    assert all(r.status is RecipientStatus.SKIPPED for r in cloned)
