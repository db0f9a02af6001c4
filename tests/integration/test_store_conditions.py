"""Batch changes that must not act on a batch that moved on since it was read."""

from __future__ import annotations

from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.services.context import Context
from local.seed import DEMO_ACCOUNT_ID
from tests.helpers import make_batch, set_batch_fields

NOW = "2026-12-02T10:00:00.000Z"


def test_a_failure_seen_in_an_earlier_run_never_fails_the_re_run(ctx: Context) -> None:
    # Given a batch re-run (run 2) after a dial of run 1 found the credentials refused
    batch = make_batch(ctx, DEMO_ACCOUNT_ID, 1)
    set_batch_fields(ctx, batch.id, run_number=2)
    # When that late dial fails its run, and then the current run fails
    assert ctx.batches.fail(batch.id, 1, "refused", NOW) is None
    failed = ctx.batches.fail(batch.id, 2, "refused", NOW)
    # Then only the current run's failure counted
    assert failed is not None and failed.status is BatchStatus.FAILED


def test_leaving_the_due_index_keeps_a_due_time_set_since_the_read(ctx: Context) -> None:
    # Given a tick that read the batch due at 10:00, and a settle that then made it due at 10:05
    seen = set_batch_fields(ctx, make_batch(ctx, DEMO_ACCOUNT_ID, 1).id, due_at=NOW)
    set_batch_fields(ctx, seen.id, due_at="2026-12-02T10:05:00.000Z")
    # When the tick leaves the due index
    assert ctx.batches.leave_due_index(seen) is None
    # Then the next pass is still due
    after = ctx.batches.get(seen.id)
    assert after is not None and after.due_at == "2026-12-02T10:05:00.000Z"
    assert ctx.batches.leave_due_index(after) is not None
