"""Routes of the events: the account's webhook endpoints, their deliveries, and its event log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from pydantic import BaseModel

from batchcalls.api.responses import error_responses, json_response
from batchcalls.models.event_api import (
    DeliveriesPage,
    DeliveryQueued,
    EventName,
    EventsPage,
    WebhookCreateRequest,
    WebhookDeleted,
    WebhookList,
    WebhookResponse,
    WebhookSecretResponse,
    WebhookUpdateRequest,
    delivery_out,
    event_out,
    webhook_out,
    webhook_with_secret_out,
)
from batchcalls.models.events import DeliveryMessage, EventType, WebhookStatus
from batchcalls.services import webhooks
from batchcalls.services.context import get_context

TAG = ["Events"]
NO_WEBHOOK = "No such webhook endpoint in this account"
DISABLED = "The endpoint is disabled (enable it with PATCH first)"


def _ok(model: type[BaseModel], description: str) -> dict[int, OpenAPIResponse]:
    return {200: {"description": description, "content": {"application/json": {"model": model}}}}


def _change(request: WebhookCreateRequest | WebhookUpdateRequest) -> webhooks.WebhookChange:
    status = getattr(request, "status", None)
    return webhooks.WebhookChange(
        url=request.url,
        events=[EventType(e) for e in request.events] if request.events is not None else None,
        description=request.description,
        status=WebhookStatus(status) if status else None,
    )


def _queued(message: DeliveryMessage) -> Response[str]:
    queued = DeliveryQueued(
        delivery_id=message.delivery_id, event_id=message.event.id, attempt=message.attempt
    )
    return json_response(202, queued.model_dump(mode="json"))


def add_event_routes(app: APIGatewayRestResolver, account_id: Callable[[], str]) -> None:
    _add_endpoint_routes(app, account_id)
    _add_delivery_routes(app, account_id)

    @app.get(
        "/account/events",
        summary="The account's events as put on its bus, oldest first (kept 30 days)",
        description="From `since` (default: 24 hours ago); filter by `type` or `batch_id`; continue with `cursor`.",
        responses={**_ok(EventsPage, "A page"), **error_responses(400, 401)},
        tags=TAG,
    )
    def list_events(
        since: Annotated[str | None, Query(max_length=40)] = None,
        type: Annotated[EventName | None, Query()] = None,
        batch_id: Annotated[str | None, Query(max_length=100)] = None,
        cursor: Annotated[str | None, Query(max_length=600)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Response[str]:
        page = webhooks.events_page(
            get_context(),
            account_id(),
            since=since,
            limit=limit,
            cursor=cursor,
            event_type=EventType(type) if type else None,
            batch_id=batch_id,
        )
        out = EventsPage(events=[event_out(e) for e in page.items], next_cursor=page.next_cursor)
        return json_response(200, out.model_dump(mode="json"))


def _add_endpoint_routes(app: APIGatewayRestResolver, account_id: Callable[[], str]) -> None:
    @app.post(
        "/account/webhooks",
        summary="Add a webhook endpoint: signed (Standard Webhooks and Magpipe's header), retried deliveries",
        description="Answers the endpoint with its `secret` (shown here and on rotate-secret only).",
        responses={
            **_ok(WebhookSecretResponse, "The endpoint and its secret"),
            **error_responses(400, 401, 409, e409="The account has its most endpoints already"),
        },
        tags=TAG,
    )
    def create_webhook(request: Annotated[WebhookCreateRequest, Body()]) -> Response[str]:
        made = webhooks.create_webhook(get_context(), account_id(), _change(request))
        out = WebhookSecretResponse(webhook=webhook_with_secret_out(made.webhook, made.secret))
        return json_response(200, out.model_dump(mode="json"))

    @app.get(
        "/account/webhooks",
        summary="The account's webhook endpoints",
        responses={**_ok(WebhookList, "Every endpoint"), **error_responses(401)},
        tags=TAG,
    )
    def list_webhooks() -> Response[str]:
        out = WebhookList(
            webhooks=[webhook_out(w) for w in webhooks.list_webhooks(get_context(), account_id())]
        )
        return json_response(200, out.model_dump(mode="json"))

    @app.get(
        "/account/webhooks/<webhook_id>",
        summary="One webhook endpoint",
        responses={**_ok(WebhookResponse, "The endpoint"), **error_responses(401, 404, e404=NO_WEBHOOK)},
        tags=TAG,
    )
    def get_webhook(webhook_id: str) -> Response[str]:
        webhook = webhooks.get_webhook(get_context(), account_id(), webhook_id)
        return json_response(200, WebhookResponse(webhook=webhook_out(webhook)).model_dump(mode="json"))

    @app.patch(
        "/account/webhooks/<webhook_id>",
        summary="Change an endpoint's URL, events or description, or enable/disable it",
        responses={**_ok(WebhookResponse, "The endpoint"), **error_responses(400, 401, 404, e404=NO_WEBHOOK)},
        tags=TAG,
    )
    def update_webhook(webhook_id: str, request: Annotated[WebhookUpdateRequest, Body()]) -> Response[str]:
        webhook = webhooks.update_webhook(get_context(), account_id(), webhook_id, _change(request))
        return json_response(200, WebhookResponse(webhook=webhook_out(webhook)).model_dump(mode="json"))

    @app.delete(
        "/account/webhooks/<webhook_id>",
        summary="Remove an endpoint (deliveries queued for it are dropped)",
        responses={**_ok(WebhookDeleted, "Removed"), **error_responses(401, 404, e404=NO_WEBHOOK)},
        tags=TAG,
    )
    def delete_webhook(webhook_id: str) -> Response[str]:
        webhooks.delete_webhook(get_context(), account_id(), webhook_id)
        return json_response(200, WebhookDeleted(deleted=webhook_id).model_dump(mode="json"))

    @app.post(
        "/account/webhooks/<webhook_id>/rotate-secret",
        summary="A new signing secret; the old one signs too for 24 hours",
        responses={
            **_ok(WebhookSecretResponse, "The endpoint and its new secret"),
            **error_responses(401, 404, e404=NO_WEBHOOK),
        },
        tags=TAG,
    )
    def rotate_secret(webhook_id: str) -> Response[str]:
        rotated = webhooks.rotate_secret(get_context(), account_id(), webhook_id)
        out = WebhookSecretResponse(webhook=webhook_with_secret_out(rotated.webhook, rotated.secret))
        return json_response(200, out.model_dump(mode="json"))


def _add_delivery_routes(app: APIGatewayRestResolver, account_id: Callable[[], str]) -> None:
    @app.post(
        "/account/webhooks/<webhook_id>/test",
        summary="Send a webhook.test event to this endpoint now",
        responses={
            202: {"description": "Queued", "content": {"application/json": {"model": DeliveryQueued}}},
            **error_responses(401, 404, 409, e404=NO_WEBHOOK, e409=DISABLED),
        },
        tags=TAG,
    )
    def test_webhook(webhook_id: str) -> Response[str]:
        return _queued(webhooks.send_test(get_context(), account_id(), webhook_id))

    @app.get(
        "/account/webhooks/<webhook_id>/deliveries",
        summary="The endpoint's deliveries, newest first, with every attempt",
        responses={**_ok(DeliveriesPage, "A page"), **error_responses(400, 401, 404, e404=NO_WEBHOOK)},
        tags=TAG,
    )
    def list_deliveries(
        webhook_id: str,
        cursor: Annotated[str | None, Query(max_length=600)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ) -> Response[str]:
        page = webhooks.deliveries_page(get_context(), account_id(), webhook_id, limit, cursor)
        out = DeliveriesPage(deliveries=[delivery_out(d) for d in page.items], next_cursor=page.next_cursor)
        return json_response(200, out.model_dump(mode="json"))

    @app.post(
        "/account/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver",
        summary="Send a delivery's event again now, as a delivery of its own (one attempt)",
        responses={
            202: {"description": "Queued", "content": {"application/json": {"model": DeliveryQueued}}},
            **error_responses(
                401, 404, 409, e404="No such endpoint or delivery in this account", e409=DISABLED
            ),
        },
        tags=TAG,
    )
    def redeliver(webhook_id: str, delivery_id: str) -> Response[str]:
        return _queued(webhooks.redeliver(get_context(), account_id(), webhook_id, delivery_id))
