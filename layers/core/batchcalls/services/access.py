"""Who may see a batch: its account, and nobody else (others get the same 404 as a missing one)."""

from __future__ import annotations

from batchcalls.domain.errors import InvalidRequest, NotFound
from batchcalls.models.domain import Batch
from batchcalls.services.context import Context

# Our ids are UUIDs (36 characters); the cap keeps a key DynamoDB would refuse (over 2 KB)
# out of every request, whether it came in a body or a path.
MAX_ID_LENGTH = 100


def get_owned_batch(ctx: Context, account_id: str, batch_id: str, field: str = "batch_id") -> Batch:
    if len(batch_id) > MAX_ID_LENGTH:
        message = f"is {len(batch_id)} characters long; batch ids have at most {MAX_ID_LENGTH}"
        raise InvalidRequest(f"{field} {message}", [{"field": field, "message": message}])
    batch = ctx.batches.get(batch_id)
    if batch is None or batch.account_id != account_id:
        raise NotFound("Batch not found")
    return batch
