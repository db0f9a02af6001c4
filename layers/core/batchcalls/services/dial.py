"""The dialer: the one gate before a call is placed (one SQS message = one recipient, one pass).

In order: stale run → answer and stop; batch cancelled → recipient skipped; batch not running
→ defer; recipient already dealt with in this pass → duplicate delivery, do nothing; window
closed → defer; ``pending → calling`` (the conditional write that makes a double dial
impossible; it takes the dial fee, and fails for a suppressed number, which is skipped); place
the call; store the provider's call id.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from batchcalls.domain import window
from batchcalls.domain.billing import INSUFFICIENT_CREDITS
from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.domain.recipient_window import is_open_everywhere, next_open_everywhere, recipient_zones
from batchcalls.models.domain import LedgerEntry
from batchcalls.models.messages import DialMessage, DialOutcome
from batchcalls.services.callbacks import agent_twiml_url, status_callback_url
from batchcalls.services.context import Context
from batchcalls.services.runs import RECIPIENT_WINDOWS
from batchcalls.services.tokens import answer_task
from batchcalls.store.recipients import Claim
from batchcalls.telephony.port import (
    CallerIdRejected,
    CallOutcomeUnknown,
    CallRejected,
    CallRequest,
    ProviderAuthError,
)

logger = logging.getLogger(__name__)

SUPPRESSED = "suppressed"  # the skip reason of a number on the account's do-not-call list


def dial(ctx: Context, message: DialMessage) -> str:
    """Handle one dial message; returns what happened (for logs and tests).

    Raises on transient failures (provider unavailable, AWS errors) so SQS delivers again.
    """
    now = ctx.clock()
    now_iso = ctx.now_iso()
    batch_id, rk = message.batch_id, message.rk

    def answer(outcome: str) -> str:
        answer_task(ctx, message.task_token, DialOutcome(outcome=outcome, rk=rk))
        return outcome

    batch = ctx.batches.get(batch_id)
    if batch is None or batch.run_number != message.run:
        return answer("stale")
    if batch.status is BatchStatus.CANCELLED:
        return (
            answer("skipped")
            if ctx.recipients.skip(batch_id, rk, "Batch cancelled", now_iso)
            else "duplicate"
        )

    if batch.status is BatchStatus.RUNNING and not ctx.caller_id_active(batch.user_id, batch.caller_id):
        reason = f"The caller ID {batch.caller_id} is no longer an active number of this account"
        _mark_failed(ctx, batch_id, reason, now_iso)
        return dial(ctx, message)  # decide again from the failed batch: defer

    def defer(until: datetime | None = None) -> str:
        waits = iso(until) if until else None
        return (
            answer("deferred")
            if ctx.recipients.defer(batch_id, rk, message.ticket, now_iso, waits)
            else "duplicate"
        )

    if batch.status is not BatchStatus.RUNNING:
        return defer()
    to = message.to
    if batch.window_timezone == RECIPIENT_WINDOWS:
        # Each recipient in its own zone(s): only when the window is open in all of them.
        recipient = ctx.recipients.get(batch_id, rk)
        if recipient is None:
            return answer("stale")
        to = recipient.phone_number
        zones = recipient_zones(to, recipient.timezone, batch.timezone)
        if not is_open_everywhere(batch.window, now, zones):
            opens = next_open_everywhere(batch.window, now, zones)
            if opens is None:
                reason = (
                    f"The call window never opens at once in the number's time zones ({', '.join(zones[:5])})"
                )
                skipped = ctx.recipients.skip(batch_id, rk, reason, now_iso, ticket=message.ticket)
                return answer("skipped") if skipped else "duplicate"
            return defer(opens)
    elif not window.is_open(batch.window, now, batch.timezone):
        return defer()

    if to is None:
        recipient = ctx.recipients.get(batch_id, rk)
        if recipient is None:
            return answer("stale")
        to = recipient.phone_number
    # Signed before a slot or a fee is taken: should the secret be unreadable, the delivery
    # fails with nothing to give back, and SQS delivers it again.
    twiml_url = agent_twiml_url(ctx.settings, ctx.agent_url_secret, batch, rk, now)
    # The conditional pending → calling write: a second delivery of this message finds the
    # recipient no longer pending (or already dealt with in this pass) and dials nothing.
    ticket = message.ticket
    # An account-wide slot first: all batches of the account together stay within
    # max_concurrency − this batch's reserve, whatever each batch's own Map allows.
    account = ctx.account(batch.user_id)
    holder = slot_holder(batch_id, rk, ticket)  # per delivery: a duplicate never frees ours
    limit = max(1, account.max_concurrency - batch.reserved_concurrency)
    epoch = int(now.timestamp())
    lease_until = epoch + ctx.settings.dial_task_timeout_seconds
    if not ctx.slots.acquire(batch.user_id, holder, limit, lease_until, epoch):
        raise NoSlotAvailable(f"all {limit} slots of account {batch.user_id} are busy")
    # Then a start time under the account's calls-per-second limit.
    now_ms = int(ctx.clock().timestamp() * 1000)
    wait_ms = ctx.pacing.reserve(batch.user_id, account.calls_per_second, now_ms, PACING_MAX_WAIT_MS)
    if wait_ms is None:
        ctx.slots.release(batch.user_id, holder)
        raise PacingBusy(f"account {batch.user_id} is at its {account.calls_per_second} calls per second")
    if wait_ms:
        ctx.sleep(wait_ms / 1000)
    # The claim takes the dial fee in its own transaction. attempted_at is the start the pacer
    # gave this attempt (after it took its slot): starts are exactly 1/cps apart, and the call
    # is placed at it or a few milliseconds after (however late the sleep wakes).
    claim_iso = iso(datetime.fromtimestamp((now_ms + wait_ms) / 1000, UTC))
    fee = ctx.settings.dial_fee_micros
    fee_entry = LedgerEntry(
        account_id=batch.user_id,
        at=claim_iso,
        ref=f"dial:{batch_id}:{rk}:{ticket}",
        kind="dial_fee",
        amount_micros=-fee,
        batch_id=batch_id,
        recipient_id=rk,
    )
    claim = ctx.recipients.claim(
        batch_id,
        message.run,
        rk,
        ticket,
        message.task_token,
        claim_iso,
        batch.user_id,
        holder,
        stuck_after=iso(datetime.fromtimestamp(epoch + ctx.settings.stuck_call_after_seconds, UTC)),
        suppression_check=ctx.suppression.suppressed_check(batch.user_id, to),
        fee_micros=fee,
        fee_items=ctx.credits.change_items(fee_entry, never_below_zero=True) if fee else (),
    )
    if claim is not Claim.CLAIMED:
        ctx.slots.release(batch.user_id, holder)
    if claim is Claim.NOT_PENDING:
        return "duplicate"
    if claim is Claim.SUPPRESSED:
        # On the account's do-not-call list (checked in the claim itself): never dialed.
        return (
            answer("skipped")
            if ctx.recipients.skip(batch_id, rk, SUPPRESSED, now_iso, ticket=message.ticket)
            else "duplicate"
        )
    if claim is Claim.INSUFFICIENT_CREDITS:
        # The guide: "The batch will pause when credits are insufficient." Calls in progress
        # finish; this recipient stays pending for the resume after a top-up.
        ctx.batches.update_status(
            batch_id,
            from_statuses=[BatchStatus.RUNNING],
            to_status=BatchStatus.PAUSED,
            set_fields={"paused_reason": INSUFFICIENT_CREDITS, "updated_at": now_iso},
            remove_fields=["due_at"],
            expect={"run_number": message.run},
        )
        return dial(ctx, message)  # decide again from the paused batch: defer
    if claim is Claim.BATCH_NOT_RUNNING:
        # Cancelled, paused or re-run between our read and the claim: decide again from the
        # batch as it is now (it cannot be "running this run" any more, so this ends).
        return dial(ctx, message)

    def give_back_claim() -> None:
        """No call was placed: the recipient is pending again and its dial fee returned."""
        ctx.recipients.release_claim(
            batch_id,
            rk,
            ticket,
            now_iso,
            refund_micros=fee,
            refund_items=_refund_items(ctx, fee_entry, now_iso),
        )

    request = CallRequest(
        to=to,
        from_=batch.caller_id,
        status_callback_url=status_callback_url(ctx.settings.public_base_url, batch_id, rk, ticket),
        twiml_url=twiml_url,
        ring_timeout_seconds=ctx.settings.ring_timeout_seconds,
        time_limit_seconds=ctx.settings.max_call_seconds,
    )
    try:
        placed = ctx.provider.place_call(request)
    except CallerIdRejected as exc:
        give_back_claim()
        _mark_failed(ctx, batch_id, f"The caller ID {batch.caller_id} was refused: {exc}", now_iso)
        ctx.slots.release(batch.user_id, holder)
        return answer("deferred")
    except CallRejected as exc:
        # The provider refused this number before any call existed: a final failure, and no
        # dial happened, so no dial fee.
        ctx.slots.release(batch.user_id, holder)
        ctx.recipients.finish(
            batch_id,
            rk,
            ticket,
            RecipientStatus.FAILED,
            {"error_message": f"Call rejected: {exc}", "completed_at": now_iso},
            now_iso,
            charge_micros=-fee,
            charge_items=_refund_items(ctx, fee_entry, now_iso),
        )
        return answer("failed")
    except ProviderAuthError as exc:
        give_back_claim()
        _mark_failed(ctx, batch_id, f"The telephony provider refused our credentials: {exc}", now_iso)
        ctx.slots.release(batch.user_id, holder)
        return answer("deferred")
    except CallOutcomeUnknown:
        # The call may exist: keep the claim (no second dial). Its callbacks still find the
        # recipient; without them the Map child times out and the lost-call path settles it.
        logger.warning("outcome of dialing %s/%s unknown; not retried", batch_id, rk)
        return "unknown"
    except Exception:
        # Transient: give the claim back so the redelivery (after the visibility timeout) dials,
        # and pays its fee again then.
        give_back_claim()
        ctx.slots.release(batch.user_id, holder)
        raise
    ctx.recipients.set_call_id(batch_id, rk, ticket, placed.call_id)
    ctx.recipients.put_call_pointer(placed.call_id, batch_id, rk, ticket, now_iso)
    return "dialed"


class DialLater(Exception):
    """The dial cannot start yet: the message comes back shortly (not lost)."""


class NoSlotAvailable(DialLater):
    """Every slot of the account is busy."""


class PacingBusy(DialLater):
    """The account's next call start is further away than a dialer should sleep."""


NO_SLOT_RETRY_SECONDS = 2
PACING_MAX_WAIT_MS = 2000


def slot_holder(batch_id: str, rk: str, ticket: str) -> str:
    """A semaphore holder for one delivery of a dial; the claim stores it on the recipient, so
    whoever ends the call releases exactly that holder."""
    return f"{batch_id}|{rk}|{ticket}|{uuid.uuid4().hex[:12]}"


def dial_record(ctx: Context, message: DialMessage) -> str:
    """The SQS entry. A dial that finds no slot (or no start under the pacing limit) waits: the
    message is sent again with a delay (backing off to 10 s) and this delivery succeeds — its
    Map child keeps waiting on the same task token, and the wait never uses up the queue's
    redrive count."""
    try:
        return dial(ctx, message)
    except DialLater:
        again = message.model_copy(update={"slot_waits": message.slot_waits + 1})
        delay = min(NO_SLOT_RETRY_SECONDS + message.slot_waits, 10)
        ctx.dial_queue.send_later(again.model_dump_json(by_alias=True), delay)
        return "waiting_for_slot"


def _refund_items(ctx: Context, fee: LedgerEntry, now_iso: str) -> list[dict[str, Any]]:
    if not fee.amount_micros:
        return []
    refund = fee.model_copy(
        update={
            "at": now_iso,
            "ref": f"refund:{fee.ref}",
            "kind": "refund",
            "amount_micros": -fee.amount_micros,
        }
    )
    return ctx.credits.change_items(refund)


def _mark_failed(ctx: Context, batch_id: str, reason: str, now_iso: str) -> None:
    """No call of this batch can be placed: it fails with the reason (its recipients stay
    pending, so a re-run after the cause is fixed continues where this one stopped)."""
    ctx.batches.update_status(
        batch_id,
        from_statuses=[BatchStatus.RUNNING, BatchStatus.PAUSED],
        to_status=BatchStatus.FAILED,
        set_fields={"failure_reason": reason, "updated_at": now_iso},
        remove_fields=["due_at"],
    )
