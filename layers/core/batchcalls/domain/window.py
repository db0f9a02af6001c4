"""Call windows: is a moment inside ``window_start_time``–``window_end_time`` on ``window_days``?

Evaluated in an IANA zone with ``zoneinfo`` (DST included). Days are 0=Sunday … 6=Saturday.
Both ends are whole minutes and the end minute is inside the window, so the default
00:00–23:59 covers the whole day. A window whose end is before its start crosses midnight and
belongs to the day it starts on (Fri 22:00–02:00 includes Saturday 01:00 but not Friday 01:00).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field


class CallWindow(BaseModel):
    start: str = "00:00"
    end: str = "23:59"
    days: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4, 5, 6])


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def sunday_based_weekday(moment: datetime) -> int:
    # datetime.weekday() is 0=Monday; the API's days are 0=Sunday.
    return (moment.weekday() + 1) % 7


def is_open(window: CallWindow, moment_utc: datetime, timezone: str) -> bool:
    local = moment_utc.astimezone(ZoneInfo(timezone))
    now_min = local.hour * 60 + local.minute
    start, end = minutes(window.start), minutes(window.end)
    today = sunday_based_weekday(local)
    if start <= end:
        return today in window.days and start <= now_min <= end
    yesterday = (today - 1) % 7
    return (today in window.days and now_min >= start) or (yesterday in window.days and now_min <= end)


def next_open(window: CallWindow, moment_utc: datetime, timezone: str) -> datetime | None:
    """The first moment at or after ``moment_utc`` when the window is open (UTC), or None
    if it never opens (no days). Windows open at their start time on one of their days, so
    the candidates are those start times over the next eight local days; a start time that a
    DST gap skips opens at the first wall-clock minute after the gap."""
    if is_open(window, moment_utc, timezone):
        return moment_utc
    if not window.days:
        return None
    zone = ZoneInfo(timezone)
    local = moment_utc.astimezone(zone)
    start = minutes(window.start)
    for offset in range(8):
        day = (local + timedelta(days=offset)).date()
        if sunday_based_weekday(datetime(day.year, day.month, day.day)) not in window.days:
            continue
        wall = datetime(day.year, day.month, day.day, start // 60, start % 60, tzinfo=zone)
        candidate = wall.astimezone(UTC)
        if candidate.astimezone(zone).replace(tzinfo=None) != wall.replace(tzinfo=None):
            # The start time does not exist that day (spring forward): the window opens the
            # minute the clocks jump, between the two readings of the missing wall time.
            candidate = _first_open_minute(
                window, wall.replace(fold=1).astimezone(UTC), wall.replace(fold=0).astimezone(UTC), timezone
            )
        if candidate > moment_utc and is_open(window, candidate, timezone):
            return candidate
    return None


def _first_open_minute(window: CallWindow, earliest: datetime, latest: datetime, timezone: str) -> datetime:
    probe = earliest
    while probe < latest and not is_open(window, probe, timezone):
        probe += timedelta(minutes=1)
    return probe
