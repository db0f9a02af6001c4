"""When a webhook delivery is tried again: what an answer means, how long to wait, and when an
endpoint has been failing for too long."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from batchcalls.domain.clock import parse_iso

# The Standard Webhooks schedule: immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h,
# 24 h. schedule[i] is the wait before attempt i + 1.
DEFAULT_SCHEDULE_SECONDS: tuple[int, ...] = (0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


class AttemptResult(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # try again later (if the schedule has an attempt left)
    FAILED = "failed"  # the endpoint refused it; trying again would get the same answer
    GONE = "gone"  # 410: the receiver asks us to stop sending to this endpoint


def parse_schedule(text: str) -> tuple[int, ...]:
    """``"0,5,300"`` as seconds; ValueError with a sentence for anything else."""
    parts = [part.strip() for part in text.split(",")]
    if not text.strip():
        raise ValueError("a webhook retry schedule needs at least one delay")
    if not all(part.isascii() and part.isdigit() for part in parts):
        raise ValueError(
            f"a webhook retry schedule is whole seconds (0 or more) separated by commas, not {text!r}"
        )
    return tuple(int(part) for part in parts)


def classify(status_code: int | None) -> AttemptResult:
    """What an attempt's answer means. None is no answer at all (a timeout, a refused or broken
    connection). Redirects are not followed, so a 3xx fails like other 4xx."""
    if status_code is None or status_code in (408, 429) or 500 <= status_code <= 599:
        return AttemptResult.RETRY
    if 200 <= status_code <= 299:
        return AttemptResult.DELIVERED
    if status_code == 410:
        return AttemptResult.GONE
    return AttemptResult.FAILED


def next_delay(schedule: Sequence[int], attempts_made: int) -> int | None:
    """Seconds until the next attempt after ``attempts_made`` attempts failed retryably, or None
    once the schedule is used up."""
    if attempts_made < 0:
        raise ValueError("attempts_made must not be negative")
    return schedule[attempts_made] if attempts_made < len(schedule) else None


def failing_too_long(failing_since: str | None, now: datetime, limit: timedelta) -> bool:
    """Whether an endpoint failing since ``failing_since`` (ISO 8601 with an offset; None: not
    failing) has failed for longer than ``limit`` by ``now`` (naive ``now`` is read as UTC)."""
    if failing_since is None:
        return False
    moment = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
    return moment - parse_iso(failing_since) > limit
