"""The end of a call attempt: its final status — or, under the batch's retry policy, a redial
later — with the call's minutes charged, all in one transaction."""

from __future__ import annotations

from typing import Any

from batchcalls.domain import retry
from batchcalls.domain.billing import minutes_charge, started_minutes
from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import LedgerEntry, Recipient
from batchcalls.services.context import Context


def end_attempt(
    ctx: Context,
    recipient: Recipient,
    ticket: str,
    status: RecipientStatus,
    fields: dict[str, Any],
    now_iso: str,
) -> bool:
    """The one ending of the attempt ``ticket``; False if it had already ended.

    A connected call is billed its started minutes at the account's rate in the same
    transaction, so however often the final status arrives (callback, replay, lost-call
    reconcile) the call is charged once. An outcome the batch's retry policy names, with
    attempts left, sends the recipient back to pending until its redial time instead."""
    amount, items = _minutes_charge(ctx, recipient, ticket, fields, now_iso)
    attempt = {
        "attempt": recipient.attempts,
        "outcome": status.value,
        "attempted_at": recipient.attempted_at,
        "answered_at": fields.get("answered_at") or recipient.answered_at,
        "completed_at": fields.get("completed_at") or now_iso,
        "duration_seconds": fields.get("duration_seconds"),
        "call_id": fields.get("call_id") or recipient.call_id,
        "answered_by": fields.get("answered_by") or recipient.answered_by,
        "error_message": fields.get("error_message"),
        "cost_micros": amount + (ctx.settings.dial_fee_micros if recipient.attempted_at else 0),
    }
    attempt = {k: v for k, v in attempt.items() if v is not None}
    policy = ctx.retry_policy(recipient.batch_id)
    if (
        policy is not None
        and retry.should_retry(policy, status.value, recipient.attempts)
        and _batch_goes_on(ctx, recipient.batch_id)
    ):
        redial = retry.next_attempt_at(policy, ctx.clock())
        return ctx.recipients.retry_later(
            recipient.batch_id,
            recipient.sk,
            ticket,
            attempt,
            iso(redial),
            now_iso,
            charge_micros=amount,
            charge_items=items,
        )
    return ctx.recipients.finish(
        recipient.batch_id,
        recipient.sk,
        ticket,
        status,
        fields,
        now_iso,
        charge_micros=amount,
        charge_items=items,
        attempt=attempt,
    )


def _batch_goes_on(ctx: Context, batch_id: str) -> bool:
    """A redial only for a batch that will dial again: never after a cancel (nothing would
    ever pick the recipient up), nor for a batch that ended or failed."""
    batch = ctx.batches.get(batch_id)
    return batch is not None and batch.status in (BatchStatus.RUNNING, BatchStatus.PAUSED)


def _minutes_charge(
    ctx: Context, recipient: Recipient, ticket: str, fields: dict[str, Any], now_iso: str
) -> tuple[int, list[dict[str, Any]]]:
    duration = int(fields.get("duration_seconds") or 0)
    if not duration or not recipient.account_id:
        return 0, []
    amount = minutes_charge(duration, ctx.account(recipient.account_id).per_minute_rate_micros)
    if not amount:
        return 0, []
    call_id = str(fields.get("call_id") or recipient.call_id or "")
    entry = LedgerEntry(
        account_id=recipient.account_id,
        at=now_iso,
        ref=f"call:{call_id or recipient.batch_id + ':' + recipient.sk + ':' + ticket}",
        kind="call_minutes",
        amount_micros=-amount,
        batch_id=recipient.batch_id,
        recipient_id=recipient.sk,
        call_id=call_id or None,
        note=f"{started_minutes(duration)} min",
    )
    # Minutes are post-paid: the call happened, so this debit is not conditional.
    return amount, ctx.credits.change_items(entry)
