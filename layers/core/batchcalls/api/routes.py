"""The REST API (API Gateway → the ``api`` Lambda), on Powertools' event handler."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    CORSConfig,
    Response,
    content_types,
)

from batchcalls.api.actions import dispatch
from batchcalls.api.errors import error_body, parse, status_for
from batchcalls.domain.errors import DomainError, InvalidRequest, Unauthorized
from batchcalls.models.api import RecipientsPageRequest, batch_out, status_counts
from batchcalls.services import batches, idempotency
from batchcalls.services.context import get_context

CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def build_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(cors=CORSConfig(allow_origin="*", allow_headers=CORS_HEADERS, max_age=600))

    def account_id() -> str:
        # Set by the REQUEST authorizer (API Gateway passes its context through).
        context = app.current_event.request_context.authorizer.get_context() or {}
        account = context.get("account_id")
        if not account:
            raise Unauthorized("Unauthorized")
        return str(account)

    def actions() -> Response[str]:
        try:
            body = app.current_event.json_body
        except ValueError as exc:
            raise InvalidRequest("The request body is not valid JSON") from exc
        key = app.current_event.headers.get(idempotency.KEY_HEADER)
        return _json(200, dispatch(get_context(), account_id(), body, idempotency_key=key))

    app.post("/batch-calls")(actions)
    app.post("/functions/v1/batch-calls")(actions)

    @app.get("/batch-calls/<batch_id>")
    def get_batch(batch_id: str) -> Response[str]:
        view = batches.get_batch(get_context(), account_id(), batch_id)
        return _json(200, {"batch": batch_out(view.batch, status_counts(view.recipients))})

    @app.get("/batch-calls/<batch_id>/recipients")
    def recipients_page(batch_id: str) -> Response[str]:
        """Live status, cheaply: one page of recipients, optionally only those of one status or
        changed since a moment (poll with the last response's ``server_time``)."""
        query = app.current_event.query_string_parameters or {}
        ctx = get_context()
        page = batches.recipients_page(
            ctx,
            account_id(),
            batch_id,
            parse(RecipientsPageRequest, query),
        )
        return _json(200, page)

    @app.get("/health")
    def health() -> Response[str]:
        return _json(200, {"status": "ok"})

    @app.exception_handler(DomainError)
    def domain_error(error: DomainError) -> Response[str]:
        return _json(status_for(error), error_body(error))

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return _json(404, {"error": f"No route for {app.current_event.http_method} {app.current_event.path}"})

    return app


_app: APIGatewayRestResolver | None = None


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _app
    if _app is None:
        _app = build_app()
    idempotency.register_lambda_context(context)
    return _app.resolve(event, context)
