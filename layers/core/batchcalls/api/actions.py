"""``POST /batch-calls``: the action dispatcher of the Magpipe-compatible contract."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ValidationError

from batchcalls.api.errors import from_validation_error
from batchcalls.domain.errors import InvalidRequest
from batchcalls.models.api import (
    BatchIdRequest,
    CreateBatchRequest,
    ListBatchesRequest,
    batch_out,
    recipient_out,
    status_counts,
)
from batchcalls.services import batches
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
    return {"batches": [batch_out(b) for b in batches.list_batches(ctx, account_id, request)]}


ACTIONS: dict[str, tuple[type[BaseModel], Action]] = {
    "create": (CreateBatchRequest, _create),
    "get": (BatchIdRequest, _get),
    "list": (ListBatchesRequest, _list),
}


def dispatch(ctx: Context, account_id: str, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object with an 'action'")
    action = body.get("action")
    if not isinstance(action, str) or not action:
        raise InvalidRequest("action is required", [{"field": "action", "message": "is required"}])
    if action not in ACTIONS:
        raise InvalidRequest(f"Unknown action: {action}")
    model, handler = ACTIONS[action]
    try:
        request = model.model_validate(body)
    except ValidationError as exc:
        raise from_validation_error(exc) from exc
    return handler(ctx, account_id, request)
