"""A batch that changes between the dialer's read and its claim: the claim transaction refuses
(the batch no longer runs this run), gives the slot back, takes no fee, and the dial decides
again from the batch as it is now — once (real DynamoDB semantics, moto)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from batchcalls.domain.lifecycle import BatchStatus, PausedReason
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch
from batchcalls.services.context import Context
from batchcalls.services.dial import dial
from tests.helpers import FakeProvider, answered, make_batch, make_context, new_account
from tests.helpers import dial_message as message

BALANCE = 1_000_000
FEE = 5_000


class Dialer:
    """A context whose pacing wait runs ``meanwhile`` once: what happens between the dialer's
    read of the batch (and its slot) and its claim."""

    def __init__(self) -> None:
        self.meanwhile: Callable[[], object] | None = None
        self.provider = FakeProvider()
        self.ctx = make_context(
            sleep=self._sleep, provider=self.provider, public_base_url="https://api.example.test/v1"
        )

    def _sleep(self, _seconds: float) -> None:
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            meanwhile()


@pytest.fixture
def dialer(quiet_stack: object) -> Dialer:
    return Dialer()


def running_batch(ctx: Context, n: int) -> Batch:
    """A running batch of ``n`` recipients, of a new account with credits and one call start
    per second (a second dial right after the first waits for its start)."""
    return make_batch(ctx, new_account(ctx, BALANCE, cps=1, rate=0), n)


def test_a_batch_cancelled_before_the_claim_skips_the_recipient_without_a_call_or_a_fee(
    dialer: Dialer,
) -> None:
    ctx = dialer.ctx
    # Given a running batch whose first call is placed
    batch = running_batch(ctx, 2)
    assert dial(ctx, message(batch, 1)) == "dialed"

    # When the batch is cancelled while the second dial waits for its start
    dialer.meanwhile = lambda: ctx.batches.cancel(batch, BatchStatus.CANCELLED, ctx.now_iso())
    outcome = dial(ctx, message(batch, 2))

    # Then it decided again from the cancelled batch: skipped, never dialed nor charged
    assert outcome == "skipped"
    assert dialer.meanwhile is None  # the claim came after the change
    assert len(dialer.provider.placed) == 1
    second = ctx.recipients.get(batch.id, "R#0000002")
    assert second is not None and second.status is RecipientStatus.SKIPPED
    assert second.attempts == 0 and second.cost_micros == 0
    assert ctx.credits.balance(batch.account_id) == BALANCE - FEE
    assert len(ctx.slots.holders(batch.account_id) or {}) == 1  # only the first call's slot
    assert answered(ctx) == ["skipped"]


def test_a_batch_paused_before_the_claim_defers_the_recipient(dialer: Dialer) -> None:
    ctx = dialer.ctx
    # Given a running batch whose first call is placed
    batch = running_batch(ctx, 2)
    assert dial(ctx, message(batch, 1)) == "dialed"

    # When the batch is paused while the second dial waits for its start
    dialer.meanwhile = lambda: ctx.batches.pause(
        batch, BatchStatus.PAUSED, PausedReason.MANUAL, ctx.now_iso()
    )
    outcome = dial(ctx, message(batch, 2))

    # Then it is deferred in this pass: still pending, its slot given back, no fee taken
    assert outcome == "deferred"
    second = ctx.recipients.get(batch.id, "R#0000002")
    assert second is not None and second.status is RecipientStatus.PENDING
    assert second.ticket == "1:1" and second.attempts == 0
    assert ctx.credits.balance(batch.account_id) == BALANCE - FEE
    assert len(ctx.slots.holders(batch.account_id) or {}) == 1
    # …and a second delivery of the message finds it dealt with
    assert dial(ctx, message(batch, 2)) == "duplicate"
    assert answered(ctx) == ["deferred"]
