"""Plan: pick the recipients one pass may call and write them as the Map's JSON manifest."""

from __future__ import annotations

from collections.abc import Iterator

from batchcalls.domain.concurrency import batch_slots
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.messages import PlanResult, RunPass
from batchcalls.observability import log_keys
from batchcalls.services.context import Context
from batchcalls.store.files import manifest_key


def plan_pass(ctx: Context, run_pass: RunPass) -> PlanResult:
    settings = ctx.settings
    log_keys(batch_id=run_pass.batch_id, run=run_pass.run, pass_number=run_pass.pass_number)
    key = manifest_key(run_pass.batch_id, run_pass.run, run_pass.pass_number)
    empty = PlanResult(
        bucket=ctx.manifests.bucket,
        key=key,
        count=0,
        max_concurrency=1,
        timeout_seconds=settings.dial_task_timeout_seconds,
    )
    batch = ctx.batches.get(run_pass.batch_id)
    if batch is None or batch.status is not BatchStatus.RUNNING or batch.run_number != run_pass.run:
        return empty
    count = ctx.manifests.write_manifest(key, _callable_now(ctx, batch.id))
    if not count:
        return empty
    account = ctx.accounts.get_account(batch.account_id)
    account_max = account.max_concurrency if account else settings.default_max_concurrency
    return empty.model_copy(
        update={
            "count": count,
            "max_concurrency": batch_slots(account_max, batch.reserved_concurrency, batch.max_concurrency),
        }
    )


def _callable_now(ctx: Context, batch_id: str) -> Iterator[dict[str, str]]:
    """The manifest's entries: the pending recipients not waiting for a later time (their
    window, their redial). The number travels with the message so the dialer needs no read to
    dial it."""
    now_iso = ctx.now_iso()
    for ref in ctx.recipients.pending_keys(batch_id):
        if not (ref.next_attempt_at and ref.next_attempt_at > now_iso):
            yield {"rk": ref.sk, "to": ref.phone_number}
