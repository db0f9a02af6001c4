"""Call windows: is a moment inside ``window_start_time``–``window_end_time`` on ``window_days``?
(When a window next opens, in one zone or several, is ``recipient_window``'s question.)

Evaluated in an IANA zone with ``zoneinfo`` (DST included). Days are 0=Sunday … 6=Saturday.
Both ends are whole minutes and the end minute is inside the window, so the default
00:00–23:59 covers the whole day. A window whose end is before its start crosses midnight and
belongs to the day it starts on (Fri 22:00–02:00 includes Saturday 01:00 but not Friday 01:00).
"""

from __future__ import annotations

from datetime import datetime
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
