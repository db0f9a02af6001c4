"""One delivery attempt: sign the event, post it to the endpoint, record the attempt, and
schedule the next one (Standard Webhooks' schedule) or give up; an endpoint that answers
410 Gone, or has failed for days, is disabled (and says so in a ``webhook.disabled`` event).

At least once: a message redelivered after a crash that followed the POST posts again with the
same ``webhook-id``; an attempt is recorded once (``DeliveryStore.record_attempt``)."""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.webhook_retry import (
    AttemptResult,
    classify,
    failing_too_long,
    next_delay,
    parse_schedule,
)
from batchcalls.domain.webhook_signing import signed_headers
from batchcalls.models.events import (
    Delivery,
    DeliveryAttempt,
    DeliveryMessage,
    DeliveryStatus,
    Event,
    Webhook,
    WebhookStatus,
)
from batchcalls.outbound.webhook_http import PostResult
from batchcalls.services.context import Context
from batchcalls.services.webhooks import signing_secrets

SLOT_LEASE_SECONDS = 30  # longer than an attempt can take (the sender's timeout is 10 s)
BUSY_ENDPOINT_DELAY_SECONDS = 2


class Sent(StrEnum):
    """What became of one queue message."""

    WAITING = "waiting"  # not yet due: sent on, delayed
    ENDPOINT_GONE = "endpoint_gone"  # deleted or disabled since
    DUPLICATE = "duplicate"  # this attempt is recorded already
    ENDPOINT_BUSY = "endpoint_busy"  # its deliveries in flight are at the limit: a little later
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"


def deliver(ctx: Context, message: DeliveryMessage) -> Sent:
    now = ctx.clock()
    if message.not_before and parse_iso(message.not_before) > now:
        wait = (parse_iso(message.not_before) - now).total_seconds()
        ctx.webhook_queue.send([message], delay_seconds=math.ceil(wait))
        return Sent.WAITING
    webhook = ctx.webhooks.get(message.account_id, message.webhook_id)
    if webhook is None or webhook.status is not WebhookStatus.ENABLED:
        return Sent.ENDPOINT_GONE
    found = ctx.deliveries.get(webhook.id, message.delivery_id)
    if found is not None and len(found[0].attempts) >= message.attempt:
        _follow_up_again(ctx, message, found[0])
        return Sent.DUPLICATE
    slots = ctx.webhook_slots(webhook.id)
    holder = f"{message.delivery_id}|{message.attempt}|{uuid.uuid4().hex[:8]}"
    epoch = int(now.timestamp())
    if not slots.acquire(
        webhook.account_id,
        holder,
        ctx.settings.webhook_endpoint_concurrency,
        epoch + SLOT_LEASE_SECONDS,
        epoch,
    ):
        ctx.webhook_queue.send([message], delay_seconds=BUSY_ENDPOINT_DELAY_SECONDS)
        return Sent.ENDPOINT_BUSY
    try:
        result = _post(ctx, webhook, message.event, now)
    finally:
        slots.release(webhook.account_id, holder)
    return _record(ctx, webhook, message, result)


def _post(ctx: Context, webhook: Webhook, event: Event, now: datetime) -> PostResult:
    body = event.body_json()
    headers = signed_headers(signing_secrets(ctx, webhook), event.id, int(now.timestamp()), body)
    return ctx.webhook_poster.post(webhook.url, body, headers)


def _record(ctx: Context, webhook: Webhook, message: DeliveryMessage, result: PostResult) -> Sent:
    now = ctx.clock()
    outcome = AttemptResult.FAILED if result.refused else classify(result.status_code)
    delay = None
    if outcome is AttemptResult.RETRY and not message.manual:
        delay = next_delay(parse_schedule(ctx.settings.webhook_retry_schedule_seconds), message.attempt)
    status = _status(outcome, delay)
    next_at = iso(now + timedelta(seconds=delay)) if delay is not None else None
    delivery = Delivery(
        id=message.delivery_id,
        webhook_id=webhook.id,
        account_id=webhook.account_id,
        event_id=message.event.id,
        event_type=message.event.type,
        created_at=iso(now),
    )
    attempt = DeliveryAttempt(
        attempt=message.attempt,
        at=iso(now),
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
    )
    if not ctx.deliveries.record_attempt(delivery, message.event, attempt, status, next_at):
        return Sent.DUPLICATE
    if next_at is not None:
        _send_attempt(ctx, message, message.attempt + 1, next_at)
    _keep_health(ctx, webhook, outcome, result)
    return Sent(status.value)


def _status(outcome: AttemptResult, delay: int | None) -> DeliveryStatus:
    if outcome is AttemptResult.DELIVERED:
        return DeliveryStatus.DELIVERED
    return DeliveryStatus.RETRYING if delay is not None else DeliveryStatus.FAILED


def _send_attempt(ctx: Context, message: DeliveryMessage, attempt: int, not_before: str) -> None:
    follow_up = message.model_copy(update={"attempt": attempt, "not_before": not_before, "manual": False})
    wait = (parse_iso(not_before) - ctx.clock()).total_seconds()
    ctx.webhook_queue.send([follow_up], delay_seconds=max(0, math.ceil(wait)))


def _follow_up_again(ctx: Context, message: DeliveryMessage, delivery: Delivery) -> None:
    """The message came again after its attempt was recorded (the sender died before it sent
    the next): send the next attempt, if one is due and none was recorded since."""
    if (
        delivery.status is DeliveryStatus.RETRYING
        and delivery.next_retry_at
        and len(delivery.attempts) == message.attempt
    ):
        _send_attempt(ctx, message, message.attempt + 1, delivery.next_retry_at)


def _keep_health(ctx: Context, webhook: Webhook, outcome: AttemptResult, result: PostResult) -> None:
    if outcome is AttemptResult.DELIVERED:
        if webhook.failing_since:
            ctx.webhooks.mark_healthy(webhook.account_id, webhook.id)
        return
    if outcome is AttemptResult.GONE:
        _disable(ctx, webhook, "the endpoint answered 410 Gone")
        return
    if webhook.failing_since is None:
        ctx.webhooks.mark_failing(webhook.account_id, webhook.id, ctx.now_iso())
        return
    limit = timedelta(seconds=ctx.settings.webhook_disable_after_seconds)
    if failing_too_long(webhook.failing_since, ctx.clock(), limit):
        last = result.error or f"HTTP {result.status_code}"
        _disable(ctx, webhook, f"every delivery failed since {webhook.failing_since} (last: {last})")


def _disable(ctx: Context, webhook: Webhook, reason: str) -> None:
    """Enabled → disabled, once; its ``webhook.disabled`` event comes from the table's stream
    like every other (the change cannot commit without it)."""
    ctx.webhooks.disable(webhook.account_id, webhook.id, reason, ctx.now_iso())
