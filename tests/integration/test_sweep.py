"""The stuck-call sweep: calls whose final status never came and that have no Map child left
(a cancel stopped the pass) are reconciled with the provider or failed — once, even with two
sweeps at once — and their concurrency leases are released (real DynamoDB semantics, moto)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch
from batchcalls.services.context import Context
from batchcalls.services.dial import dial
from batchcalls.services.sweep import STUCK_CALL, sweep
from batchcalls.services.tick import tick
from batchcalls.telephony.port import ProviderCall
from tests.helpers import RATE, Clock, make_batch, new_account
from tests.helpers import dial_message as message

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Clock:
    return Clock(START)  # the tests move it past a call's maximum time


def dialed_batch(ctx: Context, n: int) -> tuple[str, Batch]:
    """An account and a running batch whose n recipients are all in a call (dialed, no Map
    child will ever answer: as after a cancel stopped the pass)."""
    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, n)
    for seq in range(1, n + 1):
        assert dial(ctx, message(batch, seq)) == "dialed"
    return account_id, batch


def past_the_stuck_time(ctx: Context, clock: Clock) -> None:
    clock.now = START + timedelta(seconds=ctx.settings.stuck_call_after_seconds + 1)


def test_a_call_not_yet_past_its_maximum_time_is_left_alone(ctx: Context, clock: Clock) -> None:
    _, batch = dialed_batch(ctx, 1)
    clock.now = START + timedelta(seconds=ctx.settings.stuck_call_after_seconds - 5)
    sweep(ctx)
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.status is RecipientStatus.CALLING
    assert ctx.provider.hung_up == []  # type: ignore[attr-defined]


def test_a_stuck_call_takes_the_providers_final_status_and_is_billed_once(ctx: Context, clock: Clock) -> None:
    account_id, batch = dialed_batch(ctx, 1)
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.call_id
    ctx.provider.fetched[recipient.call_id] = ProviderCall(  # type: ignore[attr-defined]
        call_id=recipient.call_id, status="completed", duration_seconds=61, answered_by="human"
    )
    assert ctx.slots.holders(account_id)  # the call holds a slot
    past_the_stuck_time(ctx, clock)

    first = tick(ctx)
    second = tick(ctx)

    assert first["stuck_calls"] >= 1 and second["stuck_calls"] == 0
    ended = ctx.recipients.get(batch.id, "R#0000001")
    assert ended is not None and ended.status is RecipientStatus.COMPLETED
    assert ended.duration_seconds == 61 and ended.answered_by == "human"
    assert ctx.slots.holders(account_id) == {}
    minutes = [e for e in ctx.credits.ledger_all(account_id) if e.kind == "call_minutes"]
    assert [e.amount_micros for e in minutes] == [-2 * RATE]  # two started minutes, once
    after = ctx.batches.get(batch.id)
    assert after is not None and after.completed_count == 1
    assert (batch.id, "R#0000001") not in set(ctx.recipients.stuck_calls("9999"))


def test_a_stuck_call_the_provider_still_shows_live_is_hung_up_and_failed(ctx: Context, clock: Clock) -> None:
    account_id, batch = dialed_batch(ctx, 1)
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.call_id
    past_the_stuck_time(ctx, clock)

    sweep(ctx)

    ended = ctx.recipients.get(batch.id, "R#0000001")
    assert ended is not None and ended.status is RecipientStatus.FAILED
    assert ended.error_message == STUCK_CALL
    assert recipient.call_id in ctx.provider.hung_up  # type: ignore[attr-defined]
    assert ctx.slots.holders(account_id) == {}


def test_two_sweeps_at_once_end_every_stuck_call_exactly_once(ctx: Context, clock: Clock) -> None:
    account_id, batch = dialed_batch(ctx, 6)
    for seq in range(1, 7):
        recipient = ctx.recipients.get(batch.id, f"R#{seq:07d}")
        assert recipient is not None and recipient.call_id
        ctx.provider.fetched[recipient.call_id] = ProviderCall(  # type: ignore[attr-defined]
            call_id=recipient.call_id, status="completed", duration_seconds=30
        )
    past_the_stuck_time(ctx, clock)

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: sweep(ctx), range(2)))

    assert sum(r["stuck_calls"] for r in results) >= 6
    after = ctx.batches.get(batch.id)
    assert after is not None and after.completed_count == 6 and after.failed_count == 0
    minutes = [e for e in ctx.credits.ledger_all(account_id) if e.kind == "call_minutes"]
    assert len(minutes) == 6  # one charge per call, however many sweeps saw it
    assert ctx.slots.holders(account_id) == {}


def test_the_sweep_releases_expired_leases_of_holders_that_died(ctx: Context, clock: Clock) -> None:
    account_id, _ = dialed_batch(ctx, 1)
    epoch = int(START.timestamp())
    # Another system (or a dialer killed before its claim) took a slot and vanished.
    assert ctx.slots.acquire(account_id, "vanished", 50, epoch + 60, epoch)
    assert ctx.slots.acquire(
        account_id, "alive", 50, epoch + 10 * ctx.settings.stuck_call_after_seconds, epoch
    )
    past_the_stuck_time(ctx, clock)

    sweep(ctx)

    assert set(ctx.slots.holders(account_id) or {}) == {"alive"}
