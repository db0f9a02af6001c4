"""Webhook deliveries on moto: a stream record read twice yields one event and one delivery, a
sender dying after its POST posts again under the same webhook-id and records one attempt, a
retry follows the schedule, and endpoints are disabled once."""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from batchcalls import aws
from batchcalls.domain.errors import Conflict
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.webhook_url import WebhookTarget
from batchcalls.models.domain import Batch
from batchcalls.models.events import DeliveryMessage, DeliveryStatus, EventType, WebhookStatus
from batchcalls.outbound.webhook_http import PostResult, WebhookPoster
from batchcalls.services import webhooks
from batchcalls.services.context import Context
from batchcalls.services.events import EventPublisher
from batchcalls.services.webhook_delivery import Sent, deliver
from batchcalls.store.stream import BatchChange
from tests.helpers import Clock, make_context, new_account, wait_for


class SenderDied(Exception):
    """What a Lambda timeout or OOM kill looks like to the code after it."""


@dataclass
class FakePoster(WebhookPoster):
    """Answers scripted status codes (then 200) and keeps every request; ``die_after_post``
    raises once the receiver has the request, as a sender killed right after its POST."""

    answers: list[int] = field(default_factory=list)
    die_after_post: bool = False
    posts: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(allow_private=True)

    def check(self, url: str) -> WebhookTarget:
        return WebhookTarget("https", "receiver.test", 443, "/hook")

    def post(self, url: str, body: str, headers: Mapping[str, str]) -> PostResult:
        self.posts.append((url, body, dict(headers)))
        if self.die_after_post:
            self.die_after_post = False
            raise SenderDied
        return PostResult(self.answers.pop(0) if self.answers else 200, 12, None)


@pytest.fixture
def poster() -> FakePoster:
    return FakePoster()


@pytest.fixture(scope="module", autouse=True)
def sender_stopped(quiet_stack: Any) -> None:
    """These tests deliver the queued messages themselves; the stack's sender would race them."""
    quiet_stack.stop_poller("WebhookSenderFunction")


@pytest.fixture
def ctx(quiet_stack: Any, poster: FakePoster) -> Context:
    return make_context(webhook_poster=poster, webhook_retry_schedule_seconds="0")


def endpoint(ctx: Context, events: list[EventType] | None = None) -> tuple[str, str]:
    account_id = new_account(ctx, 10_000_000)
    made = webhooks.create_webhook(
        ctx, account_id, webhooks.WebhookChange(url="https://receiver.test/hook", events=events)
    )
    return account_id, made.webhook.id


def running_batch(account_id: str) -> Batch:
    return Batch(
        id="b-events",
        account_id=account_id,
        name="Events",
        caller_id="+16045557777",
        status=BatchStatus.RUNNING,
        timeout_seconds=30,
        created_at="2026-12-02T10:00:00.000Z",
        updated_at="2026-12-02T10:00:01.000Z",
        run_number=1,
    )


def test_a_stream_record_read_twice_is_one_event_and_one_delivery(ctx: Context, poster: FakePoster) -> None:
    # Given an endpoint of batch events, and a batch's change as the stream gives it
    account_id, webhook_id = endpoint(ctx, [EventType.BATCH_STATUS_CHANGED])
    paused = running_batch(account_id).model_copy(
        update={
            "status": BatchStatus.PAUSED,
            "paused_reason": "manual",
            "updated_at": "2026-12-02T10:05:00.000Z",
        }
    )
    change = BatchChange(running_batch(account_id), paused)
    # When the record is read twice (a retried stream batch)
    first = EventPublisher(ctx).events_of(change)
    again = EventPublisher(ctx).events_of(change)
    # Then it is the same event, kept once in the log
    assert [e.id for e in first] == [e.id for e in again] and len(first) == 1
    assert ctx.event_log.record(first[0]) is True
    assert ctx.event_log.record(again[0]) is False
    # And both deliveries of it are one delivery with one attempt
    [event] = first
    message = DeliveryMessage(
        delivery_id=f"dlv_test_{event.id}", webhook_id=webhook_id, account_id=account_id, event=event
    )
    assert deliver(ctx, message) is Sent.DELIVERED
    assert deliver(ctx, message) is Sent.DUPLICATE
    assert len(poster.posts) == 1
    found = ctx.deliveries.get(webhook_id, message.delivery_id)
    assert found is not None and [a.status_code for a in found[0].attempts] == [200]


def test_a_sender_dying_after_its_post_posts_again_under_the_same_id_and_records_once(
    quiet_stack: Any, poster: FakePoster
) -> None:
    clock = Clock(datetime.now(UTC))
    ctx = make_context(clock=clock, webhook_poster=poster, webhook_retry_schedule_seconds="0")
    account_id, webhook_id = endpoint(ctx)
    message = webhooks.send_test(ctx, account_id, webhook_id)
    poster.die_after_post = True
    with pytest.raises(SenderDied):
        deliver(ctx, message)
    # A duplicate of the message at once finds the attempt claimed: nothing is posted twice.
    assert deliver(ctx, message) is Sent.DUPLICATE and len(poster.posts) == 1
    # The queue gives the dead sender's message again after its visibility timeout (60 s).
    clock.now += timedelta(seconds=61)
    assert deliver(ctx, message) is Sent.DELIVERED
    first, second = poster.posts
    assert first[2]["webhook-id"] == second[2]["webhook-id"] == message.event.id
    found = ctx.deliveries.get(webhook_id, message.delivery_id)
    assert found is not None and len(found[0].attempts) == 1 and found[0].status is DeliveryStatus.DELIVERED


def test_a_failed_attempt_is_retried_on_the_schedule_and_the_last_one_fails_the_delivery(
    quiet_stack: Any, poster: FakePoster
) -> None:
    ctx = make_context(webhook_poster=poster, webhook_retry_schedule_seconds="0,3600")
    account_id, webhook_id = endpoint(ctx)
    poster.answers = [503, 503]
    message = webhooks.send_test(ctx, account_id, webhook_id)
    assert deliver(ctx, message) is Sent.RETRYING
    found = ctx.deliveries.get(webhook_id, message.delivery_id)
    assert found is not None and found[0].status is DeliveryStatus.RETRYING and found[0].next_retry_at
    # The next attempt, when due, is the last one the schedule has.
    follow_up = message.model_copy(update={"attempt": 2, "not_before": None})
    assert deliver(ctx, follow_up) is Sent.FAILED
    found = ctx.deliveries.get(webhook_id, message.delivery_id)
    assert found is not None and [a.status_code for a in found[0].attempts] == [503, 503]
    assert found[0].next_retry_at is None
    webhook = ctx.webhooks.get(account_id, webhook_id)
    assert webhook is not None and webhook.failing_since is not None  # until a delivery succeeds


def test_an_endpoint_answering_410_is_disabled_once_and_says_so(ctx: Context, poster: FakePoster) -> None:
    account_id, webhook_id = endpoint(ctx)
    poster.answers = [410]
    first = webhooks.send_test(ctx, account_id, webhook_id)
    event = first.event
    assert deliver(ctx, first) is Sent.FAILED
    webhook = ctx.webhooks.get(account_id, webhook_id)
    assert webhook is not None and webhook.status is WebhookStatus.DISABLED
    assert webhook.disabled_reason == "the endpoint answered 410 Gone"
    # A test of a disabled endpoint is refused; an attempt queued for it ends, saying why.
    with pytest.raises(Conflict):
        webhooks.send_test(ctx, account_id, webhook_id)
    queued = DeliveryMessage(
        delivery_id="dlv_queued", webhook_id=webhook_id, account_id=account_id, event=event
    )
    assert deliver(ctx, queued) is Sent.ENDPOINT_DISABLED
    assert len(poster.posts) == 1
    found = ctx.deliveries.get(webhook_id, "dlv_queued")
    assert found is not None and found[0].status is DeliveryStatus.FAILED
    assert found[0].attempts[0].error == "not sent: the endpoint is disabled"

    # The change's event comes from the table's stream (the stack's events function).
    def disabled_events() -> list[str]:
        log = ctx.event_log.page(
            account_id, since="2000-01-01T00:00:00.000Z", limit=50, event_type=EventType.WEBHOOK_DISABLED
        )
        return [e.data["webhook_id"] for e in log.items]

    assert wait_for(disabled_events, timeout=10) == [webhook_id]


def test_an_account_has_at_most_its_endpoints_even_when_created_at_once(ctx: Context) -> None:
    account_id = new_account(ctx, 0)
    limit = ctx.settings.max_webhooks_per_account

    def create(_: int) -> bool:
        try:
            webhooks.create_webhook(ctx, account_id, webhooks.WebhookChange(url="https://receiver.test/hook"))
        except Conflict:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(create, range(limit + 5)))
    assert sum(made) == limit and len(ctx.webhooks.list(account_id)) == limit


def test_an_endpoint_failing_for_five_days_is_disabled_by_its_next_failure(
    quiet_stack: Any, poster: FakePoster
) -> None:
    clock = Clock(datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    ctx = make_context(clock=clock, webhook_poster=poster, webhook_retry_schedule_seconds="0")
    account_id, webhook_id = endpoint(ctx)
    poster.answers = [500, 500]
    # Given an endpoint whose deliveries began failing…
    assert deliver(ctx, webhooks.send_test(ctx, account_id, webhook_id)) is Sent.FAILED
    webhook = ctx.webhooks.get(account_id, webhook_id)
    assert webhook is not None and webhook.failing_since == "2026-12-02T09:00:00.000Z"
    # …when it still fails five days and a minute later, it is disabled with the reason
    clock.now += timedelta(days=5, minutes=1)
    assert deliver(ctx, webhooks.send_test(ctx, account_id, webhook_id)) is Sent.FAILED
    webhook = ctx.webhooks.get(account_id, webhook_id)
    assert webhook is not None and webhook.status is WebhookStatus.DISABLED
    assert webhook.disabled_reason == "every delivery failed since 2026-12-02T09:00:00.000Z (last: HTTP 500)"


def test_a_success_ends_the_failing_spell(ctx: Context, poster: FakePoster) -> None:
    account_id, webhook_id = endpoint(ctx)
    poster.answers = [500, 200]
    deliver(ctx, webhooks.send_test(ctx, account_id, webhook_id))
    deliver(ctx, webhooks.send_test(ctx, account_id, webhook_id))
    webhook = ctx.webhooks.get(account_id, webhook_id)
    assert webhook is not None and webhook.failing_since is None and webhook.status is WebhookStatus.ENABLED


def test_an_endpoint_with_its_deliveries_in_flight_at_the_limit_waits(
    poster: FakePoster, quiet_stack: Any
) -> None:
    ctx = make_context(webhook_poster=poster, webhook_endpoint_concurrency=1)
    account_id, webhook_id = endpoint(ctx)
    slots = ctx.webhook_slots(webhook_id)
    assert slots.acquire(account_id, "a slow delivery", 1, 2**40, 0)  # one in flight
    message = webhooks.send_test(ctx, account_id, webhook_id)
    assert deliver(ctx, message) is Sent.ENDPOINT_BUSY and poster.posts == []
    slots.release(account_id, "a slow delivery")
    assert deliver(ctx, message) is Sent.DELIVERED


def queued_messages(ctx: Context) -> int:
    """Messages waiting on the webhook queue, delayed ones included (the stack's sender is off)."""
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=ctx.settings.webhook_queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesDelayed"]
    )


def test_a_duplicate_of_an_attempt_being_retried_starts_no_second_retry(
    quiet_stack: Any, poster: FakePoster
) -> None:
    clock = Clock(datetime.now(UTC))
    ctx = make_context(clock=clock, webhook_poster=poster, webhook_retry_schedule_seconds="0,3600")
    account_id, webhook_id = endpoint(ctx)
    message = webhooks.send_test(ctx, account_id, webhook_id)
    aws.client("sqs").purge_queue(QueueUrl=ctx.settings.webhook_queue_url)
    poster.answers = [500]
    assert deliver(ctx, message) is Sent.RETRYING
    assert queued_messages(ctx) == 1  # attempt 2, an hour from now
    # Given the same message again soon after (a replayed change), nothing more is queued
    clock.now += timedelta(seconds=5)
    assert deliver(ctx, message) is Sent.DUPLICATE
    assert queued_messages(ctx) == 1 and len(poster.posts) == 1


def test_a_redelivery_is_a_delivery_of_its_own_and_leaves_the_retries_alone(
    ctx: Context, poster: FakePoster
) -> None:
    ctx = make_context(webhook_poster=poster, webhook_retry_schedule_seconds="0,3600")
    account_id, webhook_id = endpoint(ctx)
    message = webhooks.send_test(ctx, account_id, webhook_id)
    poster.answers = [500, 200]
    assert deliver(ctx, message) is Sent.RETRYING
    again = webhooks.redeliver(ctx, account_id, webhook_id, message.delivery_id)
    assert again.delivery_id != message.delivery_id and again.event.id == message.event.id
    assert deliver(ctx, again) is Sent.DELIVERED
    original = ctx.deliveries.get(webhook_id, message.delivery_id)
    repeated = ctx.deliveries.get(webhook_id, again.delivery_id)
    assert (
        original is not None and original[0].status is DeliveryStatus.RETRYING and original[0].next_retry_at
    )
    assert repeated is not None and repeated[0].redelivery_of == message.delivery_id
    assert [d.id for d in ctx.deliveries.page(webhook_id, limit=10).items][:2] == [
        again.delivery_id,
        message.delivery_id,
    ]
