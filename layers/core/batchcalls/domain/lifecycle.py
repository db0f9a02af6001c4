"""Batch statuses and the one transition table every action asks.

An action on a batch in a status the table does not allow is an ``IllegalTransition``
(HTTP 409 with a sentence naming the current status).
"""

from __future__ import annotations

from enum import StrEnum

from batchcalls.domain.errors import IllegalTransition


class BatchStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    RECURRING = "recurring"


class PausedReason(StrEnum):
    """Why a batch (or a series' spawning) is paused: ``paused_reason`` on the wire."""

    MANUAL = "manual"  # the pause action
    OUTSIDE_WINDOW = "outside_window"  # until its call window opens (the scheduler resumes it)
    INSUFFICIENT_CREDITS = "insufficient_credits"  # a dial fee was refused (a top-up resumes it)


class BatchAction(StrEnum):
    UPDATE = "update"
    START = "start"  # user start/re-run, or the scheduler starting a scheduled batch
    SCHEDULE = "schedule"  # start with send_now false: wait for scheduled_at
    CANCEL = "cancel"
    PAUSE = "pause"
    RESUME = "resume"
    PAUSE_SERIES = "pause_series"
    RESUME_SERIES = "resume_series"
    COMPLETE = "complete"  # every recipient final (engine)
    FAIL = "fail"  # cannot go on (engine)


B = BatchStatus
A = BatchAction

FINAL: frozenset[BatchStatus] = frozenset({B.COMPLETED, B.CANCELLED, B.FAILED})

TRANSITIONS: dict[BatchStatus, dict[BatchAction, BatchStatus]] = {
    B.DRAFT: {
        A.UPDATE: B.DRAFT,
        A.START: B.RUNNING,
        A.SCHEDULE: B.SCHEDULED,
        A.CANCEL: B.CANCELLED,
    },
    B.SCHEDULED: {A.START: B.RUNNING, A.CANCEL: B.CANCELLED},
    B.RUNNING: {
        # start on a running batch is accepted: it makes sure pending recipients get dialed
        # (Magpipe's client sends it after resetting one recipient to retry it).
        A.START: B.RUNNING,
        A.PAUSE: B.PAUSED,
        A.CANCEL: B.CANCELLED,
        A.COMPLETE: B.COMPLETED,
        A.FAIL: B.FAILED,
    },
    B.PAUSED: {
        A.RESUME: B.RUNNING,
        A.START: B.RUNNING,  # "Add credits and restart the batch to continue."
        A.PAUSE: B.PAUSED,  # a pause for another reason while paused keeps it paused
        A.CANCEL: B.CANCELLED,
        A.COMPLETE: B.COMPLETED,
        A.FAIL: B.FAILED,
    },
    # start on a final batch is the re-run: recipients back to pending, counters to 0.
    B.COMPLETED: {A.START: B.RUNNING},
    B.CANCELLED: {A.START: B.RUNNING},
    B.FAILED: {A.START: B.RUNNING},
    B.RECURRING: {
        A.UPDATE: B.RECURRING,
        A.PAUSE_SERIES: B.PAUSED,
        A.CANCEL: B.CANCELLED,
        A.COMPLETE: B.COMPLETED,
    },
}

# A recurring parent that is paused answers resume_series (and not resume); kept apart so a
# paused *run* never looks like a paused series.
SERIES_TRANSITIONS: dict[BatchStatus, dict[BatchAction, BatchStatus]] = {
    B.PAUSED: {A.RESUME_SERIES: B.RECURRING, A.CANCEL: B.CANCELLED, A.UPDATE: B.PAUSED},
}


def next_status(current: BatchStatus, action: BatchAction, *, is_series_parent: bool = False) -> BatchStatus:
    """The status ``action`` moves a batch to, or ``IllegalTransition``."""
    table = SERIES_TRANSITIONS if is_series_parent and current in SERIES_TRANSITIONS else TRANSITIONS
    target = table.get(current, {}).get(action)
    if target is None:
        raise IllegalTransition(
            f"Cannot {action.value.replace('_', ' ')} a batch that is {current.value}",
            current=current.value,
            action=action.value,
        )
    return target


def allowed_from(action: BatchAction) -> list[BatchStatus]:
    """Every status ``action`` may be taken from (for conditional writes)."""
    return [status for status, actions in TRANSITIONS.items() if action in actions]


def is_rerun(current: BatchStatus, action: BatchAction) -> bool:
    return action is A.START and current in FINAL
