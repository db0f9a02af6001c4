"""Recurring batch series: when does occurrence ``k`` start, and which run comes next?

A series is ``recurrence_type`` (hourly, daily, weekly or monthly; "none" is not a series),
every ``recurrence_interval`` N units, anchored at the first run's start (a UTC instant) in the
series' IANA time zone. Occurrence 0 is the anchor; occurrence k is always computed from the
anchor, never from occurrence k-1, so rounding and month-end clamping never accumulate (drift).

* hourly: ``anchor + k*N hours`` in absolute time, so the UTC spacing is exact across DST and
  the local clock reading shifts by an hour when the offset changes.
* daily / weekly: the anchor's local wall-clock reading plus ``k*N`` (or ``7*k*N``) calendar
  days, so 09:00 America/New_York stays 09:00 local through DST changes.
* monthly: the anchor's local wall-clock reading plus ``k*N`` calendar months with
  ``dateutil.relativedelta``, which clamps to the month's end (Jan 31 → Feb 28/29 → Mar 31,
  because each is anchor + k*N months, not the previous occurrence + N months).

Local wall times are turned into instants the way RFC 5545 §3.3.5 (iCalendar) and PEP 495's
``fold=0`` do: a wall time inside a DST gap is read with the UTC offset *before* the gap, which
lands after the gap shifted by the gap's length (02:30 on New York's spring-forward day is 07:30
UTC = 03:30 EDT); an ambiguous wall time inside a DST overlap is its first (earlier) instant
(01:30 on fall-back day is 01:30 EDT). Occurrence 0 is always the anchor instant itself.

A series ends when ``runs_done >= recurrence_max_runs`` or when its next occurrence is after
``recurrence_end_date`` (an occurrence exactly at the end date still runs). When a run finishes
at ``now`` the next run is the first occurrence after the last one that is not in the past:
missed occurrences are skipped, never bunched up to catch up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from pydantic import BaseModel, ConfigDict, Field, field_validator

RecurrenceType = Literal["hourly", "daily", "weekly", "monthly"]


class Recurrence(BaseModel):
    """A series' rule. ``max_runs`` counts runs actually made; ``end_date`` is inclusive."""

    model_config = ConfigDict(frozen=True)

    type: RecurrenceType
    interval: int = Field(default=1, ge=1)
    max_runs: int | None = Field(default=None, ge=1)
    end_date: datetime | None = None

    @field_validator("end_date")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        return _as_utc(value, "end_date")


def recurrence_from_fields(
    recurrence_type: str,
    interval: int = 1,
    max_runs: int | None = None,
    end_date: datetime | str | None = None,
) -> Recurrence | None:
    """The rule for a batch's ``recurrence_*`` fields, or None when it does not recur."""
    if recurrence_type == "none":
        return None
    return Recurrence.model_validate(
        {"type": recurrence_type, "interval": interval, "max_runs": max_runs, "end_date": end_date}
    )


@dataclass(frozen=True)
class NextRun:
    index: int
    at: datetime  # aware, UTC


def occurrence_at(recurrence: Recurrence, anchor_utc: datetime, timezone: str, index: int) -> datetime:
    """Start of occurrence ``index`` (0 = the anchor) as an aware UTC datetime."""
    if index < 0:
        raise ValueError("index must be >= 0")
    anchor = _as_utc(anchor_utc, "anchor_utc")
    if index == 0:
        # The anchor is an instant, not a wall time: re-resolving its wall time would move an
        # anchor in the second half of a DST overlap (fold=1) to the first half.
        return anchor
    steps = index * recurrence.interval
    if recurrence.type == "hourly":
        return anchor + timedelta(hours=steps)
    zone = ZoneInfo(timezone)
    # Naive datetimes do wall-clock arithmetic: adding a day keeps the clock reading.
    wall = anchor.astimezone(zone).replace(tzinfo=None)
    if recurrence.type == "daily":
        wall += timedelta(days=steps)
    elif recurrence.type == "weekly":
        wall += timedelta(weeks=steps)
    else:
        wall += relativedelta(months=steps)  # clamps the day to the target month's end
    return _resolve(wall, zone)


def has_ended(recurrence: Recurrence, runs_done: int, at: datetime | None = None) -> bool:
    """True when no run may happen (``runs_done`` reached ``max_runs``), or, given ``at``, when
    an occurrence at ``at`` is after ``end_date`` and so must not run."""
    if recurrence.max_runs is not None and runs_done >= recurrence.max_runs:
        return True
    return at is not None and recurrence.end_date is not None and _as_utc(at, "at") > recurrence.end_date


def next_run(
    recurrence: Recurrence,
    anchor_utc: datetime,
    timezone: str,
    *,
    last_index: int,
    runs_done: int,
    now: datetime,
) -> NextRun | None:
    """The run after occurrence ``last_index``, asked when a run finishes at ``now``.

    It is the smallest index k > ``last_index`` whose start is >= ``now`` (and strictly after
    occurrence ``last_index``, which only matters for a zone that skips a whole day), so missed
    occurrences are skipped and at most one run is ever due. None when the series has ended.
    The index is estimated arithmetically and then corrected by a step or two, so a series
    years past its anchor costs a handful of occurrence computations, not one per occurrence.
    """
    if last_index < 0:
        raise ValueError("last_index must be >= 0")
    if has_ended(recurrence, runs_done):
        return None
    anchor = _as_utc(anchor_utc, "anchor_utc")
    now = _as_utc(now, "now")
    previous = occurrence_at(recurrence, anchor, timezone, last_index)

    def due(index: int) -> bool:
        at = occurrence_at(recurrence, anchor, timezone, index)
        return at >= now and at > previous

    # Occurrence times never decrease with the index, so ``due`` is monotone: step down while
    # the one before is still due, then up until due, and the result is the smallest due index.
    index = max(_estimate_index(recurrence, anchor, timezone, now), last_index + 1)
    while index - 1 > last_index and due(index - 1):
        index -= 1
    while not due(index):
        index += 1
    at = occurrence_at(recurrence, anchor, timezone, index)
    if has_ended(recurrence, runs_done, at):
        return None
    return NextRun(index=index, at=at)


def _estimate_index(recurrence: Recurrence, anchor: datetime, timezone: str, now: datetime) -> int:
    """An index whose occurrence is at or near ``now`` (within a step or two of the answer)."""
    if now <= anchor:
        return 0
    if recurrence.type == "hourly":
        step = timedelta(hours=recurrence.interval)
        return -((anchor - now) // step)  # exact ceiling: hourly is absolute time
    zone = ZoneInfo(timezone)
    anchor_wall = anchor.astimezone(zone).replace(tzinfo=None)
    now_wall = now.astimezone(zone).replace(tzinfo=None)
    if recurrence.type == "monthly":
        months = (now_wall.year - anchor_wall.year) * 12 + now_wall.month - anchor_wall.month
        return max(0, months // recurrence.interval)
    days = recurrence.interval * (7 if recurrence.type == "weekly" else 1)
    return max(0, -((anchor_wall - now_wall) // timedelta(days=days)))


def _resolve(wall: datetime, zone: ZoneInfo) -> datetime:
    # PEP 495 fold=0 is exactly the rule above: in a gap, the offset before the transition
    # (so the instant lands after the gap); in an overlap, the first of the two instants.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _as_utc(value: datetime, name: str) -> datetime:
    # A naive datetime would be read in the machine's local zone by astimezone(): refuse it.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)
