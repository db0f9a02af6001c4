"""The settle task's answer (the execution's output) names only what applies to the pass."""

from __future__ import annotations

import json

from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.services.context import Context
from functions.settle.app import lambda_handler
from tests.helpers import make_batch, new_account


def test_the_settle_task_answers_json_without_the_fields_that_do_not_apply(ctx: Context) -> None:
    # Given a paused batch with two recipients still pending in its run 1
    batch = make_batch(ctx, new_account(ctx, balance=0), 2, status=BatchStatus.PAUSED)

    # When its pass settles, and a pass of an older run settles late
    settled = lambda_handler({"batch_id": batch.id, "run": batch.run_number, "pass": 1}, None)
    stale = lambda_handler({"batch_id": batch.id, "run": batch.run_number + 1, "pass": 1}, None)

    # Then each answer is plain JSON with only its own fields (no nulls for in_call, paused_reason)
    assert settled == {"status": "paused", "pending": 2}
    assert stale == {"status": "stale"}
    assert json.loads(json.dumps(settled)) == settled
