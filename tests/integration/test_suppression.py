"""The do-not-call check inside the dialer's claim transaction (real DynamoDB semantics, moto):
a number suppressed after its batch was planned is skipped with no call, no fee and no slot."""

from __future__ import annotations

from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.services.context import Context
from batchcalls.services.dial import SUPPRESSED, dial
from tests.helpers import dial_message as message
from tests.helpers import make_batch, new_account


def test_a_number_suppressed_after_planning_is_skipped_without_a_call_or_a_fee(ctx: Context) -> None:
    account_id = new_account(ctx, balance=100_000)
    batch = make_batch(ctx, account_id, 2)
    first = ctx.recipients.get(batch.id, "R#0000001")
    assert first is not None
    ctx.suppression.add(account_id, [first.phone_number], ctx.now_iso(), "asked to stop")

    assert dial(ctx, message(batch, 1)) == "skipped"
    assert dial(ctx, message(batch, 1)) == "duplicate"  # a redelivery changes nothing
    assert dial(ctx, message(batch, 2)) == "dialed"

    skipped = ctx.recipients.get(batch.id, "R#0000001")
    assert skipped is not None and skipped.status is RecipientStatus.SKIPPED
    assert skipped.error_message == SUPPRESSED and skipped.attempts == 0
    assert [c.to for c in ctx.provider.placed] == ["+14155550001"]  # type: ignore[attr-defined]
    assert ctx.credits.balance(account_id) == 100_000 - ctx.settings.dial_fee_micros
    holders = ctx.slots.holders(account_id) or {}
    assert len(holders) == 1  # only the dialed call holds a slot
    after = ctx.batches.get(batch.id)
    assert after is not None and after.skipped_count == 1


def test_the_list_normalises_and_reports_membership(ctx: Context) -> None:
    account_id = new_account(ctx, balance=0)
    ctx.suppression.add(account_id, ["+14155550101", "+14155550102"], ctx.now_iso())
    assert ctx.suppression.suppressed(account_id, ["+14155550101", "+14155550199"]) == {"+14155550101"}
    assert ctx.suppression.suppressed("someone-else", ["+14155550101"]) == set()
    assert ctx.suppression.remove(account_id, "+14155550101")
    assert not ctx.suppression.remove(account_id, "+14155550101")
    entries, cursor = ctx.suppression.page(account_id, limit=10)
    assert [e["phone_number"] for e in entries] == ["+14155550102"] and cursor is None
