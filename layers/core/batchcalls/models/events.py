"""Events (what the table's changes mean to a user) and the webhook endpoints they are sent to."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class EventType(StrEnum):
    BATCH_STATUS_CHANGED = "batch.status_changed"
    BATCH_COMPLETED = "batch.completed"
    RECIPIENT_STATUS_CHANGED = "recipient.status_changed"  # high volume: opt-in only
    CALL_COMPLETED = "call.completed"  # one per finished attempt
    CREDITS_LOW = "credits.low"
    WEBHOOK_TEST = "webhook.test"
    WEBHOOK_DISABLED = "webhook.disabled"


# EventBridge detail types, Title Case as AWS writes its own ("EC2 Instance State-change ...").
DETAIL_TYPES: dict[EventType, str] = {
    EventType.BATCH_STATUS_CHANGED: "Batch Status Changed",
    EventType.BATCH_COMPLETED: "Batch Completed",
    EventType.RECIPIENT_STATUS_CHANGED: "Recipient Status Changed",
    EventType.CALL_COMPLETED: "Call Completed",
    EventType.CREDITS_LOW: "Credits Low",
    EventType.WEBHOOK_TEST: "Webhook Test",
    EventType.WEBHOOK_DISABLED: "Webhook Disabled",
}

# What an endpoint created without ``events`` receives.
DEFAULT_SUBSCRIPTION: tuple[EventType, ...] = (
    EventType.BATCH_STATUS_CHANGED,
    EventType.BATCH_COMPLETED,
    EventType.CALL_COMPLETED,
    EventType.CREDITS_LOW,
    EventType.WEBHOOK_DISABLED,
)
# Types an endpoint can subscribe to (webhook.test goes to the endpoint it tests only).
SUBSCRIBABLE: tuple[EventType, ...] = (*DEFAULT_SUBSCRIPTION, EventType.RECIPIENT_STATUS_CHANGED)


class Event(BaseModel):
    """One event: the same ``id`` on the bus, in the event log and in every webhook delivery.
    ``data`` carries ``account_id`` and, for batch events, ``batch_id`` and ``parent_batch_id``."""

    id: str
    type: EventType
    timestamp: str
    account_id: str
    data: dict[str, Any]

    def body(self) -> dict[str, Any]:
        """The webhook body; ``event`` repeats ``type`` under Magpipe's key."""
        return {
            "id": self.id,
            "type": self.type.value,
            "event": self.type.value,
            "timestamp": self.timestamp,
            "data": self.data,
        }

    def body_json(self) -> str:
        """The exact bytes signed and sent."""
        return json.dumps(self.body(), separators=(",", ":"), ensure_ascii=False)


class WebhookStatus(StrEnum):
    ENABLED = "enabled"
    DISABLED = "disabled"


class Webhook(BaseModel):
    """An account's endpoint. Its signing secret is derived, never stored
    (domain/webhook_signing.derive_secret): ``secret_version`` names the current one and, for
    24 h after a rotation, ``previous_secret_version`` the one that still signs too."""

    id: str
    account_id: str
    url: str
    events: list[EventType]
    description: str | None = None
    status: WebhookStatus = WebhookStatus.ENABLED
    disabled_reason: str | None = None
    secret_version: int = 1
    previous_secret_version: int | None = None
    previous_secret_until: str | None = None
    failing_since: str | None = None  # the first failed attempt since the last success
    created_at: str
    updated_at: str


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # sent to the queue, not yet attempted
    RETRYING = "retrying"  # an attempt failed; another is scheduled
    DELIVERED = "delivered"
    FAILED = "failed"  # the schedule is used up, or the receiver refused it for good


class DeliveryAttempt(BaseModel):
    attempt: int
    at: str
    status_code: int | None = None
    latency_ms: int = 0
    error: str | None = None


class Delivery(BaseModel):
    """One event sent to one endpoint, with every attempt."""

    id: str
    webhook_id: str
    account_id: str
    event_id: str
    event_type: EventType
    created_at: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    next_retry_at: str | None = None
    claimed_attempt: int = 0  # the attempt a sender holds (or last held) to post
    redelivery_of: str | None = None  # a redelivery asked for by the user: the delivery it repeats


class DeliveryMessage(BaseModel):
    """One message of the webhook queue: attempt ``attempt`` of delivering ``event`` to
    ``webhook_id``, not before ``not_before`` (SQS delays a message 15 minutes at most, so a
    longer wait is a chain of delays)."""

    delivery_id: str
    webhook_id: str
    account_id: str
    attempt: int = 1
    not_before: str | None = None
    manual: bool = False  # a redelivery asked for by the user: one attempt, no retries
    redelivery_of: str | None = None
    busy_waits: int = 0  # times it found the endpoint's deliveries in flight at the limit
    event: Event
