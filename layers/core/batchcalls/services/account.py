"""The account as its owner sees it (balance, limits, caller IDs, agents, ledger) and top-ups."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

from batchcalls.domain.billing import CostEstimate, estimate
from batchcalls.domain.errors import InvalidRequest, NotFound, invalid_cursor
from batchcalls.domain.lifecycle import BatchStatus, PausedReason
from batchcalls.models.domain import Account, Batch, LedgerEntry
from batchcalls.models.results import AccountView, Page, TopUp
from batchcalls.services.context import Context
from batchcalls.services.lifecycle import resume

logger = logging.getLogger(__name__)


def account_view(ctx: Context, account_id: str) -> AccountView:
    account = ctx.accounts.get_account(account_id)
    if account is None:
        raise NotFound("Account not found")
    return AccountView(
        account=account,
        timezone=account.timezone or ctx.settings.default_timezone,
        balance_micros=ctx.credits.balance(account_id),
        dial_fee_micros=ctx.settings.dial_fee_micros,
        caller_ids=ctx.accounts.caller_numbers(account_id),
        agents=ctx.agents.agents(account_id),
    )


def cost_estimate(ctx: Context, account_id: str, recipients: int) -> CostEstimate:
    """Dial fees for calling every recipient once, against the balance now."""
    return estimate(recipients, ctx.credits.balance(account_id), ctx.settings.dial_fee_micros)


def ledger_page(ctx: Context, account_id: str, limit: int, cursor: str | None) -> Page[LedgerEntry]:
    try:
        entries, next_cursor = ctx.credits.ledger_page(account_id, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise invalid_cursor(str(exc)) from exc
    return Page(items=entries, next_cursor=next_cursor)


def add_credits(
    ctx: Context, account_id: str, amount_micros: int, *, ref: str | None = None, note: str | None = None
) -> TopUp:
    """Add (or, negative, take back) credits with a ledger entry, once per ``ref`` (a retry with
    the same ref is not applied again: ``applied`` is False). An account that asked for it has
    its batches paused for insufficient credits resumed."""
    if amount_micros == 0:
        raise InvalidRequest("amount must not be zero", [{"field": "amount", "message": "must not be zero"}])
    account = ctx.accounts.get_account(account_id)
    if account is None:
        raise NotFound("Account not found")
    applied = ctx.credits.credit(
        LedgerEntry(
            account_id=account_id,
            at=ctx.now_iso(),
            ref=f"top_up:{ref or uuid.uuid4().hex}",
            kind="top_up" if amount_micros > 0 else "adjustment",
            amount_micros=amount_micros,
            note=note,
        )
    )
    resumed = resume_after_top_up(ctx, account) if amount_micros > 0 and applied else []
    return TopUp(balance_micros=ctx.credits.balance(account_id), resumed=resumed, applied=applied)


def paused_for_credits(ctx: Context, account_id: str) -> Iterator[Batch]:
    """The account's batches paused because a dial fee was refused."""
    cursor: str | None = None
    while True:
        page, cursor = ctx.batches.page_for_owner(
            account_id, status=BatchStatus.PAUSED.value, limit=100, cursor=cursor
        )
        yield from (batch for batch in page if batch.paused_reason == PausedReason.INSUFFICIENT_CREDITS)
        if not cursor:
            return


def resume_after_top_up(ctx: Context, account: Account) -> list[str]:
    # Resuming starts a pass: without the state machine (an operator tool that was not told
    # it) a batch would be left running with nothing dialing it.
    if not account.resume_after_top_up or not ctx.settings.state_machine_arn:
        return []
    resumed: list[str] = []
    for batch in paused_for_credits(ctx, account.id):
        try:
            resume(ctx, account.id, batch.id)
            resumed.append(batch.id)
        except Exception:
            logger.exception("could not resume batch %s after a top-up", batch.id)
    return resumed
