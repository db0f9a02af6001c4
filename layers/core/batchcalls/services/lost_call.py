"""An attempt whose final status never arrived: settle its recipient so no slot is held.

Two callers: a Map child whose dial task timed out or failed (``record_lost_call``), and the
scheduler's stuck-call sweep for attempts with no Map child left to time out (the pass was
stopped by a cancel, or its execution died). The provider is asked first (its final status
wins); otherwise the call is hung up and the recipient recorded as failed with the reason — and
should the provider's final status still come, its minutes are billed then. A recipient this
pass never dialed stays pending. Every write is conditioned on the attempt's
ticket, so the two callers — or two sweeps at once — end an attempt exactly once.
"""

from __future__ import annotations

import logging

from batchcalls.domain.recipient_status import RecipientStatus, from_provider_status, is_terminal
from batchcalls.models.domain import Recipient
from batchcalls.models.messages import LostCall
from batchcalls.services.call_end import end_attempt
from batchcalls.services.context import Context

logger = logging.getLogger(__name__)

NO_FINAL_STATUS = "No final call status arrived in time"


def record_lost_call(ctx: Context, lost: LostCall) -> dict[str, str]:
    recipient = ctx.recipients.get(lost.batch_id, lost.recipient_key)
    if recipient is None or recipient.ticket != lost.ticket or is_terminal(recipient.status):
        return {"outcome": "nothing_to_do"}
    if recipient.status is RecipientStatus.PENDING:
        return {"outcome": "not_dialed"}
    return {"outcome": reconcile_attempt(ctx, recipient, NO_FINAL_STATUS)}


def reconcile_attempt(ctx: Context, recipient: Recipient, reason: str) -> str:
    """End the recipient's current attempt from the provider's view of the call (or as failed
    with ``reason``) and release its slot; the outcome, or "nothing_to_do" if it had ended."""
    ticket = recipient.ticket or ""
    now_iso = ctx.now_iso()
    status = RecipientStatus.FAILED
    fields: dict[str, object] = {"completed_at": now_iso, "error_message": reason}
    lost = True  # until the provider tells us the call's final status
    if recipient.call_id:
        try:
            call = ctx.provider.fetch_call(recipient.call_id)
            known = from_provider_status(call.status)
            if known is not None and is_terminal(known):
                status, lost = known, False
                fields = {
                    "completed_at": now_iso,
                    "duration_seconds": call.duration_seconds,
                    "answered_by": call.answered_by,
                }
            else:
                ctx.provider.hang_up(recipient.call_id)
        except Exception:
            logger.exception("could not reconcile call %s with the provider", recipient.call_id)
    # A lost final status may still arrive (after the hang-up, or late): call_status then
    # bills its minutes on the attempt ended here (call_end.record_late_final_status).
    done = end_attempt(ctx, recipient, ticket, status, fields, now_iso, final_status_lost=lost)
    if recipient.account_id and recipient.slot_holder:
        ctx.slots.release(recipient.account_id, recipient.slot_holder)
    return status.value if done else "nothing_to_do"
