"""The scheduler's sweep: calls stuck without a final status, and concurrency leases whose
holder died.

A call is stuck when it is still in a call ``stuck_call_after_seconds`` after its dial started
— past the longest a call may last and the Map child's own timeout — which happens when the
pass has no Map child left (a cancel stopped the execution) and the provider's final callback
was lost. Each is reconciled with the provider (fetch the call) or failed with a reason.
Candidates come from the sparse due index, never a scan; every ending is conditioned on the
attempt's ticket and every lease removal on the lease seen, so a sweep is idempotent and two
sweeps at once end nothing twice.
"""

from __future__ import annotations

import logging

from batchcalls.domain.recipient_status import RecipientStatus, is_terminal
from batchcalls.observability import metric
from batchcalls.services.context import Context
from batchcalls.services.lost_call import reconcile_attempt

logger = logging.getLogger(__name__)

STUCK_CALL = "No final call status arrived before the maximum call time; reconciled by the sweep"


def sweep(ctx: Context) -> dict[str, int]:
    now = ctx.clock()
    reconciled = 0
    accounts: set[str] = set()
    for ref in ctx.recipients.stuck_calls(ctx.now_iso()):
        recipient = ctx.recipients.get(ref.batch_id, ref.sk)
        if recipient is None or is_terminal(recipient.status) or recipient.status is RecipientStatus.PENDING:
            continue  # ended meanwhile (its ending removed it from the index)
        try:
            if reconcile_attempt(ctx, recipient, STUCK_CALL) != "nothing_to_do":
                reconciled += 1
                metric("StuckCallsSwept")
                logger.warning("stuck call reconciled", extra={"batch_id": ref.batch_id, "recipient": ref.sk})
        except Exception:
            logger.exception("sweep could not reconcile %s %s", ref.batch_id, ref.sk)
        if recipient.account_id:
            accounts.add(recipient.account_id)
    released = sum(1 for account_id in accounts if ctx.slots.sweep_expired(account_id, int(now.timestamp())))
    return {"stuck_calls": reconciled, "lease_sweeps": released}
