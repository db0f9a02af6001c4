"""Which events a change of a table item means (pure: the images before and after it).

Events are derived from the change itself, so every status change is captured whoever made it,
and each event's id is a digest of what identifies the change (the item's key and the values
that moved): a stream record read twice yields the same ids, and receivers dedupe on them.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any

from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.domain import Batch, Recipient
from batchcalls.models.events import Event, EventType, Webhook, WebhookStatus


def event_id(*parts: object) -> str:
    """``evt_`` and 26 base32 characters (130 bits) of the parts' digest."""
    digest = hashlib.sha256("\n".join(str(p) for p in parts).encode()).digest()
    return "evt_" + base64.b32encode(digest[:20]).decode().rstrip("=").lower()[:26]


def batch_refs(batch: Batch) -> dict[str, Any]:
    """What every batch and recipient event's data starts with."""
    refs: dict[str, Any] = {"account_id": batch.account_id, "batch_id": batch.id}
    if batch.parent_batch_id:
        refs["parent_batch_id"] = batch.parent_batch_id
    return refs


def _reason(batch: Batch) -> str | None:
    if batch.status is BatchStatus.PAUSED:
        return batch.paused_reason
    if batch.status is BatchStatus.FAILED:
        return batch.failure_reason
    return None


def batch_status_changed(old: Batch | None, new: Batch) -> Event | None:
    """A batch made, or moved to another status (a re-run's start included)."""
    if old is not None and old.status is new.status:
        return None
    return Event(
        id=event_id(EventType.BATCH_STATUS_CHANGED, new.id, new.status, new.run_number, new.updated_at),
        type=EventType.BATCH_STATUS_CHANGED,
        timestamp=new.updated_at,
        account_id=new.account_id,
        data={
            **batch_refs(new),
            "name": new.name,
            "previous_status": old.status.value if old is not None else None,
            "status": new.status.value,
            "reason": _reason(new),
            "run_number": new.run_number,
            "occurrence_number": new.occurrence_number,
        },
    )


def is_run_completion(old: Batch | None, new: Batch) -> bool:
    """A run of recipients just completed (a series parent ending is only a status change)."""
    if new.status is not BatchStatus.COMPLETED or (old is not None and old.status is BatchStatus.COMPLETED):
        return False
    return not (new.recurrence_type != "none" and new.parent_batch_id is None)


def batch_completed(batch: Batch, counts: dict[str, int], cost_micros: int) -> Event:
    """The run's final counts (as ``get`` shows them), cost and duration."""
    duration = None
    if batch.started_at and batch.completed_at:
        started = datetime.fromisoformat(batch.started_at)
        duration = int((datetime.fromisoformat(batch.completed_at) - started).total_seconds())
    return Event(
        id=event_id(EventType.BATCH_COMPLETED, batch.id, batch.run_number),
        type=EventType.BATCH_COMPLETED,
        timestamp=batch.completed_at or batch.updated_at,
        account_id=batch.account_id,
        data={
            **batch_refs(batch),
            "name": batch.name,
            "run_number": batch.run_number,
            "total_recipients": batch.total_recipients,
            "completed_count": batch.completed_count,
            "failed_count": batch.failed_count,
            "skipped_count": batch.skipped_count,
            "counts": counts,
            "cost_micros": cost_micros,
            "started_at": batch.started_at,
            "completed_at": batch.completed_at,
            "duration_seconds": duration,
        },
    )


def recipient_status_changed(batch: Batch, old: Recipient, new: Recipient) -> Event | None:
    if old.status is new.status:
        return None
    return Event(
        id=event_id(
            EventType.RECIPIENT_STATUS_CHANGED,
            batch.id,
            new.sk,
            new.ticket,
            new.attempts,
            new.status,
            new.updated_at,
        ),
        type=EventType.RECIPIENT_STATUS_CHANGED,
        timestamp=new.updated_at or batch.updated_at,
        account_id=batch.account_id,
        data={
            **batch_refs(batch),
            "recipient_id": new.id,
            "phone_number": new.phone_number,
            "name": new.name,
            "previous_status": old.status.value,
            "status": new.status.value,
            "attempt": new.attempts,
            "call_id": new.call_id,
            "answered_by": new.answered_by,
            "error_message": new.error_message,
        },
    )


def calls_completed(batch: Batch, old: Recipient, new: Recipient) -> list[Event]:
    """One ``call.completed`` per attempt this change ended (its entry added to the history)."""
    if len(new.attempt_history) <= len(old.attempt_history):
        return []
    return [call_completed(batch, new, entry) for entry in new.attempt_history[len(old.attempt_history) :]]


def call_completed(batch: Batch, recipient: Recipient, attempt: dict[str, Any]) -> Event:
    """Magpipe's ``call.completed`` fields, then ours. Magpipe's ``caller_number`` is the
    other party (the person called, as on an inbound call it is the person calling) and
    ``service_number`` the account's own number (the batch's caller ID)."""
    outcome = str(attempt.get("outcome") or "")
    return Event(
        id=event_id(
            EventType.CALL_COMPLETED, batch.id, recipient.sk, attempt.get("ticket"), attempt.get("attempt")
        ),
        type=EventType.CALL_COMPLETED,
        timestamp=str(attempt.get("completed_at") or recipient.updated_at or batch.updated_at),
        account_id=batch.account_id,
        data={
            "call_record_id": attempt.get("call_id"),
            "direction": "outbound",
            "caller_number": recipient.phone_number,
            "service_number": batch.caller_id,
            "agent_id": batch.agent_id,
            "duration_seconds": int(attempt.get("duration_seconds") or 0),
            "status": outcome,
            "transcript": None,
            "summary": None,
            "extracted_data": None,
            **batch_refs(batch),
            "recipient_id": recipient.id,
            "phone_number": recipient.phone_number,
            "name": recipient.name,
            "outcome": outcome,
            "answered_by": attempt.get("answered_by"),
            "attempt": attempt.get("attempt"),
            "cost_micros": int(attempt.get("cost_micros") or 0),
            "variables": recipient.variables,
            "attempted_at": attempt.get("attempted_at"),
            "answered_at": attempt.get("answered_at"),
            "completed_at": attempt.get("completed_at"),
            "error_message": attempt.get("error_message"),
        },
    )


def credits_low(
    account_id: str, before_micros: int, after_micros: int, threshold_micros: int, at: str
) -> Event | None:
    """The balance just fell under the account's threshold (once per crossing)."""
    if threshold_micros <= 0 or not (after_micros < threshold_micros <= before_micros):
        return None
    return Event(
        id=event_id(EventType.CREDITS_LOW, account_id, after_micros, at),
        type=EventType.CREDITS_LOW,
        timestamp=at,
        account_id=account_id,
        data={
            "account_id": account_id,
            "balance_micros": after_micros,
            "threshold_micros": threshold_micros,
        },
    )


def webhook_disabled(old: Webhook, new: Webhook) -> Event | None:
    """An endpoint was disabled: by the sender (410 Gone, days of failures) or by its user."""
    if old.status is not WebhookStatus.ENABLED or new.status is not WebhookStatus.DISABLED:
        return None
    return Event(
        id=event_id(EventType.WEBHOOK_DISABLED, new.id, new.updated_at),
        type=EventType.WEBHOOK_DISABLED,
        timestamp=new.updated_at,
        account_id=new.account_id,
        data={
            "account_id": new.account_id,
            "webhook_id": new.id,
            "url": new.url,
            "reason": new.disabled_reason or "disabled through the API",
        },
    )
