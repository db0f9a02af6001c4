"""Provider status callbacks → recipient statuses.

Callbacks repeat and arrive out of order: a status only moves forward, the final transition
happens once (conditional write, with the batch counter in the same transaction), and only
that transition answers the Map child's task token. A final status that comes after the
lost-call path ended its attempt without it only bills the call's minutes and completes the
attempt's history.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from batchcalls.domain.errors import Forbidden, InvalidRequest
from batchcalls.domain.recipient_status import IN_CALL, RecipientStatus, from_provider_status, is_terminal
from batchcalls.models.messages import DialOutcome
from batchcalls.observability import log_keys
from batchcalls.services.call_end import end_attempt, record_late_final_status
from batchcalls.services.callbacks import status_callback_url
from batchcalls.services.context import Context
from batchcalls.services.tokens import answer_task

logger = logging.getLogger(__name__)

_ERRORS = {
    RecipientStatus.BUSY: "Line busy",
    RecipientStatus.NO_ANSWER: "No answer",
    RecipientStatus.FAILED: "Call failed",
}


def apply_call_status(
    ctx: Context, base_url: str, query: Mapping[str, str], form: Mapping[str, str], signature: str
) -> str:
    """Apply one signed status callback that arrived at ``base_url``; returns what happened."""
    try:
        batch_id, recipient_key, ticket = query["batch_id"], query["rk"], query["ticket"]
    except KeyError as exc:
        raise InvalidRequest("Status callback is missing batch_id, rk or ticket") from exc
    log_keys(batch_id=batch_id, recipient=recipient_key, ticket=ticket, call_sid=form.get("CallSid"))
    url = status_callback_url(base_url, batch_id, recipient_key, ticket)
    if not signature or not ctx.provider.validate_signature(url, dict(form), signature):
        raise Forbidden("Invalid signature")

    status = from_provider_status(form.get("CallStatus", ""))
    if status is None:
        return "ignored"
    now_iso = ctx.now_iso()
    fields: dict[str, object] = {"updated_at": now_iso}
    if form.get("CallSid"):
        fields["call_id"] = form["CallSid"]
    if form.get("AnsweredBy"):
        fields["answered_by"] = form["AnsweredBy"]
    if status is RecipientStatus.IN_PROGRESS:
        fields["answered_at"] = now_iso

    if not is_terminal(status):
        moved = ctx.recipients.advance(batch_id, recipient_key, ticket, status, fields)
        return "advanced" if moved else "stale"

    fields["completed_at"] = now_iso
    if form.get("CallDuration", "").isdigit():
        fields["duration_seconds"] = int(form["CallDuration"])
    if status in _ERRORS:
        sip = form.get("SipResponseCode")
        fields["error_message"] = _ERRORS[status] + (f" (SIP {sip})" if sip else "")
    return _apply_final_status(ctx, batch_id, recipient_key, ticket, status, fields, now_iso)


def _apply_final_status(
    ctx: Context,
    batch_id: str,
    recipient_key: str,
    ticket: str,
    status: RecipientStatus,
    fields: dict[str, object],
    now_iso: str,
) -> str:
    recipient = ctx.recipients.get(batch_id, recipient_key)
    if recipient is None:
        return "stale"
    in_call = recipient.status in IN_CALL
    if recipient.ticket == ticket and in_call:
        if end_attempt(ctx, recipient, ticket, status, fields, now_iso):
            if recipient.account_id and recipient.slot_holder:
                ctx.slots.release(recipient.account_id, recipient.slot_holder)
            answer_task(
                ctx, recipient.task_token, DialOutcome(outcome=status.value, recipient_key=recipient_key)
            )
            return "finished"
        # Ended meanwhile — perhaps by the lost-call path, whose history entry this read lacks.
        recipient = ctx.recipients.get(batch_id, recipient_key) or recipient
    # An attempt the lost-call path ended without its final status: the carrier bills the call.
    billed = record_late_final_status(ctx, recipient, ticket, status, fields, now_iso)
    return "late_final_status" if billed else "stale"
