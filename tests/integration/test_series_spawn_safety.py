"""A series run is made once per occurrence and never reset: creating a batch that exists
changes nothing of it, spawners that race (or disagree about the next occurrence) make one
run, and a spawn that dies at any write is finished by the next one."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.domain import Batch
from batchcalls.services import series
from batchcalls.services.context import Context
from batchcalls.services.lifecycle import cancel
from batchcalls.store import keys
from batchcalls.store.dynamo import serialize
from local.seed import DEMO_ACCOUNT_ID
from tests.helpers import Clock, fresh, hourly_series, make_context, set_batch_fields

START = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)
ANCHOR = START + timedelta(hours=1)
WRITES = ("put_item", "update_item", "delete_item", "batch_write_item", "transact_write_items")


class Crash(Exception):
    """The process died here (a Lambda timeout, an OOM kill)."""


class HookedDynamo:
    """A DynamoDB client that numbers its writes and hands each to ``write`` (a subclass's
    hook, which decides what becomes of it); reads pass through."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.writes = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._real, name)
        if name not in WRITES:
            return target

        def numbered(**kwargs: Any) -> Any:
            self.writes += 1
            return self.write(name, lambda: target(**kwargs))

        return numbered

    def write(self, name: str, send: Callable[[], Any]) -> Any:
        return send()


class CrashingDynamo(HookedDynamo):
    """The DynamoDB client of a process that dies at its ``crash_at``-th write: before the write
    reaches DynamoDB, or after it was written but before the caller saw the answer."""

    def __init__(self, real: Any, crash_at: int, after: bool) -> None:
        super().__init__(real)
        self._crash_at = crash_at
        self._after = after

    def write(self, name: str, send: Callable[[], Any]) -> Any:
        if self.writes != self._crash_at:
            return send()
        if self._after:
            send()
        raise Crash(f"died at write {self.writes} ({name})")


class InterruptedDynamo(HookedDynamo):
    """The DynamoDB client of a spawner that is overtaken before its ``at``-th write: another
    request (``meanwhile``) runs to its end first, as on a busy account."""

    def __init__(self, real: Any, at: int, meanwhile: Callable[[], object]) -> None:
        super().__init__(real)
        self._at = at
        self._meanwhile = meanwhile

    def write(self, name: str, send: Callable[[], Any]) -> Any:
        if self.writes == self._at:
            self._meanwhile()
        return send()


@pytest.fixture
def clock() -> Clock:
    return Clock(START)  # the tests move it from occurrence to occurrence


def hourly_parent_with_first_run_ended(ctx: Context) -> Batch:
    """A parent whose run 0 has completed: the next spawn makes run 1 (scheduled, an hour on)."""
    parent = hourly_series(ctx, iso(ANCHOR))
    first = ctx.batches.get(series.child_id(parent.id, 0))
    assert first is not None
    done = set_batch_fields(ctx, first.id, status="completed", remove=("due_at",))
    assert done is not None
    return fresh(ctx, parent)


def set_recipient_status(ctx: Context, batch_id: str, sk: str, status: str) -> None:
    ctx.db.update_item(
        TableName=ctx.settings.table_name,
        Key=serialize({"pk": keys.batch_pk(batch_id), "sk": sk}),
        UpdateExpression="SET #s = :s",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues=serialize({":s": status}),
    )


def statuses(ctx: Context, batch_id: str) -> list[str]:
    return [r.status.value for r in ctx.recipients.in_batch(batch_id)]


def assert_runs(ctx: Context, parent: Batch, occurrences: list[int]) -> None:
    """The series has exactly these runs (occurrence numbers), each counted once."""
    found = ctx.batches.runs_of(parent.id)
    assert sorted(r.occurrence_number or 0 for r in found) == occurrences
    now = fresh(ctx, parent)
    assert now.recurrence_last_index == occurrences[-1] - 1
    assert now.recurrence_run_count == len(occurrences)


def test_creating_a_batch_that_exists_changes_nothing_of_it(ctx: Context) -> None:
    # Given a run whose first recipient is being called
    parent = hourly_parent_with_first_run_ended(ctx)
    run = series.spawn_next(ctx, parent)
    assert run is not None
    recipients = ctx.recipients.in_batch(run.id)
    set_recipient_status(ctx, run.id, "R#0000001", "calling")
    # When the same batch is created again (other fields, the same recipients)
    created = ctx.batches.create(run.model_copy(update={"name": "again"}), recipients)
    # Then nothing of it changed
    assert created is False
    assert fresh(ctx, run).name == run.name
    assert statuses(ctx, run.id) == ["calling", "pending"]


def test_a_stale_spawner_never_resets_a_live_run(ctx: Context) -> None:
    # Given run 1 dialing its first recipient
    stale = hourly_parent_with_first_run_ended(ctx)
    run = series.spawn_next(ctx, stale)
    assert run is not None
    set_recipient_status(ctx, run.id, "R#0000001", "calling")
    # When a spawner that read the parent before that spawn (a retried tick) runs
    assert series.spawn_next(ctx, stale) is None
    # Then the live run is untouched and there is still one run per occurrence
    assert statuses(ctx, run.id) == ["calling", "pending"]
    assert_runs(ctx, stale, [1, 2])


def test_spawners_that_disagree_on_the_next_occurrence_make_one_run(ctx: Context) -> None:
    # Given two ticks that read the same parent, one of them two hours later than the other
    stale = hourly_parent_with_first_run_ended(ctx)
    late = make_context(clock=Clock(ANCHOR + timedelta(hours=2, minutes=1)))
    # When both spawn (the late one sees occurrence 1 as missed and picks occurrence 3)
    runs = [series.spawn_next(late, stale), series.spawn_next(ctx, stale)]
    # Then only the first to claim made a run
    assert [r is not None for r in runs] == [True, False]
    assert_runs(ctx, stale, [1, 4])


def test_concurrent_spawners_make_one_run(ctx: Context) -> None:
    stale = hourly_parent_with_first_run_ended(ctx)
    with ThreadPoolExecutor(max_workers=8) as pool:
        made = [
            r
            for r in pool.map(lambda _: series.spawn_next(make_context(clock=Clock(START)), stale), range(8))
            if r
        ]
    assert len({r.id for r in made}) == 1
    assert_runs(ctx, stale, [1, 2])
    assert statuses(ctx, made[0].id) == ["pending", "pending"]


def crash_points() -> Iterator[tuple[int, bool]]:
    # A spawn of a scheduled run writes three times: the claim, the recipients, the META.
    for crash_at in (1, 2, 3):
        for after in (False, True):
            yield crash_at, after


@pytest.mark.parametrize(("crash_at", "after"), list(crash_points()))
def test_a_spawn_that_dies_at_any_write_is_finished_by_the_next(
    ctx: Context, clock: Clock, crash_at: int, after: bool
) -> None:
    # Given a spawner that dies at one of its writes
    parent = hourly_parent_with_first_run_ended(ctx)
    dying = make_context(clock=clock, db=CrashingDynamo(ctx.db, crash_at, after))
    with pytest.raises(Crash):
        series.spawn_next(dying, parent)
    # When the next tick spawns from what the table says now (twice: a tick may be retried)
    for _ in range(2):
        series.spawn_next(ctx, fresh(ctx, parent))
    # Then there is exactly one run 1, with every recipient, and the series counted it once
    assert_runs(ctx, parent, [1, 2])
    run = ctx.batches.get(series.child_id(parent.id, 1))
    assert run is not None and run.status is BatchStatus.SCHEDULED
    assert statuses(ctx, run.id) == ["pending", "pending"]
    assert run.scheduled_at == iso(ANCHOR + timedelta(hours=1))


def test_conditional_puts_guard_recipients_even_before_the_meta_exists(ctx: Context) -> None:
    # Given a recipient another spawner wrote and a dialer claimed, its run's META not yet seen
    parent = hourly_parent_with_first_run_ended(ctx)
    run = series.spawn_next(ctx, parent)
    assert run is not None
    recipients = ctx.recipients.in_batch(run.id)
    set_recipient_status(ctx, run.id, "R#0000001", "calling")
    ctx.db.delete_item(
        TableName=ctx.settings.table_name, Key=serialize({"pk": keys.batch_pk(run.id), "sk": keys.BATCH_META})
    )
    # When the run is created again
    assert ctx.batches.create(run, recipients) is True
    # Then the claimed recipient kept its status: only the missing META was written
    assert statuses(ctx, run.id) == ["calling", "pending"]


def test_a_series_cancelled_after_the_claim_gets_no_run(ctx: Context, clock: Clock) -> None:
    # Given a spawner that claimed the next occurrence, overtaken by a cancel of the series
    parent = hourly_parent_with_first_run_ended(ctx)
    overtaken = make_context(
        clock=clock, db=InterruptedDynamo(ctx.db, 2, lambda: cancel(ctx, DEMO_ACCOUNT_ID, parent.id))
    )
    # When it goes on to make the run
    assert series.spawn_next(overtaken, parent) is None
    # Then there is no run a cancelled series would dial
    assert fresh(ctx, parent).status is BatchStatus.CANCELLED
    assert ctx.batches.get(series.child_id(parent.id, 1)) is None


def test_an_occurrence_claimed_before_a_long_pause_is_missed_not_dialed_late(
    ctx: Context, clock: Clock
) -> None:
    # Given a spawner that died after its claim, and the series paused right then
    parent = hourly_parent_with_first_run_ended(ctx)
    with pytest.raises(Crash):
        series.spawn_next(make_context(clock=clock, db=CrashingDynamo(ctx.db, 2, after=False)), parent)
    series.pause_series(ctx, DEMO_ACCOUNT_ID, parent.id)
    # When it is resumed days later
    clock.now = START + timedelta(days=3)
    series.resume_series(ctx, DEMO_ACCOUNT_ID, parent.id)
    # Then the claimed occurrence was missed and the next one due from now is the run
    assert ctx.batches.get(series.child_id(parent.id, 1)) is None
    runs = ctx.batches.runs_of(parent.id)
    assert len(runs) == 2
    # (hourly from START + 1 h: the occurrence at START + 72 h is the 72nd)
    assert sorted(r.occurrence_number or 0 for r in runs) == [1, 72]
