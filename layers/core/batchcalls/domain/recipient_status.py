"""Recipient statuses: their order, which are final, and how provider statuses map onto them.

Callbacks repeat and arrive out of order, so a recipient's status only ever moves *forward*
in ``RANK``; the store turns ``statuses_before`` into a DynamoDB condition.
"""

from __future__ import annotations

from enum import StrEnum


class RecipientStatus(StrEnum):
    PENDING = "pending"
    CALLING = "calling"
    INITIATED = "initiated"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    SKIPPED = "skipped"


S = RecipientStatus

TERMINAL: frozenset[RecipientStatus] = frozenset({S.COMPLETED, S.FAILED, S.BUSY, S.NO_ANSWER, S.SKIPPED})
FAILED_OUTCOMES: frozenset[RecipientStatus] = frozenset({S.FAILED, S.BUSY, S.NO_ANSWER})
# Claimed and not yet ended: the dial is being placed or the call is going on.
IN_CALL: tuple[RecipientStatus, ...] = (S.CALLING, S.INITIATED, S.RINGING, S.IN_PROGRESS)

RANK: dict[RecipientStatus, int] = {
    S.PENDING: 0,
    S.CALLING: 1,
    S.INITIATED: 2,
    S.RINGING: 3,
    S.IN_PROGRESS: 4,
    **{status: 5 for status in TERMINAL},
}

# The labels Magpipe's web client shows.
UI_LABELS: dict[RecipientStatus, str] = {
    S.PENDING: "Pending",
    S.CALLING: "Initiating",
    S.INITIATED: "Initiating",
    S.RINGING: "Ringing",
    S.IN_PROGRESS: "Connected",
    S.COMPLETED: "Hungup",
    S.FAILED: "Failed",
    S.BUSY: "Busy",
    S.NO_ANSWER: "No Answer",
    S.SKIPPED: "Skipped",
}

# Twilio's CallStatus values (https://www.twilio.com/docs/voice/api/call-resource#call-status-values).
_PROVIDER_STATUS: dict[str, RecipientStatus] = {
    "queued": S.INITIATED,
    "initiated": S.INITIATED,
    "ringing": S.RINGING,
    "in-progress": S.IN_PROGRESS,
    "answered": S.IN_PROGRESS,
    "completed": S.COMPLETED,
    "busy": S.BUSY,
    "no-answer": S.NO_ANSWER,
    "failed": S.FAILED,
    "canceled": S.FAILED,
}


def is_terminal(status: RecipientStatus) -> bool:
    return status in TERMINAL


def from_provider_status(raw: str) -> RecipientStatus | None:
    """Map a provider's call status to ours; ``None`` for one we do not know (ignored)."""
    return _PROVIDER_STATUS.get(raw.strip().lower())


def statuses_before(status: RecipientStatus) -> list[RecipientStatus]:
    """Every status a recipient may move *from* to reach ``status`` (strictly lower rank)."""
    return [s for s, rank in RANK.items() if rank < RANK[status]]


def counter_field(status: RecipientStatus) -> str:
    """The batch counter a final status adds to."""
    if status is S.COMPLETED:
        return "completed_count"
    if status in FAILED_OUTCOMES:
        return "failed_count"
    if status is S.SKIPPED:
        return "skipped_count"
    raise ValueError(f"{status} is not a final status")
