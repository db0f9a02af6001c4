"""``POST /batch-calls``: the action dispatcher of the Magpipe-compatible contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from batchcalls.api.errors import parse
from batchcalls.domain.errors import InvalidRequest
from batchcalls.models.api import (
    BatchIdRequest,
    CreateBatchRequest,
    ListBatchesRequest,
    ListRunsRequest,
    StartBatchRequest,
    UpdateBatchRequest,
    batch_out,
    recipient_out,
    status_counts,
)
from batchcalls.services import batches, idempotency, lifecycle
from batchcalls.services.context import Context

Action = Callable[[Context, str, Any], dict[str, Any]]


def _create(ctx: Context, account_id: str, request: CreateBatchRequest) -> dict[str, Any]:
    return {"batch": batch_out(batches.create_batch(ctx, account_id, request))}


def _get(ctx: Context, account_id: str, request: BatchIdRequest) -> dict[str, Any]:
    view = batches.get_batch(ctx, account_id, request.batch_id)
    return {
        "batch": batch_out(view.batch, status_counts(view.recipients)),
        "recipients": [recipient_out(r) for r in view.recipients],
        "runs": None,
    }


def _list(ctx: Context, account_id: str, request: ListBatchesRequest) -> dict[str, Any]:
    found, next_cursor = batches.list_batches(ctx, account_id, request)
    return {"batches": [batch_out(b) for b in found], "next_cursor": next_cursor}


def _list_runs(ctx: Context, account_id: str, request: ListRunsRequest) -> dict[str, Any]:
    return {"runs": [batch_out(b) for b in batches.list_runs(ctx, account_id, request)]}


def _update(ctx: Context, account_id: str, request: UpdateBatchRequest) -> dict[str, Any]:
    return {"batch": batch_out(lifecycle.update(ctx, account_id, request))}


def _start(ctx: Context, account_id: str, request: StartBatchRequest) -> dict[str, Any]:
    return lifecycle.start(ctx, account_id, request)


def _cancel(ctx: Context, account_id: str, request: BatchIdRequest) -> dict[str, Any]:
    return lifecycle.cancel(ctx, account_id, request.batch_id)


def _pause(ctx: Context, account_id: str, request: BatchIdRequest) -> dict[str, Any]:
    return lifecycle.pause(ctx, account_id, request.batch_id)


def _resume(ctx: Context, account_id: str, request: BatchIdRequest) -> dict[str, Any]:
    return lifecycle.resume(ctx, account_id, request.batch_id)


ACTIONS: dict[str, tuple[type[BaseModel], Action]] = {
    "create": (CreateBatchRequest, _create),
    "get": (BatchIdRequest, _get),
    "list": (ListBatchesRequest, _list),
    "list_runs": (ListRunsRequest, _list_runs),
    "update": (UpdateBatchRequest, _update),
    "start": (StartBatchRequest, _start),
    "cancel": (BatchIdRequest, _cancel),
    "pause": (BatchIdRequest, _pause),
    "resume": (BatchIdRequest, _resume),
}


def dispatch(ctx: Context, account_id: str, body: Any, idempotency_key: str | None = None) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object with an 'action'")
    action = body.get("action")
    if not isinstance(action, str) or not action:
        raise InvalidRequest("action is required", [{"field": "action", "message": "is required"}])
    if action not in ACTIONS:
        raise InvalidRequest(f"Unknown action: {action}")
    model, handler = ACTIONS[action]
    request = parse(model, body)
    if idempotency_key is not None and action == "create":
        return idempotency.run_once(
            ctx, account_id, idempotency_key, body, lambda: handler(ctx, account_id, request)
        )
    return handler(ctx, account_id, request)
