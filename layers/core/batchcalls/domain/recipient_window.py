"""Call windows in each recipient's own time zone (``window_timezone: "recipient"``).

A recipient's zones are the ``timezone`` given with it (an IANA name), else the zones
``phonenumbers`` derives from its E.164 number, else the batch's zone. A number can map to several
zones (a US toll-free number, a mobile in a country with many zones); such a recipient may only be
called when the window is open in *all* of them, because we cannot tell which one it is in.

``window.is_open`` is the single source of truth for "open in one zone". ``next_open_everywhere``
tries every minute a window may open at rather than start times only, which would miss a window
that reopens in the repeated hour of a fall-back night, and report "never" for a window whose only
day's hours fall inside a spring-forward gap: the answer is exact at minute resolution. One zone
(a batch's) is its simplest case: ``next_open``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import timezone as phone_timezones

from batchcalls.domain.window import CallWindow, is_open, minutes, sunday_based_weekday

# What phonenumbers answers for a number it cannot place (invalid, or not tied to a country).
UNKNOWN_ZONE = "Etc/Unknown"

_MINUTE = timedelta(minutes=1)
_DAY = timedelta(days=1)
# Offset changes are looked for by comparing offsets this far apart, so two changes closer together
# than this that cancel out would be missed (no real zone changes twice within three hours).
_OFFSET_PROBE = timedelta(hours=3)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    """The loaded zone, or None if ``zoneinfo`` can't load it. Holding the instances here also keeps
    them in ``ZoneInfo``'s own weak cache, so ``window.is_open`` does not re-read the tz files when
    more zones are in play than ``ZoneInfo`` keeps strongly (eight)."""
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError, OSError):  # not found, malformed key, a directory ("America")
        return None


def _loadable(name: str) -> bool:
    return _zone(name) is not None


@lru_cache(maxsize=65536)
def zones_for_number(e164: str) -> tuple[str, ...]:
    """The IANA zones ``phonenumbers`` places ``e164`` in, sorted; () if it can't place it.

    The "Etc/Unknown" marker and names ``zoneinfo`` cannot load are dropped. Cached: the dialer asks
    for every recipient on every dial."""
    try:
        number = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    names = phone_timezones.time_zones_for_number(number)
    return tuple(sorted({name for name in names if name != UNKNOWN_ZONE and _loadable(name)}))


def recipient_zones(e164: str, explicit: str | None, fallback: str) -> tuple[str, ...]:
    """The zones a recipient's call window is evaluated in.

    ``explicit`` (the recipient's own ``timezone``) wins when it names a loadable zone; an unusable
    one is ignored rather than failing the dial. Then the zones of the number; then ``fallback``
    (the batch's zone, returned as given)."""
    name = (explicit or "").strip()
    if name and _loadable(name):
        return (name,)
    return zones_for_number(e164) or (fallback,)


def is_open_everywhere(window: CallWindow, moment_utc: datetime, zones: Sequence[str]) -> bool:
    """Is ``window`` open at ``moment_utc`` in every one of ``zones``?"""
    names = _checked(moment_utc, zones)
    return all(is_open(window, moment_utc, zone) for zone in names)


def next_open_everywhere(
    window: CallWindow,
    moment_utc: datetime,
    zones: Sequence[str],
    horizon: timedelta = timedelta(days=15),
) -> datetime | None:
    """The first moment at or after ``moment_utc`` (and no later than ``moment_utc + horizon``)
    when ``window`` is open in every one of ``zones``, in UTC; None if there is none, e.g. for
    windows that never overlap across the zones.

    If the zones are not all open at ``moment_utc``, the answer is a minute at which one of them
    opens: one where some zone's wall clock reaches the window's start (either reading of it on a
    fall-back night) or where some zone's UTC offset changes (a jump into the window). Those
    candidates are gathered for the horizon and tried in order, so the result is the earliest open
    minute, and the work is bounded by zones x days in the horizon."""
    names = _checked(moment_utc, zones)
    if all(is_open(window, moment_utc, zone) for zone in names):
        return moment_utc.astimezone(UTC)
    if not window.days or horizon <= timedelta(0):
        return None
    until = moment_utc + horizon
    candidates = sorted({edge for zone in names for edge in _opening_edges(window, zone, moment_utc, until)})
    order = list(names)
    for candidate in candidates:
        for index, zone in enumerate(order):
            if not is_open(window, candidate, zone):
                if index:  # try the zone that just refused first next time: it usually refuses again
                    order.insert(0, order.pop(index))
                break
        else:
            return candidate
    return None


def next_open(window: CallWindow, moment_utc: datetime, timezone: str) -> datetime | None:
    """The first moment at or after ``moment_utc`` when the window is open in ``timezone`` (UTC),
    or None if it does not open within 15 days (no days)."""
    if not window.days:
        return None
    return next_open_everywhere(window, moment_utc, [timezone])


def _checked(moment_utc: datetime, zones: Sequence[str]) -> tuple[str, ...]:
    if moment_utc.tzinfo is None or moment_utc.utcoffset() is None:
        raise ValueError("moment_utc must be timezone-aware")
    if isinstance(zones, str):
        raise TypeError("zones must be a sequence of zone names, not one name")
    names = tuple(dict.fromkeys(zones))
    if not names:
        # "Open in all of no zones" would be vacuously true: calling at any hour is never the intent.
        raise ValueError("at least one zone is required")
    for name in names:
        _load(name)
    return names


def _load(name: str) -> ZoneInfo:
    zone = _zone(name)
    if zone is None:
        raise ValueError(f"unknown time zone {name!r}")
    return zone


def _opening_edges(
    window: CallWindow, zone_name: str, after: datetime, until: datetime
) -> Iterator[datetime]:
    """UTC minutes in (after, until] at which ``window`` may open in the zone (a superset)."""
    zone = _load(zone_name)
    start = minutes(window.start)
    day = after.astimezone(zone).date() - _DAY
    last = until.astimezone(zone).date() + _DAY
    while day <= last:
        if sunday_based_weekday(datetime(day.year, day.month, day.day)) in window.days:
            for fold in (0, 1):  # both readings of the start time on a fall-back night
                wall = datetime(day.year, day.month, day.day, start // 60, start % 60, fold=fold, tzinfo=zone)
                instant = wall.astimezone(UTC)
                if after < instant <= until:
                    yield instant
        day += _DAY
    utc_day = after.astimezone(UTC).date()
    while utc_day <= until.astimezone(UTC).date():
        for instant in _offset_changes(zone_name, utc_day):
            if after < instant <= until:
                yield instant
        utc_day += _DAY


@lru_cache(maxsize=8192)
def _offset_changes(zone_name: str, utc_day: date) -> tuple[datetime, ...]:
    """The minutes (UTC) within ``utc_day`` (or at the midnight ending it) at which the zone's UTC
    offset changes, i.e. its wall clock jumps."""
    zone = _load(zone_name)
    midnight = datetime(utc_day.year, utc_day.month, utc_day.day, tzinfo=UTC)
    probes = [midnight + step * _OFFSET_PROBE for step in range(_DAY // _OFFSET_PROBE + 1)]
    return tuple(
        _first_change(low, high, zone)
        for low, high in pairwise(probes)
        if _offset(low, zone) != _offset(high, zone)
    )


def _first_change(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """Bisect whole minutes: the first minute in (low, high] whose offset differs from low's."""
    before = _offset(low, zone)
    while high - low > _MINUTE:
        middle = low + ((high - low) // _MINUTE // 2) * _MINUTE
        if _offset(middle, zone) == before:
            low = middle
        else:
            high = middle
    return high


def _offset(moment: datetime, zone: ZoneInfo) -> timedelta | None:
    return moment.astimezone(zone).utcoffset()
