"""Credits, the ledger and call pacing in the dialer (real DynamoDB semantics from moto)."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from batchcalls.domain.clock import parse_iso
from batchcalls.domain.lifecycle import BatchStatus, PausedReason
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch, Recipient
from batchcalls.models.messages import DialMessage, LostCall
from batchcalls.services import account as account_service
from batchcalls.services.call_status import apply_call_status
from batchcalls.services.callbacks import status_callback_url
from batchcalls.services.context import Context
from batchcalls.services.dial import DialLater, dial
from batchcalls.services.lost_call import record_lost_call
from tests.helpers import RATE, answered, make_batch, new_account, sign
from tests.helpers import dial_message as message

BASE = "https://api.example.test/v1"
FEE = 5_000


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_base_url": BASE}  # the callbacks these tests sign are addressed to it


def redeliver(ctx: Context, msg: DialMessage) -> str:
    """Dial as SQS would deliver: a dial told to come back later (no slot, pacing) comes back."""
    while True:
        try:
            return dial(ctx, msg)
        except DialLater:
            continue


def ledger_sum(ctx: Context, account_id: str) -> int:
    return sum(e.amount_micros for e in ctx.credits.ledger_all(account_id))


def test_fifty_concurrent_dial_fees_against_ten_fees_of_credit(ctx: Context) -> None:
    account_id = new_account(ctx, balance=10 * FEE)
    batch = make_batch(ctx, account_id, 50)
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(pool.map(lambda seq: redeliver(ctx, message(batch, seq)), range(1, 51)))

    assert outcomes.count("dialed") == 10
    assert len(ctx.provider.placed) == 10  # type: ignore[attr-defined]
    assert ctx.credits.balance(account_id) == 0
    fees = [e for e in ctx.credits.ledger_all(account_id) if e.kind == "dial_fee"]
    assert len(fees) == 10 and all(e.amount_micros == -FEE for e in fees)
    assert ledger_sum(ctx, account_id) == ctx.credits.balance(account_id)
    paused = ctx.batches.get(batch.id)
    assert paused is not None and paused.status is BatchStatus.PAUSED
    assert paused.paused_reason == PausedReason.INSUFFICIENT_CREDITS
    recipients = list(ctx.recipients.in_batch(batch.id))
    assert sum(r.status is RecipientStatus.CALLING for r in recipients) == 10
    assert sum(r.status is RecipientStatus.PENDING for r in recipients) == 40  # nothing skipped

    # Replays of every message charge nothing and dial nothing.
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda seq: redeliver(ctx, message(batch, seq)), range(1, 51)))
    assert len(ctx.provider.placed) == 10  # type: ignore[attr-defined]
    assert ctx.credits.balance(account_id) == 0
    assert len(ctx.credits.ledger_all(account_id)) == 11  # the opening top-up and ten fees


def callback(ctx: Context, batch: Batch, seq: int, status: str, **extra: str) -> str:
    rk = f"R#{seq:07d}"
    query = {"batch_id": batch.id, "rk": rk, "ticket": "1:1"}
    form = {"CallSid": f"CA-{batch.id[:8]}-{seq}", "CallStatus": status, **extra}
    url = status_callback_url(BASE, batch.id, rk, "1:1")
    return apply_call_status(ctx, BASE, query, form, sign(url, form))


def test_call_minutes_are_charged_once_per_started_minute(ctx: Context) -> None:
    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 2)
    assert dial(ctx, message(batch, 1)) == "dialed"
    assert dial(ctx, message(batch, 2)) == "dialed"
    assert callback(ctx, batch, 1, "completed", CallDuration="61") == "finished"
    assert callback(ctx, batch, 1, "completed", CallDuration="61") == "stale"  # a replay
    assert callback(ctx, batch, 2, "no-answer", CallDuration="0") == "finished"

    minutes = [e for e in ctx.credits.ledger_all(account_id) if e.kind == "call_minutes"]
    assert [(e.amount_micros, e.recipient_key, e.note) for e in minutes] == [
        (-2 * RATE, "R#0000001", "2 min")
    ]
    assert ctx.credits.balance(account_id) == 1_000_000 - 2 * FEE - 2 * RATE
    assert ledger_sum(ctx, account_id) == ctx.credits.balance(account_id)
    first, second = ctx.recipients.get(batch.id, "R#0000001"), ctx.recipients.get(batch.id, "R#0000002")
    assert first is not None and first.cost_micros == FEE + 2 * RATE
    assert second is not None and second.cost_micros == FEE


def test_a_top_up_resumes_batches_paused_for_credits_when_the_account_asks(ctx: Context) -> None:
    account_id = new_account(ctx, balance=FEE, resume_after_top_up=True)
    batch = make_batch(ctx, account_id, 3)
    assert dial(ctx, message(batch, 1)) == "dialed"
    assert dial(ctx, message(batch, 2)) == "deferred"
    paused = ctx.batches.get(batch.id)
    assert paused is not None and paused.paused_reason == PausedReason.INSUFFICIENT_CREDITS

    result = account_service.add_credits(ctx, account_id, 10 * FEE, ref="card-1")
    assert result.resumed == [batch.id]
    assert result.balance_micros == 10 * FEE
    resumed = ctx.batches.get(batch.id)
    assert resumed is not None and resumed.status is BatchStatus.RUNNING and resumed.paused_reason is None


def test_a_top_up_leaves_the_batch_paused_by_default(ctx: Context) -> None:
    account_id = new_account(ctx, balance=0)
    batch = make_batch(ctx, account_id, 1)
    assert dial(ctx, message(batch, 1)) == "deferred"
    assert account_service.add_credits(ctx, account_id, FEE).resumed == []
    still = ctx.batches.get(batch.id)
    assert still is not None and still.status is BatchStatus.PAUSED


def test_the_ledger_pages_newest_first(ctx: Context) -> None:
    account_id = new_account(ctx, balance=0)
    for n in range(5):
        account_service.add_credits(ctx, account_id, 1000 + n, ref=f"r{n}")
    first = account_service.ledger_page(ctx, account_id, 3, None)
    rest = account_service.ledger_page(ctx, account_id, 3, first.next_cursor)
    amounts = [e.amount_micros for e in first.items + rest.items]
    assert amounts == [1004, 1003, 1002, 1001, 1000]
    assert rest.next_cursor is None


def test_call_starts_never_exceed_the_accounts_calls_per_second(ctx: Context) -> None:
    account_id = new_account(ctx, balance=1_000_000, cps=4)
    batch = make_batch(ctx, account_id, 8)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda seq: redeliver(ctx, message(batch, seq)), range(1, 9)))
    assert outcomes.count("dialed") == 8
    starts = sorted(
        parse_iso(r.attempted_at).timestamp() for r in ctx.recipients.in_batch(batch.id) if r.attempted_at
    )
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 8
    assert min(gaps) >= 0.25 - 0.001  # 4 per second; attempted_at has millisecond resolution
    # At most 4 starts in any one-second window.
    assert max(sum(1 for t in starts if s <= t < s + 1) for s in starts) <= 4
    # …and each call was placed at or after the start it was given.
    given = {
        r.phone_number: parse_iso(r.attempted_at).timestamp()
        for r in ctx.recipients.in_batch(batch.id)
        if r.attempted_at
    }
    placed = zip(ctx.provider.placed, ctx.provider.placed_at, strict=True)  # type: ignore[attr-defined]
    assert all(at >= given[request.to] - 0.001 for request, at in placed)


def test_a_dial_that_would_wait_too_long_for_pacing_comes_back_later(ctx: Context) -> None:
    from batchcalls.services.dial import PacingBusy

    account_id = new_account(ctx, balance=1_000_000, cps=0.1)  # one start per 10 s
    batch = make_batch(ctx, account_id, 2)
    assert dial(ctx, message(batch, 1)) == "dialed"
    started = time.monotonic()
    with pytest.raises(PacingBusy):
        dial(ctx, message(batch, 2))
    assert time.monotonic() - started < 1.5  # it did not sleep out the 10 s
    second = ctx.recipients.get(batch.id, "R#0000002")
    assert second is not None and second.status is RecipientStatus.PENDING
    assert ctx.slots.holders(account_id) is not None
    assert len(ctx.slots.holders(account_id) or {}) == 1  # only the first call's slot is held


def test_a_dial_the_provider_never_took_gives_its_fee_back(ctx: Context) -> None:
    from batchcalls.telephony.port import ProviderUnavailable

    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 1)
    ctx.provider.fail_with = ProviderUnavailable("503")  # type: ignore[attr-defined]
    with pytest.raises(ProviderUnavailable):
        dial(ctx, message(batch, 1))
    waiting = ctx.recipients.get(batch.id, "R#0000001")
    assert waiting is not None and waiting.status is RecipientStatus.PENDING and waiting.cost_micros == 0
    assert ctx.credits.balance(account_id) == 1_000_000
    assert sorted(e.kind for e in ctx.credits.ledger_all(account_id)) == ["dial_fee", "refund", "top_up"]

    ctx.provider.fail_with = None  # type: ignore[attr-defined]
    assert dial(ctx, message(batch, 1)) == "dialed"  # the redelivery pays its fee once
    assert ctx.credits.balance(account_id) == 1_000_000 - FEE
    assert ledger_sum(ctx, account_id) == ctx.credits.balance(account_id)


def test_a_number_the_provider_rejects_fails_without_a_fee(ctx: Context) -> None:
    from batchcalls.telephony.port import CallRejected

    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 1)
    ctx.provider.fail_with = CallRejected("not a mobile number")  # type: ignore[attr-defined]
    assert dial(ctx, message(batch, 1)) == "failed"
    rejected = ctx.recipients.get(batch.id, "R#0000001")
    assert rejected is not None and rejected.status is RecipientStatus.FAILED and rejected.cost_micros == 0
    assert ctx.credits.balance(account_id) == 1_000_000
    assert ledger_sum(ctx, account_id) == ctx.credits.balance(account_id)
    assert ctx.slots.holders(account_id) == {}


def test_a_retried_top_up_with_the_same_ref_is_applied_once(ctx: Context) -> None:
    account_id = new_account(ctx, balance=0)
    first = account_service.add_credits(ctx, account_id, 2_500_000, ref="invoice-42")
    again = account_service.add_credits(ctx, account_id, 2_500_000, ref="invoice-42")
    assert first.applied is True and again.applied is False
    assert ctx.credits.balance(account_id) == 2_500_000
    assert len(ctx.credits.ledger_all(account_id)) == 1


def lose_final_status(ctx: Context, batch: Batch, seq: int) -> Recipient:
    """Dial, then let the Map child time out: the lost-call path hangs the call up (the provider
    says it is still in progress) and ends the attempt failed with no minutes."""
    assert dial(ctx, message(batch, seq)) == "dialed"
    assert record_lost_call(
        ctx, LostCall(batch_id=batch.id, run=1, pass_number=1, recipient_key=f"R#{seq:07d}")
    ) == {"outcome": "failed"}
    ended = ctx.recipients.get(batch.id, f"R#{seq:07d}")
    assert ended is not None and ended.status is RecipientStatus.FAILED and ended.call_id
    return ended


def final_callback(ctx: Context, recipient: Recipient, status: str, **extra: str) -> str:
    """The provider's final callback for the recipient's call (its real call id), first attempt."""
    query = {"batch_id": recipient.batch_id, "rk": recipient.sk, "ticket": "1:1"}
    form = {"CallSid": recipient.call_id or "", "CallStatus": status, **extra}
    url = status_callback_url(BASE, recipient.batch_id, recipient.sk, "1:1")
    return apply_call_status(ctx, BASE, query, form, sign(url, form))


def test_a_final_status_after_the_lost_call_path_bills_its_minutes_once(ctx: Context) -> None:
    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 1)
    ended = lose_final_status(ctx, batch, 1)
    assert ctx.credits.balance(account_id) == 1_000_000 - FEE  # no minutes: none were known
    answered_before = len(answered(ctx))

    assert final_callback(ctx, ended, "completed", CallDuration="125") == "late_final_status"
    assert final_callback(ctx, ended, "completed", CallDuration="125") == "stale"  # a replay

    minutes = [e for e in ctx.credits.ledger_all(account_id) if e.kind == "call_minutes"]
    assert [(e.amount_micros, e.call_id, e.note) for e in minutes] == [(-3 * RATE, ended.call_id, "3 min")]
    assert ctx.credits.balance(account_id) == 1_000_000 - FEE - 3 * RATE
    assert ledger_sum(ctx, account_id) == ctx.credits.balance(account_id)
    after = ctx.recipients.get(batch.id, "R#0000001")
    assert after is not None
    # Nothing but the history and the cost moved: status, attempt, slot, token as the ending left them.
    assert (after.status, after.attempts, after.error_message, after.duration_seconds) == (
        RecipientStatus.FAILED,
        1,
        ended.error_message,
        None,
    )
    assert (after.task_token, after.slot_holder, after.ticket) == (ended.task_token, ended.slot_holder, "1:1")
    assert after.cost_micros == FEE + 3 * RATE
    [attempt] = after.attempt_history
    assert attempt["outcome"] == "completed" and attempt["ended_as"] == "failed"
    assert attempt["duration_seconds"] == 125 and attempt["cost_micros"] == FEE + 3 * RATE
    assert attempt["final_status_lost"] is True and attempt["late_final_status_at"]
    counters = ctx.batches.get(batch.id)
    assert counters is not None and (counters.completed_count, counters.failed_count) == (0, 1)
    assert len(answered(ctx)) == answered_before  # the token was answered by the ending alone
    assert ctx.slots.holders(account_id) == {}


def test_two_late_final_statuses_at_once_bill_once(ctx: Context) -> None:
    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 1)
    ended = lose_final_status(ctx, batch, 1)
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(
            pool.map(lambda _: final_callback(ctx, ended, "completed", CallDuration="61"), range(8))
        )
    assert sorted(outcomes) == ["late_final_status"] + ["stale"] * 7
    assert ctx.credits.balance(account_id) == 1_000_000 - FEE - 2 * RATE
    assert ledger_sum(ctx, account_id) == ctx.credits.balance(account_id)


def test_a_late_final_status_after_a_redial_bills_the_attempt_it_belongs_to(ctx: Context) -> None:
    from batchcalls.domain.retry import RetryPolicy

    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 1, retry_policy=RetryPolicy(on=["failed"]))
    assert dial(ctx, message(batch, 1)) == "dialed"
    record_lost_call(ctx, LostCall(batch_id=batch.id, run=1, pass_number=1, recipient_key="R#0000001"))
    waiting = ctx.recipients.get(batch.id, "R#0000001")
    assert waiting is not None and waiting.status is RecipientStatus.PENDING and waiting.next_attempt_at
    [lost] = waiting.attempt_history
    ended = waiting.model_copy(update={"call_id": lost["call_id"]})

    assert final_callback(ctx, ended, "completed", CallDuration="30") == "late_final_status"
    after = ctx.recipients.get(batch.id, "R#0000001")
    assert after is not None and after.status is RecipientStatus.PENDING
    assert after.next_attempt_at == waiting.next_attempt_at  # the redial stays as planned
    assert after.attempt_history[0]["outcome"] == "completed"
    assert ctx.credits.balance(account_id) == 1_000_000 - FEE - RATE


def test_a_final_status_the_lost_call_path_already_had_is_not_billed_again(ctx: Context) -> None:
    from batchcalls.telephony.port import ProviderCall

    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 1)
    assert dial(ctx, message(batch, 1)) == "dialed"
    calling = ctx.recipients.get(batch.id, "R#0000001")
    assert calling is not None and calling.call_id
    ctx.provider.fetched[calling.call_id] = ProviderCall(  # type: ignore[attr-defined]
        call_id=calling.call_id, status="completed", duration_seconds=125
    )
    record_lost_call(ctx, LostCall(batch_id=batch.id, run=1, pass_number=1, recipient_key="R#0000001"))
    assert final_callback(ctx, calling, "completed", CallDuration="125") == "stale"
    assert ctx.credits.balance(account_id) == 1_000_000 - FEE - 3 * RATE


def test_a_final_status_after_the_stuck_call_sweep_failed_the_call_is_billed(ctx: Context) -> None:
    from batchcalls.services.lost_call import reconcile_attempt
    from batchcalls.services.sweep import STUCK_CALL

    account_id = new_account(ctx, balance=1_000_000)
    batch = make_batch(ctx, account_id, 1)
    assert dial(ctx, message(batch, 1)) == "dialed"
    calling = ctx.recipients.get(batch.id, "R#0000001")
    assert calling is not None
    assert reconcile_attempt(ctx, calling, STUCK_CALL) == "failed"  # what the sweep does with it

    assert final_callback(ctx, calling, "completed", CallDuration="59") == "late_final_status"
    after = ctx.recipients.get(batch.id, "R#0000001")
    assert after is not None and after.status is RecipientStatus.FAILED and after.error_message == STUCK_CALL
    assert after.attempt_history[0]["outcome"] == "completed"
    assert ctx.credits.balance(account_id) == 1_000_000 - FEE - RATE
