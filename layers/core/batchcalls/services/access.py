"""Who may see a batch: its account, and nobody else (others get the same 404 as a missing one)."""

from __future__ import annotations

from batchcalls.domain.errors import NotFound
from batchcalls.models.domain import Batch
from batchcalls.services.context import Context


def get_owned_batch(ctx: Context, account_id: str, batch_id: str) -> Batch:
    batch = ctx.batches.get(batch_id)
    if batch is None or batch.user_id != account_id:
        raise NotFound("Batch not found")
    return batch
