"""The API contract of the events routes: webhook endpoints, their deliveries, the event log."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from batchcalls.models.events import Delivery, Event, Webhook

SubscribableName = Literal[
    "batch.status_changed",
    "batch.completed",
    "recipient.status_changed",
    "call.completed",
    "credits.low",
    "webhook.disabled",
]
EventName = Literal[SubscribableName, "webhook.test"]


class WebhookCreateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=2048, description="https URL the events are POSTed to")
    events: list[SubscribableName] | None = Field(
        default=None,
        min_length=1,
        max_length=10,
        description="Event types to send (default: all but the high-volume recipient.status_changed)",
    )
    description: str | None = Field(default=None, max_length=500)


class WebhookUpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(default=None, max_length=2048)
    events: list[SubscribableName] | None = Field(default=None, min_length=1, max_length=10)
    description: str | None = Field(default=None, max_length=500)
    status: Literal["enabled", "disabled"] | None = Field(
        default=None, description="enabled again after it was disabled: deliveries resume"
    )


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[str]
    description: str | None
    status: Literal["enabled", "disabled"]
    disabled_reason: str | None
    failing_since: str | None = Field(description="first failed delivery since the last success")
    previous_secret_until: str | None = Field(
        description="after a rotation, the old secret signs too until then"
    )
    created_at: str
    updated_at: str


class WebhookWithSecretOut(WebhookOut):
    secret: str = Field(description="whsec_…: shown on create and rotate-secret only")


class WebhookResponse(BaseModel):
    webhook: WebhookOut


class WebhookSecretResponse(BaseModel):
    webhook: WebhookWithSecretOut


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class WebhookDeleted(BaseModel):
    deleted: str


class DeliveryQueued(BaseModel):
    delivery_id: str
    event_id: str
    attempt: int


class DeliveryAttemptOut(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    latency_ms: int
    error: str | None


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: Literal["pending", "retrying", "delivered", "failed"]
    attempt: int = Field(description="attempts made")
    status_code: int | None = Field(description="of the last attempt")
    latency_ms: int | None = Field(description="of the last attempt")
    error: str | None = Field(description="of the last attempt")
    next_retry_at: str | None
    created_at: str
    redelivery_of: str | None = Field(description="a redelivery you asked for: the delivery it repeats")
    attempts: list[DeliveryAttemptOut]


class DeliveriesPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: str | None


class EventOut(BaseModel):
    id: str
    type: str
    event: str = Field(description="the same as type (Magpipe's key)")
    timestamp: str
    data: dict[str, Any]


class EventsPage(BaseModel):
    events: list[EventOut]
    next_cursor: str | None


def webhook_out(webhook: Webhook) -> WebhookOut:
    return WebhookOut(
        id=webhook.id,
        url=webhook.url,
        events=[e.value for e in webhook.events],
        description=webhook.description,
        status=webhook.status.value,
        disabled_reason=webhook.disabled_reason,
        failing_since=webhook.failing_since,
        previous_secret_until=webhook.previous_secret_until,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


def webhook_with_secret_out(webhook: Webhook, secret: str) -> WebhookWithSecretOut:
    return WebhookWithSecretOut(**webhook_out(webhook).model_dump(), secret=secret)


def delivery_out(delivery: Delivery) -> DeliveryOut:
    last = delivery.attempts[-1] if delivery.attempts else None
    return DeliveryOut(
        id=delivery.id,
        event_id=delivery.event_id,
        event_type=delivery.event_type.value,
        status=delivery.status.value,
        attempt=len(delivery.attempts),
        status_code=last.status_code if last else None,
        latency_ms=last.latency_ms if last else None,
        error=last.error if last else None,
        next_retry_at=delivery.next_retry_at,
        created_at=delivery.created_at,
        redelivery_of=delivery.redelivery_of,
        attempts=[DeliveryAttemptOut(**a.model_dump()) for a in delivery.attempts],
    )


def event_out(event: Event) -> EventOut:
    return EventOut(**event.body())
