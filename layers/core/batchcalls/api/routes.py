"""The REST API (API Gateway → the ``api`` Lambda) on Powertools' event handler, with request
validation and the OpenAPI document generated from the same pydantic models."""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from pydantic import BaseModel

from batchcalls.api import examples
from batchcalls.api.actions import ACTION_NAMES, run_action
from batchcalls.api.errors import error_body, from_error_list, status_for
from batchcalls.api.event_routes import add_event_routes
from batchcalls.api.responses import error_responses as _errors
from batchcalls.api.responses import json_response as _json
from batchcalls.domain.csv_import import template_csv
from batchcalls.domain.errors import DomainError, InvalidRequest, Unauthorized
from batchcalls.models.api import (
    AccountResponse,
    ActionRequest,
    ActionResponse,
    BatchResponse,
    ExportResponse,
    LedgerPage,
    RecipientsPage,
    RecipientsPageRequest,
    SuppressionAdded,
    SuppressionAddRequest,
    SuppressionCheck,
    SuppressionPage,
    SuppressionRemoved,
    UploadBatchRequest,
    UploadResponse,
    _RecipientStatusName,
    account_out,
    batch_out,
    ledger_page_out,
    recipient_out,
    upload_target,
)
from batchcalls.services import account, batches, export, idempotency, suppression, uploads
from batchcalls.services.context import get_context
from batchcalls.store.dynamo import is_validation_error

logger = logging.getLogger(__name__)

CORS_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key"]
TITLE = "batchcalls"
VERSION = "1.0.0"


class Health(BaseModel):
    status: Literal["ok"]


def json_body(text: str) -> Any:
    """The body as JSON, refusing text no store can keep: JSON may escape half of a UTF-16
    pair (``"\\ud800"``), which Python decodes to a lone surrogate that cannot be encoded as
    UTF-8 — DynamoDB, S3 and every response would fail on it later."""
    try:
        value = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError:
        raise  # the event handler's own "not valid JSON" answer
    except ValueError as exc:  # e.g. an integer of over 4,300 digits (Python's own limit)
        raise InvalidRequest(f"The request body is not valid JSON here: {exc}") from exc
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidRequest(
            "The request body has a lone UTF-16 surrogate (an escape such as \\ud800 without its "
            "pair): send valid Unicode"
        ) from exc
    return value


def _not_json(constant: str) -> Any:
    # Python's json reads NaN and Infinity, which JSON (RFC 8259) does not have.
    raise InvalidRequest(f"The request body is not valid JSON: {constant} is not a JSON value")


def build_app() -> APIGatewayRestResolver:
    app = APIGatewayRestResolver(
        cors=CORSConfig(allow_origin="*", allow_headers=CORS_HEADERS, max_age=600),
        enable_validation=True,
        json_body_deserializer=json_body,
    )
    # In the order they always had: the OpenAPI document lists the paths as they are registered.
    _add_action_routes(app)
    _add_batch_routes(app)
    _add_account_routes(app)
    _add_suppression_routes(app)
    add_event_routes(app, lambda: _account_id(app))
    _add_service_routes(app)
    _add_error_handlers(app)
    return app


def _account_id(app: APIGatewayRestResolver) -> str:
    # Set by the REQUEST authorizer (API Gateway passes its context through).
    context = app.current_event.request_context.authorizer.get_context() or {}
    account = context.get("account_id")
    if not account:
        raise Unauthorized("Unauthorized")
    return str(account)


def _add_action_routes(app: APIGatewayRestResolver) -> None:
    def actions(request: Annotated[ActionRequest, Body(openapi_examples=examples.ACTIONS)]) -> Response[str]:
        key = app.current_event.headers.get(idempotency.KEY_HEADER)
        body = app.current_event.json_body
        return _json(200, run_action(get_context(), _account_id(app), request, body, idempotency_key=key))

    action_docs: dict[str, Any] = {
        "summary": "Run an action (create, get, list, list_runs, update, start, cancel, pause, resume)",
        "description": (
            "Magpipe's Batch Calls API: one endpoint, the JSON body's `action` picks the operation. "
            "Send `Idempotency-Key` with `create` to make retries safe."
        ),
        "responses": {
            200: {
                "description": "The action's result (see the examples of each action)",
                "content": {"application/json": {"model": ActionResponse, "examples": examples.RESPONSES}},
            },
            **_errors(400, 401, 404, 409),
        },
        "tags": ["Batch calls"],
    }
    app.post("/batch-calls", **action_docs)(actions)
    app.post("/functions/v1/batch-calls", **{**action_docs, "summary": "The same, at Magpipe's path"})(
        actions
    )


def _add_batch_routes(app: APIGatewayRestResolver) -> None:
    @app.get(
        "/batch-calls/csv-template",
        summary="The CSV template for recipient lists (name, first_name, last_name, phone_number, …)",
        responses={
            200: {
                "description": "A CSV file with the header and an example row",
                "content": {"text/csv": {"schema": {"type": "string"}}},
            }
        },
        tags=["Batch calls"],
    )
    def csv_template() -> Response[str]:
        # Registered before /batch-calls/<batch_id>, which would otherwise take it for an id.
        return Response(
            status_code=200,
            content_type="text/csv; charset=utf-8",
            body=template_csv(),
            headers={"Content-Disposition": 'attachment; filename="batch-calls-template.csv"'},
        )

    @app.post(
        "/batch-calls/uploads",
        summary="A batch from a CSV file too big for a request: answers a presigned S3 upload URL",
        description=(
            "The body is `create`'s, without `recipients`/`recipients_csv`. The batch is a draft "
            "(`import_status: waiting_for_upload`) until the file PUT to `upload.url` is imported "
            "(`importing`, with `import_rows_read`), then starts, is scheduled, or stays a draft "
            '(`status: "draft"`). `GET /batch-calls/{id}` shows the import report.'
        ),
        responses={
            200: {
                "description": "The draft and where to PUT the file",
                "content": {"application/json": {"model": UploadResponse}},
            },
            **_errors(400, 401),
        },
        tags=["Batch calls"],
    )
    def create_upload(request: Annotated[UploadBatchRequest, Body()]) -> Response[str]:
        upload = uploads.create_upload(get_context(), _account_id(app), request)
        return _json(
            200, {"batch": batch_out(upload.batch), "upload": upload_target(upload).model_dump(mode="json")}
        )

    @app.get(
        "/batch-calls/<batch_id>/export.csv",
        summary="Every recipient as CSV: number, name, status, attempts, answered_by, duration, cost, times, variables",
        description="Answers 303 See Other to a presigned URL of the file (valid 15 minutes); the body names it too.",
        responses={
            303: {
                "description": "The file's URL",
                "content": {"application/json": {"model": ExportResponse}},
            },
            **_errors(400, 401, 404, 409),
        },
        tags=["Batch calls"],
    )
    def export_csv(batch_id: str) -> Response[str]:
        out = export.export_batch(get_context(), _account_id(app), batch_id)
        return Response(
            status_code=303,
            content_type=content_types.APPLICATION_JSON,
            body=json.dumps(out.model_dump(mode="json")),
            headers={"Location": out.url},
        )

    @app.get(
        "/batch-calls/<batch_id>",
        summary="A batch without its recipients (with per-status counts)",
        responses={
            200: {"description": "The batch", "content": {"application/json": {"model": BatchResponse}}},
            **_errors(400, 401, 404),
        },
        tags=["Batch calls"],
    )
    def get_batch(batch_id: str) -> Response[str]:
        view = batches.get_batch(get_context(), _account_id(app), batch_id)
        out: dict[str, Any] = {"batch": batch_out(view.batch, view.counts)}
        if view.batch.import_status:
            out["import_report"] = view.import_report
        return _json(200, out)

    @app.get(
        "/batch-calls/<batch_id>/recipients",
        summary="One page of recipients, for cheap live polling",
        description=(
            "Filter by `status`, or only those changed since `updated_since` (pass the previous "
            "response's `server_time`); continue with `cursor` = the previous `next_cursor`."
        ),
        responses={
            200: {"description": "A page", "content": {"application/json": {"model": RecipientsPage}}},
            **_errors(400, 401, 404),
        },
        tags=["Batch calls"],
    )
    def recipients_page(
        batch_id: str,
        status: Annotated[_RecipientStatusName | None, Query()] = None,
        cursor: Annotated[str | None, Query(max_length=200)] = None,
        updated_since: Annotated[str | None, Query(max_length=40)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response[str]:
        request = RecipientsPageRequest(
            status=status, cursor=cursor, updated_since=updated_since, limit=limit
        )
        page = batches.recipients_page(get_context(), _account_id(app), batch_id, request)
        return _json(
            200,
            {
                "recipients": [recipient_out(r) for r in page.items],
                "next_cursor": page.next_cursor,
                "server_time": page.server_time,
            },
        )


def _add_account_routes(app: APIGatewayRestResolver) -> None:
    @app.get(
        "/account",
        summary="The account: balance, dial fee and per-minute rate, limits, caller IDs, agents",
        responses={
            200: {"description": "The account", "content": {"application/json": {"model": AccountResponse}}},
            **_errors(401),
        },
        tags=["Account"],
    )
    def get_account() -> Response[str]:
        view = account.account_view(get_context(), _account_id(app))
        return _json(200, AccountResponse(account=account_out(view)).model_dump(mode="json"))

    @app.get(
        "/account/ledger",
        summary="Every change of the balance, newest first (dial fees, call minutes, top-ups)",
        responses={
            200: {"description": "A page", "content": {"application/json": {"model": LedgerPage}}},
            **_errors(400, 401),
        },
        tags=["Account"],
    )
    def get_ledger(
        cursor: Annotated[str | None, Query(max_length=400)] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> Response[str]:
        page = account.ledger_page(get_context(), _account_id(app), limit, cursor)
        return _json(200, ledger_page_out(page).model_dump(mode="json"))


def _add_suppression_routes(app: APIGatewayRestResolver) -> None:
    @app.get(
        "/account/suppression",
        summary="The do-not-call list: numbers no batch of this account ever dials",
        responses={
            200: {"description": "A page", "content": {"application/json": {"model": SuppressionPage}}},
            **_errors(400, 401),
        },
        tags=["Suppression"],
    )
    def list_suppressed(
        cursor: Annotated[str | None, Query(max_length=400)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> Response[str]:
        page = suppression.page(get_context(), _account_id(app), limit, cursor)
        # exclude_unset: an entry without a reason has no reason field (as it is stored).
        return _json(200, page.model_dump(mode="json", exclude_unset=True))

    @app.post(
        "/account/suppression",
        summary="Add numbers to the do-not-call list (a list, or a CSV upload with a phone column)",
        description=(
            "Numbers are normalised to E.164 (`default_country` for numbers without +country). "
            "A number with a bad row fails the whole request, naming it, unless `skip_invalid`. "
            "New batches leave suppressed numbers out (and report them); a running batch skips "
            "them right before their dial (`skipped`, `error_message: suppressed`)."
        ),
        responses={
            200: {"description": "Added", "content": {"application/json": {"model": SuppressionAdded}}},
            **_errors(400, 401),
        },
        tags=["Suppression"],
    )
    def add_suppressed(request: Annotated[SuppressionAddRequest, Body()]) -> Response[str]:
        added = suppression.add_numbers(get_context(), _account_id(app), request)
        return _json(200, added.model_dump(mode="json"))

    @app.get(
        "/account/suppression/<phone_number>",
        summary="Whether a number is on the do-not-call list (404 if not)",
        responses={
            200: {"description": "It is", "content": {"application/json": {"model": SuppressionCheck}}},
            **_errors(400, 401, 404),
        },
        tags=["Suppression"],
    )
    def get_suppressed(phone_number: str) -> Response[str]:
        number = suppression.get_number(get_context(), _account_id(app), phone_number)
        return _json(200, SuppressionCheck(phone_number=number, suppressed=True).model_dump(mode="json"))

    @app.delete(
        "/account/suppression/<phone_number>",
        summary="Take a number off the do-not-call list (404 if it was not on it)",
        responses={
            200: {"description": "Removed", "content": {"application/json": {"model": SuppressionRemoved}}},
            **_errors(400, 401, 404),
        },
        tags=["Suppression"],
    )
    def remove_suppressed(phone_number: str) -> Response[str]:
        number = suppression.remove_number(get_context(), _account_id(app), phone_number)
        return _json(200, SuppressionRemoved(removed=number).model_dump(mode="json"))


def _add_service_routes(app: APIGatewayRestResolver) -> None:
    @app.get(
        "/health",
        summary="Liveness (no key)",
        responses={200: {"description": "Up", "content": {"application/json": {"model": Health}}}},
        tags=["Service"],
    )
    def health() -> Response[str]:
        return _json(200, {"status": "ok"})

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> Response[str]:
        return Response(
            status_code=200,
            content_type=content_types.APPLICATION_JSON,
            body=app.get_openapi_json_schema(title=TITLE, version=VERSION, summary=examples.API_SUMMARY),
        )


def _add_error_handlers(app: APIGatewayRestResolver) -> None:
    @app.exception_handler(DomainError)
    def domain_error(error: DomainError) -> Response[str]:
        return _json(status_for(error), error_body(error))

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[str]:
        return _json(
            400, error_body(from_error_list(list(error.errors()), strip=(*ACTION_NAMES, "query", "path")))
        )

    @app.exception_handler(UnicodeDecodeError)
    def not_utf8(_: UnicodeDecodeError) -> Response[str]:
        return _json(400, {"error": "The request body is not UTF-8 text"})

    @app.exception_handler(RecursionError)
    def nested_too_deeply(_: RecursionError) -> Response[str]:
        # json.loads and pydantic recurse per level: a body 100,000 levels deep ends here.
        return _json(400, {"error": "The request body is nested too deeply"})

    @app.exception_handler(Exception)
    def unexpected(error: Exception) -> Response[str]:
        if is_validation_error(error):
            # A value DynamoDB refused that validation let through: a bug to fix, but the
            # client sent something wrong, so it hears 400, not a 502 with no sentence.
            logger.exception("DynamoDB refused a value the API did not check")
            return _json(400, {"error": "The request has a value too long or too large to store"})
        raise error

    @app.not_found
    def not_found(_: Exception) -> Response[str]:
        return _json(404, {"error": f"No route for {app.current_event.http_method} {app.current_event.path}"})


_app: APIGatewayRestResolver | None = None


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    global _app
    if _app is None:
        _app = build_app()
    idempotency.register_lambda_context(context)
    return _app.resolve(json_when_form_default(event), context)


_FORM = "application/x-www-form-urlencoded"


def json_when_form_default(event: dict[str, Any]) -> dict[str, Any]:
    """``curl -d '{…}'`` labels its body as a form unless told otherwise, and the event handler
    would then read it as form fields ("action is required"). Every body this API takes is
    JSON, so a form-labelled body that is a JSON object is read as JSON."""
    headers = event.get("headers") or {}
    name = next((k for k in headers if k.lower() == "content-type"), None)
    body = event.get("body") or ""
    if name is None or not str(headers[name]).lower().startswith(_FORM) or event.get("isBase64Encoded"):
        return event
    if not body.lstrip().startswith("{"):
        return event
    fixed = {**headers, name: "application/json"}
    multi = event.get("multiValueHeaders") or {}
    return {
        **event,
        "headers": fixed,
        "multiValueHeaders": {**multi, name: ["application/json"]} if multi else multi,
    }
