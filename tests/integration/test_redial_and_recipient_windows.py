"""Automatic redial (retry_policy) and recipient-local call windows in the dialer and the
status callback (moto, an injected clock, a recording provider)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch
from batchcalls.services.call_status import apply_call_status
from batchcalls.services.callbacks import status_callback_url
from batchcalls.services.context import Context
from batchcalls.services.dial import dial
from batchcalls.services.lifecycle import cancel
from batchcalls.services.plan import plan_pass
from batchcalls.services.settle import NextPass
from local.seed import DEMO_ACCOUNT_ID
from tests.helpers import Clock, create_from_request, free_throttles, set_batch_fields, sign
from tests.helpers import dial_message as message

BASE = "https://api.example.test/v1"
# Tuesday 2026-11-24 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles, 15:00 in London.
TUESDAY = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
NEW_YORK = "+12125550100"
LOS_ANGELES = "+13105550100"
LONDON = "+442071838750"


@pytest.fixture
def clock() -> Clock:
    return Clock(TUESDAY)  # the zones' local times and the redial delays are the tests' subject


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_base_url": BASE}  # the callbacks these tests sign are addressed to it


@pytest.fixture
def ctx(ctx: Context) -> Context:
    free_throttles(ctx, DEMO_ACCOUNT_ID)  # dialed by hand, with a clock of its own
    return ctx


def draft(ctx: Context, recipients: list[dict[str, Any]], **extra: Any) -> Batch:
    """A batch made running by hand at pass 1 (no state machine: the test is the engine)."""
    batch = create_from_request(ctx, name="t", status="draft", recipients=recipients, **extra)
    running = set_batch_fields(ctx, batch.id, status="running", run_number=1, pass_number=1)
    assert running is not None
    return running


def callback(ctx: Context, batch: Batch, seq: int, status: str, ticket: str = "1:1", **extra: str) -> str:
    rk = f"R#{seq:07d}"
    query = {"batch_id": batch.id, "rk": rk, "ticket": ticket}
    form = {"CallSid": f"CA{seq}{ticket}", "CallStatus": status, **extra}
    url = status_callback_url(BASE, batch.id, rk, ticket)
    return apply_call_status(ctx, BASE, query, form, sign(url, form))


POLICY = {"on": ["busy", "no_answer"], "max_attempts": 3, "delay_minutes": 10}


def test_a_busy_recipient_is_redialed_after_the_delay_and_counted_once(ctx: Context, clock: Clock) -> None:
    batch = draft(ctx, [{"phone_number": "+14155550101"}], retry_policy=POLICY)
    assert dial(ctx, message(batch, 1)) == "dialed"
    assert callback(ctx, batch, 1, "busy") == "finished"

    waiting = ctx.recipients.get(batch.id, "R#0000001")
    assert waiting is not None and waiting.status is RecipientStatus.PENDING
    assert waiting.next_attempt_at == iso(TUESDAY + timedelta(minutes=10))
    assert [a["outcome"] for a in waiting.attempt_history] == ["busy"]
    after = ctx.batches.get(batch.id)
    assert after is not None and after.failed_count == 0  # not a final outcome yet
    # A pass before the delay leaves it out; the settle makes the batch due at its time.
    set_batch_fields(ctx, batch.id, pass_number=2)
    from batchcalls.models.messages import RunPass

    assert plan_pass(ctx, RunPass(batch_id=batch.id, run=1, pass_number=2)).count == 0
    next_pass = NextPass(ctx)
    next_pass.add(waiting)
    assert next_pass.at() == iso(TUESDAY + timedelta(minutes=10))

    clock.now = TUESDAY + timedelta(minutes=11)
    set_batch_fields(ctx, batch.id, pass_number=3)
    assert plan_pass(ctx, RunPass(batch_id=batch.id, run=1, pass_number=3)).count == 1
    assert dial(ctx, message(batch, 1, pass_number=3)) == "dialed"
    assert callback(ctx, batch, 1, "completed", ticket="1:3", CallDuration="30") == "finished"

    done = ctx.recipients.get(batch.id, "R#0000001")
    assert done is not None and done.status is RecipientStatus.COMPLETED and done.attempts == 2
    assert [a["outcome"] for a in done.attempt_history] == ["busy", "completed"]
    assert done.attempt_history[1]["duration_seconds"] == 30
    final = ctx.batches.get(batch.id)
    assert final is not None and final.completed_count == 1 and final.failed_count == 0
    assert len(ctx.provider.placed) == 2  # type: ignore[attr-defined]


def test_redials_stop_at_max_attempts_and_skip_outcomes_not_named(ctx: Context, clock: Clock) -> None:
    batch = draft(
        ctx,
        [{"phone_number": "+14155550102"}, {"phone_number": "+14155550103"}],
        retry_policy={"on": ["no_answer"], "max_attempts": 2, "delay_minutes": 0},
    )
    assert dial(ctx, message(batch, 1)) == "dialed"
    assert dial(ctx, message(batch, 2)) == "dialed"
    assert callback(ctx, batch, 2, "busy") == "finished"  # busy is not in `on`: final at once
    second = ctx.recipients.get(batch.id, "R#0000002")
    assert second is not None and second.status is RecipientStatus.BUSY

    assert callback(ctx, batch, 1, "no-answer") == "finished"
    first = ctx.recipients.get(batch.id, "R#0000001")
    assert first is not None and first.status is RecipientStatus.PENDING
    assert dial(ctx, message(batch, 1, pass_number=2)) == "dialed"
    assert callback(ctx, batch, 1, "no-answer", ticket="1:2") == "finished"
    first = ctx.recipients.get(batch.id, "R#0000001")
    assert first is not None and first.status is RecipientStatus.NO_ANSWER and first.attempts == 2
    assert len(first.attempt_history) == 2
    final = ctx.batches.get(batch.id)
    assert final is not None and final.failed_count == 2


def test_recipient_windows_dial_only_where_the_window_is_open(ctx: Context) -> None:
    batch = draft(
        ctx,
        [
            {"phone_number": NEW_YORK},
            {"phone_number": LOS_ANGELES},
            {"phone_number": LONDON},
            {"phone_number": "+14155550104", "timezone": "Asia/Tokyo"},  # 00:00 in Tokyo
        ],
        window_timezone="recipient",
        window_start_time="09:00",
        window_end_time="17:00",
        window_days=[1, 2, 3, 4, 5],
    )
    outcomes = [dial(ctx, message(batch, seq)) for seq in range(1, 5)]
    assert outcomes == ["dialed", "deferred", "dialed", "deferred"]
    assert [r.to for r in ctx.provider.placed] == [NEW_YORK, LONDON]  # type: ignore[attr-defined]
    la = ctx.recipients.get(batch.id, "R#0000002")
    assert la is not None and la.next_attempt_at == iso(datetime(2026, 11, 24, 17, 0, tzinfo=UTC))  # 09:00 LA
    tokyo = ctx.recipients.get(batch.id, "R#0000004")
    assert tokyo is not None and tokyo.next_attempt_at == iso(datetime(2026, 11, 25, 0, 0, tzinfo=UTC))
    # The batch itself is not paused: each recipient waits for its own window.
    running = ctx.batches.get(batch.id)
    assert running is not None and running.status is BatchStatus.RUNNING


def test_a_number_whose_zones_never_share_the_window_is_skipped(ctx: Context) -> None:
    batch = draft(
        ctx,
        [{"phone_number": "+18005550199"}],  # US toll-free: 42 zones from Guam to Pago Pago
        window_timezone="recipient",
        window_start_time="09:00",
        window_end_time="17:00",
    )
    assert dial(ctx, message(batch, 1)) == "skipped"
    skipped = ctx.recipients.get(batch.id, "R#0000001")
    assert skipped is not None and skipped.status is RecipientStatus.SKIPPED
    assert "never opens" in (skipped.error_message or "")


def test_no_redial_for_a_call_that_ends_after_its_batch_was_cancelled(ctx: Context) -> None:
    batch = draft(ctx, [{"phone_number": "+14155550111"}], retry_policy=POLICY)
    assert dial(ctx, message(batch, 1)) == "dialed"
    cancel(ctx, DEMO_ACCOUNT_ID, batch.id)  # the call is in progress: it finishes and reports
    assert callback(ctx, batch, 1, "busy") == "finished"

    ended = ctx.recipients.get(batch.id, "R#0000001")
    assert ended is not None and ended.status is RecipientStatus.BUSY  # final, not pending again
    after = ctx.batches.get(batch.id)
    assert after is not None and after.failed_count == 1
