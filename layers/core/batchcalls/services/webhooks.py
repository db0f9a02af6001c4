"""An account's webhook endpoints: create, read, change, rotate, test, and their deliveries;
and the account's event log (``GET /account/events``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.errors import Conflict, InvalidRequest, NotFound
from batchcalls.domain.event_capture import event_id
from batchcalls.domain.webhook_signing import derive_secret
from batchcalls.domain.webhook_url import UnsafeWebhookUrl
from batchcalls.models.events import (
    DEFAULT_SUBSCRIPTION,
    Delivery,
    DeliveryMessage,
    Event,
    EventType,
    Webhook,
    WebhookStatus,
)
from batchcalls.models.results import Page
from batchcalls.services.context import Context
from batchcalls.services.events import delivery_id
from batchcalls.store.webhooks import Change, WebhookLimitReached

EVENTS_LOOK_BACK = timedelta(hours=24)  # GET /account/events without ``since``


@dataclass(frozen=True)
class WebhookChange:
    """What a create or update asks for (None: leave as it is)."""

    url: str | None = None
    events: list[EventType] | None = None
    description: str | None = None
    status: WebhookStatus | None = None


@dataclass(frozen=True)
class WebhookWithSecret:
    """An endpoint as created or rotated: the only answers that show its secret."""

    webhook: Webhook
    secret: str


def secret_of(ctx: Context, webhook: Webhook, version: int | None = None) -> str:
    return derive_secret(ctx.webhook_key, webhook.account_id, webhook.id, version or webhook.secret_version)


def signing_secrets(ctx: Context, webhook: Webhook) -> list[str]:
    """Newest first; the one a rotation replaced signs too until its overlap ends."""
    secrets = [secret_of(ctx, webhook)]
    until = webhook.previous_secret_until
    if webhook.previous_secret_version and until and parse_iso(until) > ctx.clock():
        secrets.append(secret_of(ctx, webhook, webhook.previous_secret_version))
    return secrets


def check_url(ctx: Context, url: str) -> str:
    """The URL if deliveries may go to it now (scheme, and every address its host resolves to)."""
    try:
        ctx.webhook_poster.check(url)
    except UnsafeWebhookUrl as exc:
        raise InvalidRequest(str(exc), [{"field": "url", "message": str(exc)}]) from exc
    return url


def create_webhook(ctx: Context, account_id: str, change: WebhookChange) -> WebhookWithSecret:
    assert change.url is not None  # the request model requires it
    now = ctx.now_iso()
    webhook = Webhook(
        id="wh_" + uuid.uuid4().hex[:24],
        account_id=account_id,
        url=check_url(ctx, change.url),
        events=list(dict.fromkeys(change.events or DEFAULT_SUBSCRIPTION)),
        description=change.description,
        status=change.status or WebhookStatus.ENABLED,
        created_at=now,
        updated_at=now,
    )
    try:
        ctx.webhooks.create(webhook, ctx.settings.max_webhooks_per_account)
    except WebhookLimitReached as exc:
        raise Conflict(str(exc)) from exc
    return WebhookWithSecret(webhook, secret_of(ctx, webhook))


def list_webhooks(ctx: Context, account_id: str) -> list[Webhook]:
    return ctx.webhooks.list(account_id)


def get_webhook(ctx: Context, account_id: str, webhook_id: str) -> Webhook:
    webhook = ctx.webhooks.get(account_id, webhook_id) if len(webhook_id) <= 100 else None
    if webhook is None:
        raise NotFound(f"No webhook endpoint {webhook_id[:100]} in this account")
    return webhook


def update_webhook(ctx: Context, account_id: str, webhook_id: str, change: WebhookChange) -> Webhook:
    get_webhook(ctx, account_id, webhook_id)
    fields: dict[str, object] = {"updated_at": ctx.now_iso()}
    remove: tuple[str, ...] = ()
    if change.url is not None:
        fields["url"] = check_url(ctx, change.url)
    if change.events is not None:
        fields["events"] = [e.value for e in dict.fromkeys(change.events)]
    if change.description is not None:
        fields["description"] = change.description
    if change.status is not None:
        fields["status"] = change.status.value
        if change.status is WebhookStatus.ENABLED:
            remove = ("disabled_reason", "failing_since")  # a fresh start
    updated = ctx.webhooks.update(account_id, webhook_id, Change(set=fields, remove=remove))
    if updated is None:
        raise NotFound(f"No webhook endpoint {webhook_id} in this account")
    return updated


def delete_webhook(ctx: Context, account_id: str, webhook_id: str) -> None:
    if len(webhook_id) > 100 or not ctx.webhooks.delete(account_id, webhook_id):
        raise NotFound(f"No webhook endpoint {webhook_id[:100]} in this account")


def rotate_secret(ctx: Context, account_id: str, webhook_id: str) -> WebhookWithSecret:
    get_webhook(ctx, account_id, webhook_id)
    until = iso(ctx.clock() + timedelta(seconds=ctx.settings.webhook_rotation_overlap_seconds))
    rotated = ctx.webhooks.rotate_secret(account_id, webhook_id, until, ctx.now_iso())
    if rotated is None:
        raise NotFound(f"No webhook endpoint {webhook_id} in this account")
    return WebhookWithSecret(rotated, secret_of(ctx, rotated))


def send_test(ctx: Context, account_id: str, webhook_id: str) -> DeliveryMessage:
    """A ``webhook.test`` event to this endpoint only, now (its delivery is logged as any)."""
    webhook = _enabled(get_webhook(ctx, account_id, webhook_id))
    now = ctx.now_iso()
    event = Event(
        id=event_id(EventType.WEBHOOK_TEST, webhook.id, now, uuid.uuid4().hex),
        type=EventType.WEBHOOK_TEST,
        timestamp=now,
        account_id=account_id,
        data={"account_id": account_id, "webhook_id": webhook.id, "message": "A test event from batchcalls"},
    )
    message = DeliveryMessage(
        delivery_id=delivery_id(event, webhook.id), webhook_id=webhook.id, account_id=account_id, event=event
    )
    ctx.webhook_queue.send([message])
    return message


def deliveries_page(
    ctx: Context, account_id: str, webhook_id: str, limit: int, cursor: str | None
) -> Page[Delivery]:
    get_webhook(ctx, account_id, webhook_id)
    try:
        return ctx.deliveries.page(webhook_id, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise InvalidRequest(
            "cursor is not one this API gave", [{"field": "cursor", "message": str(exc)}]
        ) from exc


def redeliver(ctx: Context, account_id: str, webhook_id: str, delivery_of: str) -> DeliveryMessage:
    """The delivery's event once more, now, as a delivery of its own (one attempt, not
    retried), so it never disturbs the retries of the one it repeats."""
    _enabled(get_webhook(ctx, account_id, webhook_id))
    found = ctx.deliveries.get(webhook_id, delivery_of) if len(delivery_of) <= 100 else None
    if found is None:
        raise NotFound(f"No delivery {delivery_of[:100]} of webhook endpoint {webhook_id}")
    original, event = found
    message = DeliveryMessage(
        # Listed right after the one it repeats (deliveries are ordered by id).
        delivery_id=f"{original.redelivery_of or original.id}-r{uuid.uuid4().hex[:8]}",
        webhook_id=webhook_id,
        account_id=account_id,
        manual=True,
        redelivery_of=original.redelivery_of or original.id,
        event=event,
    )
    ctx.webhook_queue.send([message])
    return message


def _enabled(webhook: Webhook) -> Webhook:
    if webhook.status is not WebhookStatus.ENABLED:
        raise Conflict(f"Webhook endpoint {webhook.id} is disabled: enable it first (PATCH status: enabled)")
    return webhook


def events_page(
    ctx: Context,
    account_id: str,
    *,
    since: str | None,
    limit: int,
    cursor: str | None,
    event_type: EventType | None,
    batch_id: str | None,
) -> Page[Event]:
    start = iso(ctx.clock() - EVENTS_LOOK_BACK)
    if since:
        try:
            start = iso(parse_iso(since))
        except ValueError as exc:
            message = "since must be an ISO 8601 moment with an offset, e.g. 2026-12-02T09:00:00Z"
            raise InvalidRequest(message, [{"field": "since", "message": message}]) from exc
    try:
        return ctx.event_log.page(
            account_id, since=start, limit=limit, cursor=cursor, event_type=event_type, batch_id=batch_id
        )
    except ValueError as exc:
        raise InvalidRequest(
            "cursor is not one this API gave", [{"field": "cursor", "message": str(exc)}]
        ) from exc
