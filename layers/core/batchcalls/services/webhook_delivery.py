"""One delivery attempt: sign the event, post it to the endpoint, record the attempt, and
schedule the next one (Standard Webhooks' schedule) or give up; an endpoint that answers
410 Gone, or has failed for days, is disabled (its ``webhook.disabled`` event comes from the
table's stream).

At least once, and each attempt posted once where it can be: a sender claims the attempt
(``DeliveryStore.claim``, with a lease) before it posts, so duplicate queue messages do not post
twice; one that dies after its POST leaves the claim to run out, and the message, given again,
posts again under the same ``webhook-id``. An attempt is recorded once
(``DeliveryStore.record_attempt``)."""

from __future__ import annotations

import logging
import math
import random
import uuid
from datetime import datetime, timedelta
from enum import StrEnum

from aws_lambda_powertools.metrics import MetricUnit

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
from batchcalls.observability import log_keys, metric, subsegment
from batchcalls.outbound.webhook_http import PostResult
from batchcalls.services.context import Context
from batchcalls.services.webhooks import signing_secrets

logger = logging.getLogger(__name__)

SLOT_LEASE_SECONDS = 30  # longer than an attempt can take (the sender's timeout is 10 s)
CLAIM_LEASE_SECONDS = 30  # a claim of a sender that died runs out after this
# A message given again this long after its attempt was recorded is the queue's redelivery of
# a sender that died before it sent the next attempt (SQS waits the 60 s visibility timeout).
FOLLOW_UP_GRACE_SECONDS = 90
MAX_BUSY_DELAY_SECONDS = 60


class Sent(StrEnum):
    """What became of one queue message."""

    WAITING = "waiting"  # not yet due: sent on, delayed
    ENDPOINT_GONE = "endpoint_gone"  # deleted since
    ENDPOINT_DISABLED = "endpoint_disabled"  # recorded as not sent
    DUPLICATE = "duplicate"  # this attempt is another sender's, or recorded already
    ENDPOINT_BUSY = "endpoint_busy"  # its deliveries in flight are at the limit: a little later
    DELIVERED = "delivered"
    RETRYING = "retrying"
    FAILED = "failed"


def deliver(ctx: Context, message: DeliveryMessage) -> Sent:
    log_keys(
        account_id=message.account_id,
        webhook_id=message.webhook_id,
        delivery_id=message.delivery_id,
        event_id=message.event.id,
        batch_id=message.event.data.get("batch_id"),
    )
    now = ctx.clock()
    if message.not_before and parse_iso(message.not_before) > now:
        wait = (parse_iso(message.not_before) - now).total_seconds()
        ctx.webhook_queue.send([message], delay_seconds=math.ceil(wait))
        return Sent.WAITING
    webhook = ctx.webhooks.get(message.account_id, message.webhook_id)
    if webhook is None:
        return Sent.ENDPOINT_GONE
    delivery = _delivery(message, now)
    if webhook.status is not WebhookStatus.ENABLED:
        return _not_sent(ctx, message, delivery, "not sent: the endpoint is disabled")
    epoch = int(now.timestamp())
    if not ctx.deliveries.claim(delivery, message.event, message.attempt, epoch + CLAIM_LEASE_SECONDS, epoch):
        _recover(ctx, webhook, message)
        return Sent.DUPLICATE
    slots = ctx.webhook_slots(webhook.id)
    holder = f"{message.delivery_id}|{message.attempt}|{uuid.uuid4().hex[:8]}"
    limit = ctx.settings.webhook_endpoint_concurrency
    if not slots.acquire(webhook.account_id, holder, limit, epoch + SLOT_LEASE_SECONDS, epoch):
        ctx.deliveries.release_claim(delivery, message.attempt)
        return _wait_for_the_endpoint(ctx, message)
    try:
        result = _post(ctx, webhook, message.event, now)
    finally:
        slots.release(webhook.account_id, holder)
    return _record(ctx, webhook, message, delivery, result)


def _delivery(message: DeliveryMessage, now: datetime) -> Delivery:
    return Delivery(
        id=message.delivery_id,
        webhook_id=message.webhook_id,
        account_id=message.account_id,
        event_id=message.event.id,
        event_type=message.event.type,
        created_at=iso(now),
        redelivery_of=message.redelivery_of,
    )


def _wait_for_the_endpoint(ctx: Context, message: DeliveryMessage) -> Sent:
    """Later, backing off (2, 4, 8 … 60 s, with jitter): a slow endpoint's backlog costs
    little while it waits, and the others' deliveries go on."""
    delay = min(MAX_BUSY_DELAY_SECONDS, 2 ** min(message.busy_waits + 1, 6)) + random.uniform(0, 1)
    again = message.model_copy(update={"busy_waits": message.busy_waits + 1})
    ctx.webhook_queue.send([again], delay_seconds=math.ceil(delay))
    return Sent.ENDPOINT_BUSY


def _post(ctx: Context, webhook: Webhook, event: Event, now: datetime) -> PostResult:
    body = event.body_json()
    headers = signed_headers(signing_secrets(ctx, webhook), event.id, int(now.timestamp()), body)
    with subsegment("webhook.post"):
        return ctx.webhook_poster.post(webhook.url, body, headers)


def _record(
    ctx: Context, webhook: Webhook, message: DeliveryMessage, delivery: Delivery, result: PostResult
) -> Sent:
    now = ctx.clock()
    outcome = AttemptResult.FAILED if result.refused else classify(result.status_code)
    delay = None
    if outcome is AttemptResult.RETRY and not message.manual:
        delay = next_delay(parse_schedule(ctx.settings.webhook_retry_schedule_seconds), message.attempt)
    status = _status(outcome, delay)
    next_at = iso(now + timedelta(seconds=delay)) if delay is not None else None
    attempt = DeliveryAttempt(
        attempt=message.attempt,
        at=iso(now),
        status_code=result.status_code,
        latency_ms=result.latency_ms,
        error=result.error,
    )
    if not ctx.deliveries.record_attempt(delivery, message.event, attempt, status, next_at):
        return Sent.DUPLICATE
    metric("WebhookAttempts", result=status.value)
    metric("WebhookLatency", result.latency_ms, MetricUnit.Milliseconds)
    logger.info(
        "webhook attempt %s: %s",
        message.attempt,
        status.value,
        extra={"status_code": result.status_code, "error": result.error, "latency_ms": result.latency_ms},
    )
    if next_at is not None:
        _send_attempt(ctx, message, message.attempt + 1, next_at)
    _keep_health(ctx, webhook, outcome, attempt)
    return Sent(status.value)


def _not_sent(ctx: Context, message: DeliveryMessage, delivery: Delivery, reason: str) -> Sent:
    """A queued attempt for an endpoint disabled meanwhile ends the delivery, saying why (it
    would otherwise wait forever as ``retrying``)."""
    attempt = DeliveryAttempt(attempt=message.attempt, at=iso(ctx.clock()), error=reason)
    ctx.deliveries.record_attempt(delivery, message.event, attempt, DeliveryStatus.FAILED, None)
    return Sent.ENDPOINT_DISABLED


def _status(outcome: AttemptResult, delay: int | None) -> DeliveryStatus:
    if outcome is AttemptResult.DELIVERED:
        return DeliveryStatus.DELIVERED
    return DeliveryStatus.RETRYING if delay is not None else DeliveryStatus.FAILED


def _send_attempt(ctx: Context, message: DeliveryMessage, attempt: int, not_before: str) -> None:
    follow_up = message.model_copy(update={"attempt": attempt, "not_before": not_before, "busy_waits": 0})
    wait = (parse_iso(not_before) - ctx.clock()).total_seconds()
    ctx.webhook_queue.send([follow_up], delay_seconds=max(0, math.ceil(wait)))


def _recover(ctx: Context, webhook: Webhook, message: DeliveryMessage) -> None:
    """The attempt was another sender's. If that sender recorded it and then died, finish what
    it left: the endpoint's health (a 410 disables it), and the next attempt — when the message
    comes back well after the record and nobody has taken the next attempt (only the queue's
    redelivery of the dead sender's message does; a duplicate soon after does not)."""
    found = ctx.deliveries.get(webhook.id, message.delivery_id)
    if found is None or len(found[0].attempts) != message.attempt:
        return  # still in flight, or later attempts made
    delivery = found[0]
    last = delivery.attempts[-1]
    _keep_health(ctx, webhook, classify(last.status_code), last)
    age = (ctx.clock() - parse_iso(last.at)).total_seconds()
    if (
        delivery.status is DeliveryStatus.RETRYING
        and delivery.next_retry_at
        and delivery.claimed_attempt == message.attempt
        and age >= FOLLOW_UP_GRACE_SECONDS
    ):
        _send_attempt(ctx, message, message.attempt + 1, delivery.next_retry_at)


def _keep_health(ctx: Context, webhook: Webhook, outcome: AttemptResult, attempt: DeliveryAttempt) -> None:
    """Each step is conditional, so doing it again (a recovery) changes nothing."""
    if outcome is AttemptResult.DELIVERED:
        if webhook.failing_since:
            ctx.webhooks.mark_healthy(webhook.account_id, webhook.id)
        return
    if outcome is AttemptResult.GONE:
        _disable(ctx, webhook, "the endpoint answered 410 Gone", None)
        return
    if webhook.failing_since is None:
        ctx.webhooks.mark_failing(webhook.account_id, webhook.id, ctx.now_iso())
        return
    limit = timedelta(seconds=ctx.settings.webhook_disable_after_seconds)
    if failing_too_long(webhook.failing_since, ctx.clock(), limit):
        last = attempt.error or f"HTTP {attempt.status_code}"
        reason = f"every delivery failed since {webhook.failing_since} (last: {last})"
        _disable(ctx, webhook, reason, webhook.failing_since)


def _disable(ctx: Context, webhook: Webhook, reason: str, failing_since: str | None) -> None:
    """Once (conditional); its ``webhook.disabled`` event comes from the table's stream."""
    if ctx.webhooks.disable(
        webhook.account_id, webhook.id, reason, ctx.now_iso(), failing_since=failing_since
    ):
        metric("WebhookEndpointsDisabled")
        logger.warning("webhook endpoint disabled: %s", reason)
