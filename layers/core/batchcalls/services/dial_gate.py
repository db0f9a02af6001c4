"""The dialer's gate: everything that must hold before a slot or a fee is taken for a dial.

The gate reads the batch, then runs ``GATE`` in order. Each check gets the dial as known so
far (a ``Candidate``) and returns it — possibly knowing more, such as the number — to let the
next check run, or a ``Decision`` that ends this delivery (an outcome, or ``AGAIN``: the check
changed the batch, decide again from the batch as it is now). A new rule for every dial (quiet
hours, a frequency cap) is one more function in ``GATE``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from batchcalls.domain import window
from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_window import is_open_everywhere, next_open_everywhere, recipient_zones
from batchcalls.models.domain import Batch
from batchcalls.models.messages import DialMessage, DialOutcome
from batchcalls.observability import metric
from batchcalls.services.context import Context
from batchcalls.services.runs import RECIPIENT_WINDOWS
from batchcalls.services.tokens import answer_task


@dataclass(frozen=True)
class Done:
    """This delivery is dealt with: ``outcome`` is what ``dial`` returns (for logs and tests)."""

    outcome: str


class Again(Enum):
    """The batch changed under this delivery (a step paused or failed it, or someone else
    did): decide again from the batch as it is now."""

    AGAIN = "again"


AGAIN = Again.AGAIN
DUPLICATE = Done("duplicate")  # another delivery dealt with this recipient in this pass
Decision = Done | Again


@dataclass(frozen=True)
class Delivery:
    """One delivery of a dial message, at the moment of one decision about it."""

    ctx: Context
    message: DialMessage
    now: datetime
    now_iso: str

    @classmethod
    def at_once(cls, ctx: Context, message: DialMessage) -> Delivery:
        return cls(ctx, message, ctx.clock(), ctx.now_iso())

    def answer(self, outcome: str) -> Done:
        """Tell the Map child waiting on this recipient what happened."""
        answer_task(
            self.ctx,
            self.message.task_token,
            DialOutcome(outcome=outcome, recipient_key=self.message.recipient_key),
        )
        return Done(outcome)

    def defer(self, until: datetime | None = None) -> Done:
        """Not in this pass (not before ``until``, when given); once per pass."""
        deferred = self.ctx.recipients.defer(
            self.message.batch_id,
            self.message.recipient_key,
            self.message.ticket,
            self.now_iso,
            iso(until) if until else None,
        )
        return self.answer("deferred") if deferred else DUPLICATE

    def skip(self, reason: str, *, in_this_pass: bool = True) -> Done:
        """Never dialed (pending → skipped). ``in_this_pass`` records the pass that decided it,
        so a re-run's reset leaves it alone in that run."""
        skipped = self.ctx.recipients.skip(
            self.message.batch_id,
            self.message.recipient_key,
            reason,
            self.now_iso,
            ticket=self.message.ticket if in_this_pass else None,
        )
        return self.answer("skipped") if skipped else DUPLICATE


@dataclass(frozen=True)
class Candidate:
    """A dial the gate has let through so far: the batch as read, and the number once known
    (from the manifest, or from the recipient when a check read it)."""

    batch: Batch
    to: str | None


GateCheck = Callable[[Delivery, Candidate], Candidate | Decision]


def pass_gate(delivery: Delivery) -> Candidate | Decision:
    """The batch of this run, through every check of ``GATE``; the candidate comes out with
    its number known."""
    message = delivery.message
    batch = delivery.ctx.batches.get(message.batch_id)
    if batch is None or batch.run_number != message.run:
        return delivery.answer("stale")
    candidate = Candidate(batch, message.to)
    for check in GATE:
        verdict = check(delivery, candidate)
        if not isinstance(verdict, Candidate):
            metric("DialGateStopped", reason=GATE_REASONS[check])
            return verdict
        candidate = verdict
    return candidate


def batch_not_cancelled(delivery: Delivery, candidate: Candidate) -> Candidate | Decision:
    if candidate.batch.status is BatchStatus.CANCELLED:
        return delivery.skip("Batch cancelled", in_this_pass=False)
    return candidate


def caller_id_active(delivery: Delivery, candidate: Candidate) -> Candidate | Decision:
    """A running batch whose caller ID is no longer one of the account's active numbers
    cannot dial: it fails (its recipients stay pending for a re-run once fixed)."""
    batch = candidate.batch
    if batch.status is BatchStatus.RUNNING and not delivery.ctx.caller_id_active(
        batch.account_id, batch.caller_id
    ):
        reason = f"The caller ID {batch.caller_id} is no longer an active number of this account"
        delivery.ctx.batches.fail(batch.id, batch.run_number, reason, delivery.now_iso)
        return AGAIN  # from the failed batch: deferred
    return candidate


def batch_running(delivery: Delivery, candidate: Candidate) -> Candidate | Decision:
    """Paused, failed, completed…: this recipient waits for the batch to run again."""
    if candidate.batch.status is not BatchStatus.RUNNING:
        return delivery.defer()
    return candidate


def window_open(delivery: Delivery, candidate: Candidate) -> Candidate | Decision:
    batch = candidate.batch
    if batch.window_timezone == RECIPIENT_WINDOWS:
        return _recipient_window_open(delivery, candidate)
    if not window.is_open(batch.window, delivery.now, batch.timezone):
        return delivery.defer()
    return candidate


def _recipient_window_open(delivery: Delivery, candidate: Candidate) -> Candidate | Decision:
    """Each recipient in its own zone(s): only when the window is open in all of them;
    deferred until it next is, skipped when it never is."""
    batch = candidate.batch
    recipient = delivery.ctx.recipients.get(batch.id, delivery.message.recipient_key)
    if recipient is None:
        return delivery.answer("stale")
    zones = recipient_zones(recipient.phone_number, recipient.timezone, batch.timezone)
    if is_open_everywhere(batch.window, delivery.now, zones):
        return replace(candidate, to=recipient.phone_number)
    opens = next_open_everywhere(batch.window, delivery.now, zones)
    if opens is None:
        return delivery.skip(
            f"The call window never opens at once in the number's time zones ({', '.join(zones[:5])})"
        )
    return delivery.defer(opens)


def number_known(delivery: Delivery, candidate: Candidate) -> Candidate | Decision:
    """The number to dial: the manifest's, else the recipient's own."""
    if candidate.to is not None:
        return candidate
    recipient = delivery.ctx.recipients.get(candidate.batch.id, delivery.message.recipient_key)
    if recipient is None:
        return delivery.answer("stale")
    return replace(candidate, to=recipient.phone_number)


# In order; a check sees only what the ones before it let through.
GATE: tuple[GateCheck, ...] = (
    batch_not_cancelled,
    caller_id_active,
    batch_running,
    window_open,
    number_known,
)
# The metric dimension of a dial each check stopped (docs/operations.md).
GATE_REASONS: dict[GateCheck, str] = {
    batch_not_cancelled: "cancelled",
    caller_id_active: "caller_id",
    batch_running: "not_running",
    window_open: "window",
    number_known: "stale",
}
