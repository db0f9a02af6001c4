"""Plan: pick the recipients one pass may call and write them as the Map's JSON manifest."""

from __future__ import annotations

import json

from batchcalls.domain.concurrency import batch_slots
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.messages import PlanResult, RunPass
from batchcalls.services.context import Context


def plan_pass(ctx: Context, run_pass: RunPass) -> PlanResult:
    settings = ctx.settings
    key = f"manifests/{run_pass.batch_id}/r{run_pass.run}-p{run_pass.pass_number}.json"
    empty = PlanResult(
        bucket=settings.manifest_bucket,
        key=key,
        count=0,
        max_concurrency=1,
        timeout_seconds=settings.dial_task_timeout_seconds,
    )
    batch = ctx.batches.get(run_pass.batch_id)
    if batch is None or batch.status is not BatchStatus.RUNNING or batch.run_number != run_pass.run:
        return empty
    # The number travels with the message so the dialer needs no read to dial it. Recipients
    # waiting for a later time (their window, their redial) stay out of this pass.
    now_iso = ctx.now_iso()
    pending = [
        {"rk": ref.sk, "to": ref.phone_number}
        for ref in ctx.recipients.pending_keys(batch.id)
        if not ref.next_attempt_at or ref.next_attempt_at <= now_iso
    ]
    if not pending:
        return empty
    account = ctx.accounts.get_account(batch.user_id)
    account_max = account.max_concurrency if account else settings.default_max_concurrency
    ctx.s3.put_object(
        Bucket=settings.manifest_bucket,
        Key=key,
        Body=json.dumps(pending).encode(),
        ContentType="application/json",
    )
    return empty.model_copy(
        update={
            "count": len(pending),
            "max_concurrency": batch_slots(account_max, batch.reserved_concurrency, batch.max_concurrency),
        }
    )
