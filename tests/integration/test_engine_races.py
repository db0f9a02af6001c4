"""The dialer and the call_status handler under duplicate deliveries, duplicated and
reordered callbacks, and forged signatures (real DynamoDB semantics from moto)."""

from __future__ import annotations

import itertools

import pytest

from batchcalls.domain.errors import Forbidden
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch
from batchcalls.services.call_status import apply_call_status
from batchcalls.services.callbacks import status_callback_url
from batchcalls.services.context import Context
from batchcalls.services.dial import dial
from local.seed import DEMO_ACCOUNT_ID, DEMO_CALLER_ID
from tests import helpers
from tests.helpers import answered, free_throttles, sign
from tests.helpers import dial_message as message

BASE = "https://api.example.test/v1"


@pytest.fixture
def settings_overrides() -> dict[str, object]:
    return {"public_base_url": BASE}  # the callbacks these tests sign are addressed to it


@pytest.fixture
def ctx(ctx: Context) -> Context:
    free_throttles(ctx, DEMO_ACCOUNT_ID)  # calls these tests dial never end
    return ctx


def make_batch(ctx: Context, numbers: list[str], status: BatchStatus = BatchStatus.RUNNING) -> Batch:
    """A batch of the demo account, under its caller ID."""
    return helpers.make_batch(ctx, DEMO_ACCOUNT_ID, numbers, caller_id=DEMO_CALLER_ID, status=status)


def callback(ctx: Context, batch: Batch, status: str, ticket: str = "1:1", **extra: str) -> str:
    query = {"batch_id": batch.id, "rk": "R#0000001", "ticket": ticket}
    form = {"CallSid": "CA1", "CallStatus": status, **extra}
    url = status_callback_url(BASE, batch.id, "R#0000001", ticket)
    return apply_call_status(ctx, BASE, query, form, sign(url, form))


def test_duplicate_delivery_dials_once(ctx: Context) -> None:
    batch = make_batch(ctx, ["+14155551234"])
    assert dial(ctx, message(batch)) == "dialed"
    assert dial(ctx, message(batch)) == "duplicate"
    assert len(ctx.provider.placed) == 1  # type: ignore[attr-defined]
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None
    assert recipient.status is RecipientStatus.CALLING
    assert recipient.attempts == 1
    assert recipient.call_id == "CA" + "1".zfill(32)
    # The duplicate answered no task token (the first delivery's call will).
    assert answered(ctx) == []


def test_concurrent_duplicate_deliveries_dial_once(ctx: Context) -> None:
    from concurrent.futures import ThreadPoolExecutor

    batch = make_batch(ctx, ["+14155551234"])
    with ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(lambda _: dial(ctx, message(batch)), range(8)))
    assert outcomes.count("dialed") == 1
    assert len(ctx.provider.placed) == 1  # type: ignore[attr-defined]


def test_callback_for_cancelled_batch_message_skips(ctx: Context) -> None:
    batch = make_batch(ctx, ["+14155551234"], status=BatchStatus.CANCELLED)
    assert dial(ctx, message(batch)) == "skipped"
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.status is RecipientStatus.SKIPPED
    after = ctx.batches.get(batch.id)
    assert after is not None and after.skipped_count == 1
    assert ctx.provider.placed == []  # type: ignore[attr-defined]


SEQUENCE = ["initiated", "ringing", "in-progress", "completed"]


@pytest.mark.parametrize("order", list(itertools.permutations(SEQUENCE))[::3])
def test_reordered_and_duplicated_callbacks_end_completed_once(ctx: Context, order: tuple[str, ...]) -> None:
    batch = make_batch(ctx, ["+14155551234"])
    dial(ctx, message(batch, token="tok"))
    outcomes = [callback(ctx, batch, status, CallDuration="42") for status in order + order]
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    after = ctx.batches.get(batch.id)
    assert recipient is not None and after is not None
    assert recipient.status is RecipientStatus.COMPLETED
    assert recipient.duration_seconds == 42
    assert outcomes.count("finished") == 1
    assert after.completed_count == 1 and after.failed_count == 0
    # The Map child's token is answered exactly once, by the final transition.
    assert answered(ctx) == ["completed"]


def test_status_never_moves_backwards(ctx: Context) -> None:
    batch = make_batch(ctx, ["+14155551234"])
    dial(ctx, message(batch))
    assert callback(ctx, batch, "in-progress", AnsweredBy="human") == "advanced"
    assert callback(ctx, batch, "ringing") == "stale"
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.status is RecipientStatus.IN_PROGRESS
    assert recipient.answered_by == "human"


def test_callback_of_an_old_attempt_is_ignored(ctx: Context) -> None:
    batch = make_batch(ctx, ["+14155551234"])
    dial(ctx, message(batch))
    assert callback(ctx, batch, "completed", ticket="1:7") == "stale"
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.status is RecipientStatus.CALLING


def test_forged_signature_is_refused_and_changes_nothing(ctx: Context) -> None:
    batch = make_batch(ctx, ["+14155551234"])
    dial(ctx, message(batch))
    query = {"batch_id": batch.id, "rk": "R#0000001", "ticket": "1:1"}
    form = {"CallSid": "CA1", "CallStatus": "completed"}
    url = status_callback_url(BASE, batch.id, "R#0000001", "1:1")
    forged = sign(url, form, auth_token="not-the-token")
    with pytest.raises(Forbidden):
        apply_call_status(ctx, BASE, query, form, forged)
    tampered = sign(url, {**form, "CallStatus": "busy"})
    with pytest.raises(Forbidden):
        apply_call_status(ctx, BASE, query, form, tampered)
    with pytest.raises(Forbidden):
        apply_call_status(ctx, BASE, query, form, "")
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    after = ctx.batches.get(batch.id)
    assert recipient is not None and recipient.status is RecipientStatus.CALLING
    assert after is not None and after.completed_count == 0


def test_busy_counts_as_failed_with_reason(ctx: Context) -> None:
    batch = make_batch(ctx, ["+14155551237"])
    dial(ctx, message(batch))
    assert callback(ctx, batch, "busy", SipResponseCode="486") == "finished"
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    after = ctx.batches.get(batch.id)
    assert recipient is not None and recipient.status is RecipientStatus.BUSY
    assert recipient.error_message == "Line busy (SIP 486)"
    assert after is not None and after.failed_count == 1 and after.completed_count == 0


def test_lost_answer_from_the_provider_is_never_redialed(ctx: Context) -> None:
    from batchcalls.telephony.port import CallOutcomeUnknown

    batch = make_batch(ctx, ["+14155551234"])
    provider = ctx.provider
    provider.fail_with = CallOutcomeUnknown("read timeout")  # type: ignore[attr-defined]
    assert dial(ctx, message(batch)) == "unknown"
    provider.fail_with = None  # type: ignore[attr-defined]
    assert dial(ctx, message(batch)) == "duplicate"  # the redelivery does not dial again
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.status is RecipientStatus.CALLING
    assert provider.placed == []  # type: ignore[attr-defined]


def test_provider_down_gives_the_claim_back_for_the_redelivery(ctx: Context) -> None:
    from batchcalls.telephony.port import ProviderUnavailable

    batch = make_batch(ctx, ["+14155551234"])
    provider = ctx.provider
    provider.fail_with = ProviderUnavailable("connection refused")  # type: ignore[attr-defined]
    with pytest.raises(ProviderUnavailable):
        dial(ctx, message(batch))
    provider.fail_with = None  # type: ignore[attr-defined]
    assert dial(ctx, message(batch)) == "dialed"
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert recipient is not None and recipient.attempts == 1 and recipient.status is RecipientStatus.CALLING


def test_rejected_call_fails_the_recipient_and_answers_the_token(ctx: Context) -> None:
    from batchcalls.telephony.port import CallRejected

    batch = make_batch(ctx, ["+14155551234"])
    ctx.provider.fail_with = CallRejected("The 'To' number is not valid")  # type: ignore[attr-defined]
    assert dial(ctx, message(batch, token="t")) == "failed"
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    after = ctx.batches.get(batch.id)
    assert recipient is not None and recipient.status is RecipientStatus.FAILED
    assert recipient.error_message == "Call rejected: The 'To' number is not valid"
    assert after is not None and after.failed_count == 1
    assert answered(ctx) == ["failed"]


def test_refused_credentials_fail_the_batch_and_keep_the_recipient_pending(ctx: Context) -> None:
    from batchcalls.telephony.port import ProviderAuthError

    batch = make_batch(ctx, ["+14155551234"])
    ctx.provider.fail_with = ProviderAuthError("Authenticate")  # type: ignore[attr-defined]
    assert dial(ctx, message(batch)) == "deferred"
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    after = ctx.batches.get(batch.id)
    assert recipient is not None and recipient.status is RecipientStatus.PENDING
    assert after is not None and after.status is BatchStatus.FAILED
    assert "credentials" in (after.failure_reason or "")


def test_number_from_the_manifest_needs_no_read(ctx: Context) -> None:
    batch = make_batch(ctx, ["+14155551234"])
    msg = message(batch).model_copy(update={"to": "+14155551234"})
    assert dial(ctx, msg) == "dialed"
    assert ctx.provider.placed[0].to == "+14155551234"  # type: ignore[attr-defined]


def test_deactivated_caller_id_fails_the_batch_before_dialing(ctx: Context) -> None:
    from batchcalls.models.domain import CallerNumber

    batch = make_batch(ctx, ["+14155551234"])
    ctx.accounts.put_caller_number(DEMO_ACCOUNT_ID, CallerNumber(phone_number="+16045551234", active=False))
    try:
        assert dial(ctx, message(batch, token="t")) == "deferred"
        after = ctx.batches.get(batch.id)
        recipient = ctx.recipients.get(batch.id, "R#0000001")
        assert after is not None and after.status is BatchStatus.FAILED
        assert "no longer an active number" in (after.failure_reason or "")
        assert recipient is not None and recipient.status is RecipientStatus.PENDING
        assert ctx.provider.placed == []  # type: ignore[attr-defined]
    finally:
        ctx.accounts.put_caller_number(
            DEMO_ACCOUNT_ID, CallerNumber(phone_number="+16045551234", active=True, agent_id="agent-demo")
        )


def test_caller_id_refused_by_the_provider_fails_the_batch(ctx: Context) -> None:
    from batchcalls.telephony.port import CallerIdRejected

    batch = make_batch(ctx, ["+14155551234"])
    ctx.provider.fail_with = CallerIdRejected("not a verified caller ID")  # type: ignore[attr-defined]
    assert dial(ctx, message(batch)) == "deferred"
    after = ctx.batches.get(batch.id)
    recipient = ctx.recipients.get(batch.id, "R#0000001")
    assert after is not None and after.status is BatchStatus.FAILED
    assert "caller ID +16045551234 was refused" in (after.failure_reason or "")
    assert recipient is not None and recipient.status is RecipientStatus.PENDING and recipient.attempts == 0
