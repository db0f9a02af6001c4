"""One injectable clock: services take ``now`` from a ``Clock`` so tests can move time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as Magpipe's API writes timestamps."""
    utc = moment.astimezone(UTC)
    # Not strftime: glibc writes year 1 as "1", not "0001", which no ISO parser reads back.
    return f"{utc:%Y}".zfill(4) + f"{utc:-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


# Moments the service schedules by (a start, a series' end) stay below this: arithmetic on
# them (a recheck a minute later, a series' next occurrence) must never leave datetime's
# years 1–9999, and no campaign is planned 75 years ahead.
LATEST_SCHEDULE = datetime(2100, 1, 1, tzinfo=UTC)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 moment with an offset, in UTC; ValueError for anything else, including a
    moment whose UTC form falls outside years 1–9999 (``0001-01-01T00:00+01:00``)."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("needs a time zone offset")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("is outside the years 1–9999 in UTC") from exc
