"""Use cases on batches: create, get, list."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime

from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.errors import InvalidRequest, NotFound
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164
from batchcalls.models.api import (
    CreateBatchRequest,
    ListBatchesRequest,
    ListRunsRequest,
    RecipientsPageRequest,
    recipient_out,
)
from batchcalls.models.domain import Batch, CallerNumber, Recipient
from batchcalls.services.context import Context
from batchcalls.services.runs import continue_run


@dataclass
class BatchView:
    batch: Batch
    recipients: list[Recipient]


def _normalise_recipients(
    ctx: Context, batch_id: str, request: CreateBatchRequest, now: str
) -> tuple[list[Recipient], int]:
    errors: list[dict[str, object]] = []
    seen: set[str] = set()
    recipients: list[Recipient] = []
    duplicates = 0
    for index, given in enumerate(request.recipients):
        try:
            e164 = to_e164(given.phone_number, ctx.settings.default_region)
        except InvalidPhoneNumber as exc:
            errors.append({"field": f"recipients[{index}].phone_number", "message": str(exc)})
            continue
        if e164 in seen:
            duplicates += 1
            continue
        seen.add(e164)
        recipients.append(
            Recipient(
                batch_id=batch_id,
                seq=len(recipients) + 1,
                id=str(uuid.uuid4()),
                phone_number=e164,
                name=given.name,
                sort_order=given.sort_order if given.sort_order is not None else index,
                updated_at=now,
            )
        )
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidRequest(f"{first['field']} {first['message']}{more}", errors)
    return recipients, duplicates


def create_batch(ctx: Context, account_id: str, request: CreateBatchRequest) -> Batch:
    account = ctx.accounts.get_account(account_id)
    if account is None:
        raise NotFound("Account not found")
    if request.recurrence_type != "none":
        raise InvalidRequest(
            f"recurrence_type '{request.recurrence_type}' is not supported by this server yet",
            [{"field": "recurrence_type", "message": "only 'none' is supported"}],
        )
    number = active_caller_id(ctx, account_id, request.caller_id)
    caller_id = number.phone_number

    if request.reserved_concurrency >= account.max_concurrency:
        message = f"must be below the account's max_concurrency ({account.max_concurrency})"
        raise InvalidRequest(
            f"reserved_concurrency {message}", [{"field": "reserved_concurrency", "message": message}]
        )

    now = ctx.clock()
    now_iso = iso(now)
    batch_id = str(uuid.uuid4())
    recipients, duplicates = _normalise_recipients(ctx, batch_id, request, now_iso)

    scheduled_at = None
    if request.scheduled_at:
        scheduled_at = future_iso(ctx, "scheduled_at", request.scheduled_at)

    if request.status == "draft":
        status = BatchStatus.DRAFT
    elif not request.send_now:
        status = BatchStatus.SCHEDULED
    else:
        status = BatchStatus.RUNNING

    batch = Batch(
        id=batch_id,
        user_id=account_id,
        name=request.name,
        caller_id=caller_id,
        agent_id=request.agent_id or number.agent_id,
        status=status,
        send_now=request.send_now,
        scheduled_at=scheduled_at,
        window_start_time=request.window_start_time,
        window_end_time=request.window_end_time,
        window_days=request.window_days,
        timezone=request.timezone or account.timezone or ctx.settings.default_timezone,
        reserved_concurrency=request.reserved_concurrency,
        max_concurrency=request.max_concurrency,
        purpose=request.purpose,
        goal=request.goal,
        total_recipients=len(recipients),
        duplicates_dropped=duplicates,
        created_at=now_iso,
        updated_at=now_iso,
        started_at=now_iso if status is BatchStatus.RUNNING else None,
        run_number=1 if status is BatchStatus.RUNNING else 0,
        pass_number=0,
        # The scheduler starts a scheduled batch at its time, and re-checks a running one
        # in case the start below is lost (crash between the write and the start).
        due_at=scheduled_at if status is BatchStatus.SCHEDULED else None,
    )
    ctx.batches.create(batch, recipients)
    if status is BatchStatus.RUNNING:
        continue_run(ctx, batch)  # the first pass, or paused until the window opens
        return ctx.batches.get(batch.id) or batch
    return batch


def active_caller_id(ctx: Context, account_id: str, raw: str) -> CallerNumber:
    """``raw`` as an active caller ID of the account (E.164), or the 400 saying why not."""
    try:
        caller_id = to_e164(raw, ctx.settings.default_region)
    except InvalidPhoneNumber as exc:
        raise InvalidRequest(f"caller_id {exc}", [{"field": "caller_id", "message": str(exc)}]) from exc
    number = ctx.accounts.get_caller_number(account_id, caller_id)
    if number is None or not number.active:
        message = f"{caller_id} is not an active number of this account"
        raise InvalidRequest(f"caller_id {message}", [{"field": "caller_id", "message": message}])
    return number


def get_owned_batch(ctx: Context, account_id: str, batch_id: str) -> Batch:
    batch = ctx.batches.get(batch_id)
    if batch is None or batch.user_id != account_id:
        raise NotFound("Batch not found")
    return batch


def get_batch(ctx: Context, account_id: str, batch_id: str) -> BatchView:
    batch = get_owned_batch(ctx, account_id, batch_id)
    return BatchView(batch=batch, recipients=list(ctx.recipients.in_batch(batch_id)))


def list_batches(
    ctx: Context, account_id: str, request: ListBatchesRequest
) -> tuple[list[Batch], str | None]:
    """A page of the account's batches, newest first, and the cursor of the next page."""
    try:
        return ctx.batches.page_for_owner(
            account_id,
            status=request.status,
            limit=request.limit,
            offset=request.offset,
            cursor=request.cursor,
        )
    except ValueError as exc:
        raise InvalidRequest(
            "cursor is not one this API gave out", [{"field": "cursor", "message": str(exc)}]
        ) from exc


def list_runs(ctx: Context, account_id: str, request: ListRunsRequest) -> list[Batch]:
    get_owned_batch(ctx, account_id, request.parent_batch_id)
    runs = ctx.batches.runs_of(request.parent_batch_id)
    return runs[request.offset : request.offset + request.limit]


def future_iso(ctx: Context, field: str, text: str) -> str:
    """``text`` as our ISO form, if it is an ISO 8601 moment with an offset in the future."""
    moment = parse_iso_field(field, text)
    if moment <= ctx.clock():
        message = "must be in the future"
        raise InvalidRequest(f"{field} {message}", [{"field": field, "message": message}])
    return iso(moment)


def recipients_page(
    ctx: Context, account_id: str, batch_id: str, request: RecipientsPageRequest
) -> dict[str, object]:
    """One page of a batch's recipients for cheap live polling (``updated_since`` = the previous
    response's ``server_time``; recipients changed in that same millisecond may come twice)."""
    get_owned_batch(ctx, account_id, batch_id)
    server_time = ctx.now_iso()
    since = iso(parse_iso_field("updated_since", request.updated_since)) if request.updated_since else None
    start_after = None
    if request.cursor:
        try:
            start_after = base64.urlsafe_b64decode(request.cursor.encode()).decode()
        except ValueError as exc:
            raise InvalidRequest(
                "cursor is not one this API gave out", [{"field": "cursor", "message": "malformed"}]
            ) from exc
        if not start_after.startswith("R#"):
            raise InvalidRequest(
                "cursor is not one this API gave out", [{"field": "cursor", "message": "malformed"}]
            )
    found, last = ctx.recipients.page(
        batch_id, limit=request.limit, start_after=start_after, status=request.status, updated_since=since
    )
    return {
        "recipients": [recipient_out(r) for r in found],
        "next_cursor": base64.urlsafe_b64encode(last.encode()).decode() if last else None,
        "server_time": server_time,
    }


def parse_iso_field(field: str, text: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError as exc:
        message = "must be an ISO 8601 timestamp with a time zone offset"
        raise InvalidRequest(f"{field} {message}", [{"field": field, "message": message}]) from exc
