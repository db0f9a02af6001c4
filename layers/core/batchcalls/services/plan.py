"""Plan: pick the recipients one pass may call and write them as the Map's JSON manifest."""

from __future__ import annotations

import json
import tempfile

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
    # waiting for a later time (their window, their redial) stay out of this pass. The JSON
    # array is written item by item to a spooled file (8 MiB in memory, then /tmp): a pass of
    # a million recipients never sits in memory whole.
    now_iso = ctx.now_iso()
    count = 0
    with tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b") as manifest:
        manifest.write(b"[")
        for ref in ctx.recipients.pending_keys(batch.id):
            if ref.next_attempt_at and ref.next_attempt_at > now_iso:
                continue
            if count:
                manifest.write(b",")
            manifest.write(json.dumps({"rk": ref.sk, "to": ref.phone_number}).encode())
            count += 1
        manifest.write(b"]")
        if not count:
            return empty
        manifest.seek(0)
        ctx.s3.upload_fileobj(
            manifest, settings.manifest_bucket, key, ExtraArgs={"ContentType": "application/json"}
        )
    account = ctx.accounts.get_account(batch.user_id)
    account_max = account.max_concurrency if account else settings.default_max_concurrency
    return empty.model_copy(
        update={
            "count": count,
            "max_concurrency": batch_slots(account_max, batch.reserved_concurrency, batch.max_concurrency),
        }
    )
