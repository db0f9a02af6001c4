"""The end of a call attempt: its final status — or, under the batch's retry policy, a redial
later — with the call's minutes charged, all in one transaction; and the final status that
arrives after the lost-call path ended the attempt without it, whose minutes are billed then."""

from __future__ import annotations

import logging
from typing import Any

from batchcalls.domain import retry
from batchcalls.domain.billing import minutes_charge, started_minutes
from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import LedgerEntry, Recipient
from batchcalls.observability import metric
from batchcalls.services.context import Context

logger = logging.getLogger(__name__)


def end_attempt(
    ctx: Context,
    recipient: Recipient,
    ticket: str,
    status: RecipientStatus,
    fields: dict[str, Any],
    now_iso: str,
    *,
    final_status_lost: bool = False,
) -> bool:
    """The one ending of the attempt ``ticket``; False if it had already ended.

    A connected call is billed its started minutes at the account's rate in the same
    transaction, so however often the final status arrives (callback, replay, lost-call
    reconcile) the call is charged once. An outcome the batch's retry policy names, with
    attempts left, sends the recipient back to pending until its redial time instead.
    ``final_status_lost``: the lost-call path ends it without the provider's final status; its
    history entry says so, and the final status may still come (``record_late_final_status``)."""
    call_id = str(fields.get("call_id") or recipient.call_id or "")
    duration = int(fields.get("duration_seconds") or 0)
    charge = _minutes_charge(ctx, recipient, ticket, duration, call_id, now_iso)
    amount = -charge.amount_micros if charge is not None else 0
    attempt = {
        "attempt": recipient.attempts,
        "ticket": ticket,  # names the attempt for a final status that comes after this ending
        "outcome": status.value,
        "attempted_at": recipient.attempted_at,
        "answered_at": fields.get("answered_at") or recipient.answered_at,
        "completed_at": fields.get("completed_at") or now_iso,
        "duration_seconds": fields.get("duration_seconds"),
        "call_id": fields.get("call_id") or recipient.call_id,
        "answered_by": fields.get("answered_by") or recipient.answered_by,
        "error_message": fields.get("error_message"),
        "cost_micros": amount + (ctx.settings.dial_fee_micros if recipient.attempted_at else 0),
        "final_status_lost": final_status_lost or None,
    }
    attempt = {k: v for k, v in attempt.items() if v is not None}
    policy = ctx.retry_policy(recipient.batch_id)
    if (
        policy is not None
        and retry.should_retry(policy, status.value, recipient.attempts)
        and _batch_goes_on(ctx, recipient.batch_id)
    ):
        redial = retry.next_attempt_at(policy, ctx.clock())
        ended = ctx.recipients.retry_later(
            recipient.batch_id,
            recipient.sk,
            ticket,
            attempt,
            iso(redial),
            now_iso,
            charge=charge,
        )
    else:
        ended = ctx.recipients.finish(
            recipient.batch_id,
            recipient.sk,
            ticket,
            status,
            fields,
            now_iso,
            charge=charge,
            attempt=attempt,
        )
    if ended:
        _measure_end(status, attempt, amount)
    return ended


def _measure_end(status: RecipientStatus, attempt: dict[str, Any], minutes_micros: int) -> None:
    """Once per attempt (only the transition that ended it gets here)."""
    metric("CallsEnded", outcome=status.value)
    answered_by = str(attempt.get("answered_by") or "")
    if attempt.get("answered_at"):
        metric("CallsAnswered", answered_by="machine" if answered_by.startswith("machine") else "human")
    if minutes_micros:
        metric("CreditsCharged", minutes_micros / 1_000_000, kind="call_minutes")
    logger.info(
        "call ended: %s",
        status.value,
        extra={
            "outcome": status.value,
            "duration_seconds": attempt.get("duration_seconds"),
            "call_sid": attempt.get("call_id"),
        },
    )


def _batch_goes_on(ctx: Context, batch_id: str) -> bool:
    """A redial only for a batch that will dial again: never after a cancel (nothing would
    ever pick the recipient up), nor for a batch that ended or failed."""
    batch = ctx.batches.get(batch_id)
    return batch is not None and batch.status in (BatchStatus.RUNNING, BatchStatus.PAUSED)


def record_late_final_status(
    ctx: Context,
    recipient: Recipient,
    ticket: str,
    status: RecipientStatus,
    fields: dict[str, Any],
    now_iso: str,
) -> bool:
    """The provider's final status for an attempt the lost-call path (or the sweep) already
    ended without it; False when there is no such attempt, or its final status was recorded.

    The carrier bills that call, so its started minutes are charged now, and the attempt's
    history entry gets the real outcome. Nothing else about the recipient moves: that ending
    settled its status, the batch counters, its slot and its task token. Once: the write is
    conditioned on the entry still waiting for its final status (``late_final_status_at``)."""
    found = _attempt_without_final_status(recipient, ticket)
    if found is None:
        return False
    index, entry = found
    call_id = str(fields.get("call_id") or entry.get("call_id") or "")
    charge = _minutes_charge(
        ctx, recipient, ticket, int(fields.get("duration_seconds") or 0), call_id, now_iso
    )
    amount = -charge.amount_micros if charge is not None else 0
    real = {
        "outcome": status.value,
        "ended_as": entry.get("outcome"),  # what the recipient's status still says
        "late_final_status_at": now_iso,
        "duration_seconds": fields.get("duration_seconds"),
        "answered_by": fields.get("answered_by"),
        "error_message": fields.get("error_message"),
        "call_id": call_id or None,
        "cost_micros": int(entry.get("cost_micros") or 0) + amount,
    }
    return ctx.recipients.record_late_final_status(
        recipient.batch_id,
        recipient.sk,
        index,
        ticket,
        {k: v for k, v in real.items() if v is not None},
        now_iso,
        charge=charge,
    )


def _attempt_without_final_status(recipient: Recipient, ticket: str) -> tuple[int, dict[str, Any]] | None:
    for index, entry in enumerate(recipient.attempt_history):
        if entry.get("ticket") == ticket and entry.get("final_status_lost"):
            return None if "late_final_status_at" in entry else (index, entry)
    return None


def _minutes_charge(
    ctx: Context, recipient: Recipient, ticket: str, duration: int, call_id: str, now_iso: str
) -> LedgerEntry | None:
    """The call's started minutes at the account's rate, as the debit the ending carries; None
    for a call that never connected (or costs nothing). Minutes are post-paid: the call
    happened, so the store takes this debit whatever the balance."""
    if not duration or not recipient.account_id:
        return None
    amount = minutes_charge(duration, ctx.account(recipient.account_id).per_minute_rate_micros)
    if not amount:
        return None
    return LedgerEntry(
        account_id=recipient.account_id,
        at=now_iso,
        ref=f"call:{call_id or recipient.batch_id + ':' + recipient.sk + ':' + ticket}",
        kind="call_minutes",
        amount_micros=-amount,
        batch_id=recipient.batch_id,
        recipient_key=recipient.sk,
        call_id=call_id or None,
        note=f"{started_minutes(duration)} min",
    )
