"""Use cases on batches: create, get, list."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from batchcalls.domain.billing import estimate
from batchcalls.domain.clock import LATEST_SCHEDULE, iso, parse_iso
from batchcalls.domain.concurrency import batch_slots
from batchcalls.domain.errors import InvalidRequest, NotFound, invalid_cursor
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164
from batchcalls.models.api import (
    BatchSpec,
    CostEstimateOut,
    CreateBatchRequest,
    ListBatchesRequest,
    ListRunsRequest,
    PreviewOut,
    RecipientsPageRequest,
)
from batchcalls.models.domain import Account, Batch, CallerNumber, Recipient
from batchcalls.models.results import RecipientPage
from batchcalls.services import series
from batchcalls.services.access import get_owned_batch
from batchcalls.services.context import Context
from batchcalls.services.recipient_list import RecipientList, recipient_list
from batchcalls.services.runs import continue_run


@dataclass
class BatchView:
    batch: Batch
    counts: dict[str, int]  # recipients per status
    recipients: list[Recipient]  # the first ones (all of them up to RECIPIENTS_IN_GET)
    recipients_next_cursor: str | None = None  # continue at GET /batch-calls/{id}/recipients
    import_report: dict[str, Any] | None = None  # batches made from an uploaded file


# ``get`` lists a batch's recipients with it, as Magpipe's does; past this many the answer
# would outgrow an API response (6 MB), so the rest are paged by the recipients route.
RECIPIENTS_IN_GET = 1000


def preview_batch(ctx: Context, account_id: str, request: BatchSpec) -> PreviewOut:
    """What ``create`` would make of this request, creating nothing: the recipients report,
    the cost estimate and the time it would take at the batch's concurrency and pacing."""
    account, _ = checked_account_and_caller(ctx, account_id, request)
    check_schedule(ctx, request)  # a time create would refuse is refused here too
    listing = recipient_list(
        request,
        "preview",
        ctx.now_iso(),
        ctx.settings.default_region,
        max_csv_rows=ctx.settings.max_recipients_per_request,
    )
    listing.leave_out_suppressed(_suppressed(ctx, account_id, listing.recipients))
    slots = batch_slots(account.max_concurrency, request.reserved_concurrency, request.max_concurrency)
    count = len(listing.recipients)
    return PreviewOut(
        **dict(listing.report()),
        estimate=CostEstimateOut.model_validate(
            estimate(count, ctx.credits.balance(account_id), ctx.settings.dial_fee_micros)
        ),
        eta_seconds=eta_seconds(count, slots, account.calls_per_second),
        would_create=bool(listing.recipients) and (request.skip_invalid or not listing.invalid_rows),
    )


# A planning figure for the ETA: ringing plus a short conversation. Real calls vary.
ASSUMED_CALL_SECONDS = 60


def eta_seconds(recipients: int, slots: int, calls_per_second: float) -> int:
    """At most ``slots`` calls at once and ``calls_per_second`` starts: whichever is slower."""
    by_slots = -(-recipients // max(slots, 1)) * ASSUMED_CALL_SECONDS
    by_pacing = recipients / max(calls_per_second, 0.001)
    return int(max(by_slots, by_pacing))


def create_batch(ctx: Context, account_id: str, request: CreateBatchRequest) -> Batch:
    return create_batch_with_report(ctx, account_id, request)[0]


def create_batch_with_report(
    ctx: Context, account_id: str, request: CreateBatchRequest
) -> tuple[Batch, RecipientList]:
    """The batch, and the recipient list it was made from (what was left out, and why)."""
    account, number = checked_account_and_caller(ctx, account_id, request)
    now_iso = ctx.now_iso()
    batch_id = str(uuid.uuid4())
    listing = recipient_list(
        request,
        batch_id,
        now_iso,
        ctx.settings.default_region,
        max_csv_rows=ctx.settings.max_recipients_per_request,
    )
    listing.leave_out_suppressed(_suppressed(ctx, account_id, listing.recipients))
    listing.require_valid(request.skip_invalid)
    recipients = listing.recipients

    recurring = request.recurrence_type != "none"
    if request.status == "draft":
        status = BatchStatus.DRAFT
    elif recurring:
        status = BatchStatus.RECURRING  # the parent: its runs are spawned below
    elif not request.send_now:
        status = BatchStatus.SCHEDULED
    else:
        status = BatchStatus.RUNNING
    batch = new_batch(ctx, request, account, number, batch_id=batch_id, status=status).model_copy(
        update={
            "total_recipients": len(recipients),
            "duplicates_dropped": listing.duplicate_rows,
            "suppressed_dropped": len(listing.suppressed),
        }
    )
    ctx.batches.create(batch, recipients)
    if status is BatchStatus.RECURRING:
        series.spawn_next(ctx, batch)
        return ctx.batches.get(batch.id) or batch, listing
    if status is BatchStatus.RUNNING:
        continue_run(ctx, batch)  # the first pass, or paused until the window opens
        return ctx.batches.get(batch.id) or batch, listing
    return batch, listing


def checked_account_and_caller(
    ctx: Context, account_id: str, request: BatchSpec
) -> tuple[Account, CallerNumber]:
    """The account and the request's caller ID, or the error saying what is wrong with them."""
    account, number = checked_against_account(
        ctx,
        account_id,
        caller_id=request.caller_id,
        agent_id=request.agent_id,
        reserved_concurrency=request.reserved_concurrency,
    )
    assert number is not None  # a caller_id was given
    return account, number


def checked_against_account(
    ctx: Context,
    account_id: str,
    *,
    caller_id: str | None = None,
    agent_id: str | None = None,
    reserved_concurrency: int | None = None,
) -> tuple[Account, CallerNumber | None]:
    """What create, preview, uploads and update check against the account, for the fields
    given: the caller ID is an active number of it, the agent one of its agents, the reserve
    below its max_concurrency. Every problem in one 400 (the first one's sentence); the account
    and the caller ID (when one was given)."""
    account = ctx.accounts.get_account(account_id)
    if account is None:
        raise NotFound("Account not found")
    problems: list[InvalidRequest] = []
    number = None
    if caller_id is not None:
        try:
            number = active_caller_id(ctx, account_id, caller_id)
        except InvalidRequest as exc:
            problems.append(exc)
    if agent_id is not None and ctx.agents.get_agent(account_id, agent_id) is None:
        problems.append(_problem("agent_id", f"'{agent_id}' is not an agent of this account"))
    if reserved_concurrency is not None and reserved_concurrency >= account.max_concurrency:
        message = f"must be below the account's max_concurrency ({account.max_concurrency})"
        problems.append(_problem("reserved_concurrency", message))
    if problems:
        raise InvalidRequest(problems[0].message, [error for p in problems for error in p.errors])
    return account, number


def _problem(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field} {message}", [{"field": field, "message": message}])


def new_batch(
    ctx: Context,
    request: BatchSpec,
    account: Account,
    number: CallerNumber,
    *,
    batch_id: str,
    status: BatchStatus,
) -> Batch:
    """The batch ``request`` describes, in ``status``, with no recipients counted yet."""
    now_iso = ctx.now_iso()
    scheduled_at = future_iso(ctx, "scheduled_at", request.scheduled_at) if request.scheduled_at else None
    recurring = request.recurrence_type != "none"
    end_date = None
    if request.recurrence_end_date:
        end_date = iso(schedule_moment("recurrence_end_date", request.recurrence_end_date))
    return Batch(
        id=batch_id,
        account_id=account.id,
        name=request.name,
        caller_id=number.phone_number,
        agent_id=request.agent_id or number.agent_id,
        status=status,
        send_now=request.send_now,
        scheduled_at=scheduled_at,
        window_start_time=request.window_start_time,
        window_end_time=request.window_end_time,
        window_days=request.window_days,
        timezone=request.timezone or account.timezone or ctx.settings.default_timezone,
        window_timezone=request.window_timezone,
        retry_policy=request.retry_policy,
        reserved_concurrency=request.reserved_concurrency,
        max_concurrency=request.max_concurrency,
        purpose=request.purpose,
        goal=request.goal,
        created_at=now_iso,
        updated_at=now_iso,
        started_at=now_iso if status is BatchStatus.RUNNING else None,
        run_number=1 if status is BatchStatus.RUNNING else 0,
        pass_number=0,
        # The scheduler starts a scheduled batch at its time, and re-checks a running one
        # in case the start below is lost (crash between the write and the start).
        due_at=scheduled_at
        if status is BatchStatus.SCHEDULED
        else (now_iso if status is BatchStatus.RUNNING else None),
        recurrence_type=request.recurrence_type,
        recurrence_interval=request.recurrence_interval,
        recurrence_end_date=end_date,
        recurrence_max_runs=request.recurrence_max_runs,
        # Occurrences count from the first run's time: scheduled_at, or now.
        recurrence_anchor_at=(scheduled_at or now_iso) if recurring else None,
    )


def _suppressed(ctx: Context, account_id: str, recipients: list[Recipient]) -> set[str]:
    return ctx.suppression.suppressed(account_id, (r.phone_number for r in recipients))


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


def get_batch(ctx: Context, account_id: str, batch_id: str, *, with_recipients: bool = False) -> BatchView:
    batch = get_owned_batch(ctx, account_id, batch_id)
    recipients: list[Recipient] = []
    last: str | None = None
    if with_recipients:
        recipients, last = ctx.recipients.page(batch_id, limit=RECIPIENTS_IN_GET)
    return BatchView(
        batch=batch,
        counts=ctx.recipients.status_counts(batch_id),
        recipients=recipients,
        recipients_next_cursor=_cursor(last) if last else None,
        import_report=ctx.batches.import_report(batch_id) if batch.import_status else None,
    )


def _cursor(sort_key: str) -> str:
    # The recipients route's cursor: the sort key to continue after.
    return base64.urlsafe_b64encode(sort_key.encode()).decode()


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
        raise invalid_cursor(str(exc)) from exc


def list_runs(ctx: Context, account_id: str, request: ListRunsRequest) -> list[Batch]:
    get_owned_batch(ctx, account_id, request.parent_batch_id)
    runs = ctx.batches.runs_of(request.parent_batch_id)
    return runs[request.offset : request.offset + request.limit]


def future_iso(ctx: Context, field: str, text: str) -> str:
    """``text`` as our ISO form, if it is an ISO 8601 moment with an offset in the future."""
    moment = schedule_moment(field, text)
    if moment <= ctx.clock():
        message = "must be in the future"
        raise InvalidRequest(f"{field} {message}", [{"field": field, "message": message}])
    return iso(moment)


def check_schedule(ctx: Context, request: BatchSpec) -> None:
    """The request's times, checked as ``create`` checks them."""
    if request.scheduled_at:
        future_iso(ctx, "scheduled_at", request.scheduled_at)
    if request.recurrence_end_date:
        schedule_moment("recurrence_end_date", request.recurrence_end_date)


def schedule_moment(field: str, text: str) -> datetime:
    """A moment to schedule by (``scheduled_at``, ``recurrence_end_date``): before 2100."""
    moment = parse_iso_field(field, text)
    if moment >= LATEST_SCHEDULE:
        message = f"must be before {iso(LATEST_SCHEDULE)}"
        raise InvalidRequest(f"{field} {message}", [{"field": field, "message": message}])
    return moment


def recipients_page(
    ctx: Context, account_id: str, batch_id: str, request: RecipientsPageRequest
) -> RecipientPage:
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
            raise invalid_cursor() from exc
        if not start_after.startswith("R#"):
            raise invalid_cursor()
    found, last = ctx.recipients.page(
        batch_id, limit=request.limit, start_after=start_after, status=request.status, updated_since=since
    )
    return RecipientPage(items=found, next_cursor=_cursor(last) if last else None, server_time=server_time)


def parse_iso_field(field: str, text: str) -> datetime:
    try:
        return parse_iso(text)
    except ValueError as exc:
        message = "must be an ISO 8601 timestamp with a time zone offset"
        raise InvalidRequest(f"{field} {message}", [{"field": field, "message": message}]) from exc
