"""The dialer: one SQS message = one recipient, one pass, in steps that each hand on what they
decided:

1. the gate (``services/dial_gate.py``): stale run → answer and stop; batch cancelled →
   recipient skipped; batch not running → defer; window closed → defer; the number to dial;
2. an account-wide slot, then a start under the account's calls per second (or come back
   later: ``DialLater``);
3. the claim, ``pending → calling`` (the conditional write that makes a double dial
   impossible; it takes the dial fee, and fails for a suppressed number, which is skipped);
4. place the call;
5. record the provider's call id.

A step that finds the batch changed (the claim refused because it no longer runs this run; the
gate or the claim paused or failed it) says ``AGAIN``: the next decision starts from the gate,
with the batch as it is now — which cannot be "running this run" for the same reason again.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit

from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch, ClaimOutcome, DialClaim, LedgerEntry
from batchcalls.models.messages import DialMessage
from batchcalls.observability import log_keys, metric, subsegment
from batchcalls.services.callbacks import agent_twiml_url, status_callback_url
from batchcalls.services.context import Context
from batchcalls.services.dial_gate import AGAIN, DUPLICATE, Candidate, Decision, Delivery, Done, pass_gate
from batchcalls.telephony.port import (
    CallerIdRejected,
    CallOutcomeUnknown,
    CallRejected,
    CallRequest,
    PlacedCall,
    ProviderAuthError,
)

logger = logging.getLogger(__name__)

SUPPRESSED = "suppressed"  # the skip reason of a number on the account's do-not-call list
NO_SLOT_RETRY_SECONDS = 2
PACING_MAX_WAIT_MS = 2000


class DialLater(Exception):
    """The dial cannot start yet: the message comes back shortly (not lost)."""


class NoSlotAvailable(DialLater):
    """Every slot of the account is busy."""


class PacingBusy(DialLater):
    """The account's next call start is further away than a dialer should sleep."""


def dial(ctx: Context, message: DialMessage) -> str:
    """Handle one dial message; returns what happened (for logs and tests).

    Raises on transient failures (provider unavailable, AWS errors) so SQS delivers again.
    """
    while True:
        decision = _decide(Delivery.at_once(ctx, message))
        if isinstance(decision, Done):
            return decision.outcome


def dial_record(ctx: Context, message: DialMessage) -> str:
    """The SQS entry. A dial that finds no slot (or no start under the pacing limit) waits: the
    message is sent again with a delay (backing off to 10 s) and this delivery succeeds — its
    Map child keeps waiting on the same task token, and the wait never uses up the queue's
    redrive count."""
    log_keys(
        batch_id=message.batch_id,
        run=message.run,
        pass_number=message.pass_number,
        recipient=message.recipient_key,
    )
    try:
        outcome = dial(ctx, message)
    except DialLater as wait:
        metric("DialDeferred", reason="slots" if isinstance(wait, NoSlotAvailable) else "pacing")
        logger.info("dial waits: %s", wait, extra={"slot_waits": message.slot_waits})
        again = message.model_copy(update={"slot_waits": message.slot_waits + 1})
        delay = min(NO_SLOT_RETRY_SECONDS + message.slot_waits, 10)
        ctx.dial_queue.send_later(again.model_dump_json(by_alias=True), delay)
        return "waiting_for_slot"
    logger.info("dial message handled: %s", outcome, extra={"outcome": outcome})
    return outcome


def slot_holder(batch_id: str, recipient_key: str, ticket: str) -> str:
    """A semaphore holder for one delivery of a dial; the claim stores it on the recipient, so
    whoever ends the call releases exactly that holder."""
    return f"{batch_id}|{recipient_key}|{ticket}|{uuid.uuid4().hex[:12]}"


def _decide(delivery: Delivery) -> Decision:
    """One decision: gate → slot and start → claim → place → record."""
    cleared = pass_gate(delivery)
    if not isinstance(cleared, Candidate):
        return cleared
    # Signed before a slot or a fee is taken: should the secret be unreadable, the delivery
    # fails with nothing to give back, and SQS delivers it again.
    ctx = delivery.ctx
    twiml_url = agent_twiml_url(
        ctx.settings, ctx.agent_url_secret, cleared.batch, delivery.message.recipient_key, delivery.now
    )
    start = _take_slot_and_start(delivery, cleared.batch)
    claimed = _claim(delivery, cleared, start)
    if not isinstance(claimed, Claimed):
        return claimed
    placed = _place(delivery, claimed, twiml_url)
    if not isinstance(placed, PlacedCall):
        return placed
    return _record(delivery, placed)


# -- 2. slot and start ---------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """The account-wide slot this delivery holds, and the call start the pacer gave it."""

    holder: str
    attempted_at: str
    stuck_after: str  # when the stuck-call sweep looks at the call if no final status came


def _take_slot_and_start(delivery: Delivery, batch: Batch) -> Start:
    """An account-wide slot first: all batches of the account together stay within
    max_concurrency − this batch's reserve, whatever each batch's own Map allows. Then a start
    time under the account's calls-per-second limit, slept until. Raises ``DialLater`` (with no
    slot held) when either is not to be had now."""
    ctx, message = delivery.ctx, delivery.message
    account = ctx.account(batch.account_id)
    # One holder per delivery: a duplicate never frees ours.
    holder = slot_holder(message.batch_id, message.recipient_key, message.ticket)
    limit = max(1, account.max_concurrency - batch.reserved_concurrency)
    epoch = int(delivery.now.timestamp())
    lease_until = epoch + ctx.settings.dial_task_timeout_seconds
    in_use = ctx.slots.acquire_counted(batch.account_id, holder, limit, lease_until, epoch)
    if not in_use:
        raise NoSlotAvailable(f"all {limit} slots of account {batch.account_id} are busy")
    # Calls in progress against the limit (read as Maximum): how full the account runs.
    metric("SlotsInUse", in_use)
    metric("SlotLimit", limit)
    now_ms = int(ctx.clock().timestamp() * 1000)
    wait_ms = ctx.pacing.reserve(batch.account_id, account.calls_per_second, now_ms, PACING_MAX_WAIT_MS)
    if wait_ms is None:
        ctx.slots.release(batch.account_id, holder)
        raise PacingBusy(f"account {batch.account_id} is at its {account.calls_per_second} calls per second")
    if wait_ms:
        ctx.sleep(wait_ms / 1000)
    # attempted_at is the start the pacer gave this attempt (after it took its slot): starts
    # are exactly 1/cps apart, and the call is placed at it or a few milliseconds after
    # (however late the sleep wakes).
    return Start(
        holder=holder,
        attempted_at=_iso_at(now_ms + wait_ms),
        stuck_after=_iso_at((epoch + ctx.settings.stuck_call_after_seconds) * 1000),
    )


def _iso_at(epoch_ms: int) -> str:
    return iso(datetime.fromtimestamp(epoch_ms / 1000, UTC))


# -- 3. claim --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """The recipient is this delivery's to call: ``calling``, its fee taken, its slot held."""

    batch: Batch
    to: str
    holder: str
    fee: LedgerEntry | None


def _claim(delivery: Delivery, cleared: Candidate, start: Start) -> Claimed | Decision:
    """pending → calling with the dial fee, in one transaction (``RecipientStore.claim``).
    Anything but a win gives the slot back."""
    ctx, message, batch = delivery.ctx, delivery.message, cleared.batch
    assert cleared.to is not None  # the gate's last check knows the number
    fee = _dial_fee(delivery, batch, start.attempted_at)
    claim = DialClaim(
        batch_id=message.batch_id,
        run=message.run,
        sk=message.recipient_key,
        ticket=message.ticket,
        task_token=message.task_token,
        account_id=batch.account_id,
        phone_number=cleared.to,
        slot_holder=start.holder,
        attempted_at=start.attempted_at,
        stuck_after=start.stuck_after,
    )
    outcome = ctx.recipients.claim(claim, fee=fee)
    if outcome is ClaimOutcome.CLAIMED:
        log_keys(account_id=batch.account_id, phone_number=cleared.to)
        if fee is not None:
            metric("CreditsCharged", -fee.amount_micros / 1_000_000, MetricUnit.Count, kind="dial_fee")
        _measure_start(batch, start.attempted_at)
        _measure_turnaround(message, batch, start.attempted_at)
        return Claimed(batch, cleared.to, start.holder, fee)
    ctx.slots.release(batch.account_id, start.holder)
    return _not_claimed(delivery, outcome)


def _measure_start(batch: Batch, attempted_at: str) -> None:
    """Seconds from the run's start to this dial (the first dial of a run: create → first dial)."""
    if batch.started_at:
        waited = (parse_iso(attempted_at) - parse_iso(batch.started_at)).total_seconds()
        metric("StartToDialSeconds", max(0.0, waited), MetricUnit.Seconds)


def _measure_turnaround(message: DialMessage, batch: Batch, attempted_at: str) -> None:
    """Seconds from the batch's latest final status to this dial, for a dial whose Map item
    started because an earlier one ended (its index at or past the Map's concurrency): the
    time a freed place stays empty. The latest end stands for the one that freed the place."""
    if message.index is None or not message.max_concurrency or not batch.last_final_at:
        return
    if message.index < message.max_concurrency:
        return
    idle = (parse_iso(attempted_at) - parse_iso(batch.last_final_at)).total_seconds()
    metric("EndToNextDialSeconds", max(0.0, idle), MetricUnit.Seconds)


def _dial_fee(delivery: Delivery, batch: Batch, at: str) -> LedgerEntry | None:
    fee = delivery.ctx.settings.dial_fee_micros
    if not fee:
        return None
    message = delivery.message
    return LedgerEntry(
        account_id=batch.account_id,
        at=at,
        ref=f"dial:{message.batch_id}:{message.recipient_key}:{message.ticket}",
        kind="dial_fee",
        amount_micros=-fee,
        batch_id=message.batch_id,
        recipient_key=message.recipient_key,
    )


def _not_claimed(delivery: Delivery, outcome: ClaimOutcome) -> Decision:
    metric("DialGateStopped", reason=outcome.value)
    if outcome is ClaimOutcome.NOT_PENDING:
        return DUPLICATE
    if outcome is ClaimOutcome.SUPPRESSED:
        # On the account's do-not-call list (checked in the claim itself): never dialed.
        return delivery.skip(SUPPRESSED)
    if outcome is ClaimOutcome.INSUFFICIENT_CREDITS:
        # The guide: "The batch will pause when credits are insufficient." Calls in progress
        # finish; this recipient stays pending for the resume after a top-up.
        delivery.ctx.batches.pause_for_credits(
            delivery.message.batch_id, delivery.message.run, delivery.now_iso
        )
    # Paused just now, or cancelled, paused or re-run between our read and the claim.
    return AGAIN


# -- 4. place --------------------------------------------------------------------------------


def _place(delivery: Delivery, claimed: Claimed, twiml_url: str) -> PlacedCall | Decision:
    ctx, message, batch = delivery.ctx, delivery.message, claimed.batch
    request = CallRequest(
        to=claimed.to,
        from_=batch.caller_id,
        status_callback_url=status_callback_url(
            ctx.settings.public_base_url, message.batch_id, message.recipient_key, message.ticket
        ),
        twiml_url=twiml_url,
        ring_timeout_seconds=ctx.settings.ring_timeout_seconds,
        time_limit_seconds=ctx.settings.max_call_seconds,
    )
    try:
        with subsegment("provider.place_call"):
            return ctx.provider.place_call(request)
    except CallerIdRejected as exc:
        return _batch_cannot_dial(delivery, claimed, f"The caller ID {batch.caller_id} was refused: {exc}")
    except CallRejected as exc:
        return _number_rejected(delivery, claimed, exc)
    except ProviderAuthError as exc:
        return _batch_cannot_dial(delivery, claimed, f"The telephony provider refused our credentials: {exc}")
    except CallOutcomeUnknown:
        # The call may exist: keep the claim (no second dial). Its callbacks still find the
        # recipient; without them the Map child times out and the lost-call path settles it.
        logger.warning(
            "outcome of dialing %s/%s unknown; not retried", message.batch_id, message.recipient_key
        )
        return Done("unknown")
    except Exception:
        # Transient: give the claim back so the redelivery (after the visibility timeout) dials,
        # and pays its fee again then.
        _give_back_claim(delivery, claimed)
        ctx.slots.release(batch.account_id, claimed.holder)
        raise


def _batch_cannot_dial(delivery: Delivery, claimed: Claimed, reason: str) -> Decision:
    """No call of this batch can be placed: it fails with the reason (its recipients stay
    pending, so a re-run after the cause is fixed continues where this one stopped)."""
    _give_back_claim(delivery, claimed)
    delivery.ctx.batches.fail(delivery.message.batch_id, delivery.message.run, reason, delivery.now_iso)
    delivery.ctx.slots.release(claimed.batch.account_id, claimed.holder)
    return delivery.answer("deferred")


def _number_rejected(delivery: Delivery, claimed: Claimed, exc: CallRejected) -> Decision:
    """The provider refused this number before any call existed: a final failure, and no dial
    happened, so no dial fee."""
    ctx, message = delivery.ctx, delivery.message
    ctx.slots.release(claimed.batch.account_id, claimed.holder)
    ctx.recipients.finish(
        message.batch_id,
        message.recipient_key,
        message.ticket,
        RecipientStatus.FAILED,
        {"error_message": f"Call rejected: {exc}", "completed_at": delivery.now_iso},
        delivery.now_iso,
        charge=_refund(claimed.fee, delivery.now_iso),
    )
    return delivery.answer("failed")


def _give_back_claim(delivery: Delivery, claimed: Claimed) -> None:
    """No call was placed: the recipient is pending again and its dial fee returned."""
    message = delivery.message
    delivery.ctx.recipients.release_claim(
        message.batch_id,
        message.recipient_key,
        message.ticket,
        delivery.now_iso,
        refund=_refund(claimed.fee, delivery.now_iso),
    )


def _refund(fee: LedgerEntry | None, now_iso: str) -> LedgerEntry | None:
    if fee is None:
        return None
    return fee.model_copy(
        update={
            "at": now_iso,
            "ref": f"refund:{fee.ref}",
            "kind": "refund",
            "amount_micros": -fee.amount_micros,
        }
    )


# -- 5. record -------------------------------------------------------------------------------


def _record(delivery: Delivery, placed: PlacedCall) -> Done:
    """The provider's call id on the attempt, and the pointer its callbacks find it by."""
    ctx, message = delivery.ctx, delivery.message
    ctx.recipients.set_call_id(message.batch_id, message.recipient_key, message.ticket, placed.call_id)
    ctx.recipients.put_call_pointer(
        placed.call_id, message.batch_id, message.recipient_key, message.ticket, delivery.now_iso
    )
    log_keys(call_sid=placed.call_id)
    metric("CallsPlaced")
    logger.info("call placed")
    return Done("dialed")
