"""``POST /batch-calls``: the action dispatcher of the Magpipe-compatible contract."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from batchcalls.api.errors import from_error_list
from batchcalls.domain.errors import InvalidRequest
from batchcalls.models.api import (
    ActionRequest,
    ActionResult,
    BatchSpec,
    CancelBatchRequest,
    CreateBatchRequest,
    GetBatchRequest,
    ListBatchesRequest,
    ListRunsRequest,
    PauseBatchRequest,
    PauseSeriesRequest,
    PreviewBatchRequest,
    PreviewResponse,
    ResumeBatchRequest,
    ResumeSeriesRequest,
    StartBatchRequest,
    UpdateBatchRequest,
    batch_out,
    recipient_out,
)
from batchcalls.services import account, batches, idempotency, lifecycle, series
from batchcalls.services.context import Context
from batchcalls.services.recipient_list import MAX_REPORTED

# A handler answers the JSON body: services answer models and entities, mapped here.
Handler = Callable[[Context, str, Any], dict[str, Any]]
_ACTION_REQUEST: TypeAdapter[Any] = TypeAdapter(ActionRequest)


def _create(ctx: Context, account_id: str, request: CreateBatchRequest) -> dict[str, Any]:
    if request.dry_run:
        return _preview(ctx, account_id, request)
    batch, listing = batches.create_batch_with_report(ctx, account_id, request)
    out: dict[str, Any] = {"batch": batch_out(batch)}
    if listing.suppressed:
        out["suppressed"] = listing.suppressed[:MAX_REPORTED]
    if series.is_series_parent(batch):
        first = ctx.batches.get(series.child_id(batch.id, 0))
        out["first_run"] = batch_out(first) if first else None
    out["estimate"] = dataclasses.asdict(account.cost_estimate(ctx, account_id, batch.total_recipients))
    return out


def _preview(ctx: Context, account_id: str, request: BatchSpec) -> dict[str, Any]:
    return PreviewResponse(preview=batches.preview_batch(ctx, account_id, request)).model_dump(mode="json")


def _get(ctx: Context, account_id: str, request: GetBatchRequest) -> dict[str, Any]:
    view = batches.get_batch(ctx, account_id, request.batch_id, with_recipients=True)
    out: dict[str, Any] = {
        "batch": batch_out(view.batch, view.counts),
        "recipients": [recipient_out(r) for r in view.recipients],
        "runs": (
            [batch_out(run) for run in ctx.batches.runs_of(view.batch.id)[:RUNS_IN_GET]]
            if series.is_series_parent(view.batch)
            else None
        ),
    }
    if view.recipients_next_cursor:
        out["recipients_next_cursor"] = view.recipients_next_cursor
    if view.batch.import_status:
        out["import_report"] = view.import_report
    return out


RUNS_IN_GET = 20


def _list(ctx: Context, account_id: str, request: ListBatchesRequest) -> dict[str, Any]:
    found, next_cursor = batches.list_batches(ctx, account_id, request)
    return {"batches": [batch_out(b) for b in found], "next_cursor": next_cursor}


def _list_runs(ctx: Context, account_id: str, request: ListRunsRequest) -> dict[str, Any]:
    return {"runs": [batch_out(b) for b in batches.list_runs(ctx, account_id, request)]}


def _update(ctx: Context, account_id: str, request: UpdateBatchRequest) -> dict[str, Any]:
    return {"batch": batch_out(lifecycle.update(ctx, account_id, request))}


def _result(result: ActionResult) -> dict[str, Any]:
    # Only what the action reports: start has no skipped count, cancel no cancelled_children.
    return result.model_dump(mode="json", exclude_none=True)


def _start(ctx: Context, account_id: str, request: StartBatchRequest) -> dict[str, Any]:
    return _result(lifecycle.start(ctx, account_id, request))


def _cancel(ctx: Context, account_id: str, request: CancelBatchRequest) -> dict[str, Any]:
    return _result(lifecycle.cancel(ctx, account_id, request.batch_id))


def _pause(ctx: Context, account_id: str, request: PauseBatchRequest) -> dict[str, Any]:
    return _result(lifecycle.pause(ctx, account_id, request.batch_id))


def _resume(ctx: Context, account_id: str, request: ResumeBatchRequest) -> dict[str, Any]:
    return _result(lifecycle.resume(ctx, account_id, request.batch_id))


def _pause_series(ctx: Context, account_id: str, request: PauseSeriesRequest) -> dict[str, Any]:
    return _result(series.pause_series(ctx, account_id, request.batch_id))


def _resume_series(ctx: Context, account_id: str, request: ResumeSeriesRequest) -> dict[str, Any]:
    return _result(series.resume_series(ctx, account_id, request.batch_id))


HANDLERS: dict[type[BaseModel], Handler] = {
    CreateBatchRequest: _create,
    PreviewBatchRequest: _preview,
    GetBatchRequest: _get,
    ListBatchesRequest: _list,
    ListRunsRequest: _list_runs,
    UpdateBatchRequest: _update,
    StartBatchRequest: _start,
    CancelBatchRequest: _cancel,
    PauseBatchRequest: _pause,
    ResumeBatchRequest: _resume,
    PauseSeriesRequest: _pause_series,
    ResumeSeriesRequest: _resume_series,
}


# Validation errors of a discriminated union are located under the tag: drop it.
ACTION_NAMES = ("body", *(get_args(model.model_fields["action"].annotation)[0] for model in HANDLERS))


def parse_action(body: Any) -> Any:
    """The body as the request model of its ``action`` (400 for anything else)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object with an 'action'")
    try:
        return _ACTION_REQUEST.validate_python(body)
    except ValidationError as exc:
        raise from_error_list(list(exc.errors()), strip=ACTION_NAMES) from exc


def run_action(
    ctx: Context, account_id: str, request: Any, body: Any, idempotency_key: str | None = None
) -> dict[str, Any]:
    handler = HANDLERS[type(request)]
    if idempotency_key is not None and isinstance(request, CreateBatchRequest):
        return idempotency.run_once(
            ctx, account_id, idempotency_key, body, lambda: handler(ctx, account_id, request)
        )
    return handler(ctx, account_id, request)
