from __future__ import annotations

import calendar
import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from batchcalls.domain import recurrence as rec
from batchcalls.domain.recurrence import (
    NextRun,
    Recurrence,
    has_ended,
    next_run,
    occurrence_at,
    recurrence_from_fields,
)

NY = "America/New_York"
LONDON = "Europe/London"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def wall(moment: datetime, zone: str) -> datetime:
    """The local clock reading of ``moment`` in ``zone`` (naive)."""
    return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)


def series(rule: Recurrence, anchor: datetime, zone: str, count: int) -> list[datetime]:
    return [occurrence_at(rule, anchor, zone, k) for k in range(count)]


# --- DST gaps and overlaps ----------------------------------------------------------------------


def test_daily_0230_new_york_across_spring_forward_moves_past_the_gap() -> None:
    # 2026-03-08: New York clocks jump 02:00 EST → 03:00 EDT, so 02:30 does not exist. It is read
    # with the pre-gap offset (-05:00): 07:30 UTC, which is 03:30 EDT.
    anchor = utc(2026, 3, 6, 7, 30)  # Friday 02:30 EST
    got = series(Recurrence(type="daily"), anchor, NY, 4)
    assert got == [
        utc(2026, 3, 6, 7, 30),
        utc(2026, 3, 7, 7, 30),
        utc(2026, 3, 8, 7, 30),
        utc(2026, 3, 9, 6, 30),
    ]
    assert [wall(t, NY).time() for t in got] == [time(2, 30), time(2, 30), time(3, 30), time(2, 30)]


def test_daily_0130_new_york_across_fall_back_takes_the_first_0130() -> None:
    # 2026-11-01: 01:00–02:00 happens twice (EDT, then EST); the first (EDT) one is used.
    anchor = utc(2026, 10, 30, 5, 30)  # 01:30 EDT
    got = series(Recurrence(type="daily"), anchor, NY, 4)
    assert got == [
        utc(2026, 10, 30, 5, 30),
        utc(2026, 10, 31, 5, 30),
        utc(2026, 11, 1, 5, 30),
        utc(2026, 11, 2, 6, 30),
    ]
    assert all(wall(t, NY).time() == time(1, 30) for t in got)
    assert got[2].astimezone(ZoneInfo(NY)).fold == 0


def test_daily_0130_london_across_spring_forward_and_fall_back() -> None:
    # London's gap and overlap are both 01:00–02:00 (2026-03-29 and 2026-10-25).
    spring = series(Recurrence(type="daily"), utc(2026, 3, 27, 1, 30), LONDON, 4)
    assert spring == [
        utc(2026, 3, 27, 1, 30),
        utc(2026, 3, 28, 1, 30),
        utc(2026, 3, 29, 1, 30),
        utc(2026, 3, 30, 0, 30),
    ]
    assert wall(spring[2], LONDON) == datetime(2026, 3, 29, 2, 30)  # 01:30 GMT offset → 02:30 BST
    autumn = series(Recurrence(type="daily"), utc(2026, 10, 23, 0, 30), LONDON, 4)
    assert autumn == [
        utc(2026, 10, 23, 0, 30),
        utc(2026, 10, 24, 0, 30),
        utc(2026, 10, 25, 0, 30),
        utc(2026, 10, 26, 1, 30),
    ]
    assert all(wall(t, LONDON).time() == time(1, 30) for t in autumn)


def test_daily_0230_london_exists_every_day_so_keeps_its_wall_time() -> None:
    got = series(Recurrence(type="daily"), utc(2026, 3, 27, 2, 30), LONDON, 4)
    assert [wall(t, LONDON).time() for t in got] == [time(2, 30)] * 4
    assert got[2] == utc(2026, 3, 29, 1, 30)  # 02:30 BST


def test_anchor_in_the_second_half_of_an_overlap_is_kept_as_is() -> None:
    anchor = utc(2026, 11, 1, 6, 30)  # 01:30 EST, the second 01:30 of the night
    rule = Recurrence(type="daily")
    assert occurrence_at(rule, anchor, NY, 0) == anchor
    assert occurrence_at(rule, anchor, NY, 1) == utc(2026, 11, 2, 6, 30)


@pytest.mark.parametrize(
    ("zone", "anchor", "days", "gaps"),
    [
        (NY, utc(2026, 1, 1, 7, 30), 3 * 365, 3),  # 02:30 EST: skipped each March
        (LONDON, utc(2026, 1, 1, 1, 30), 3 * 365, 3),  # 01:30 GMT: skipped each March
    ],
)
def test_daily_wall_time_is_kept_every_day_it_exists_for_years(
    zone: str, anchor: datetime, days: int, gaps: int
) -> None:
    rule = Recurrence(type="daily")
    anchor_time = wall(anchor, zone).time()
    moved = 0
    for k, at in enumerate(series(rule, anchor, zone, days)):
        local = wall(at, zone)
        assert local.date() == date(2026, 1, 1) + timedelta(days=k)
        if local.time() != anchor_time:
            moved += 1
            assert local.time() == (datetime.combine(local.date(), anchor_time) + timedelta(hours=1)).time()
    assert moved == gaps


def test_hourly_keeps_exact_utc_spacing_across_dst() -> None:
    rule = Recurrence(type="hourly")
    spring = series(rule, utc(2026, 3, 8, 5, 30), NY, 4)  # 00:30 EST
    assert [b - a for a, b in itertools.pairwise(spring)] == [timedelta(hours=1)] * 3
    assert [wall(t, NY).time() for t in spring] == [time(0, 30), time(1, 30), time(3, 30), time(4, 30)]
    autumn = series(rule, utc(2026, 11, 1, 4, 30), NY, 4)  # 00:30 EDT
    assert [b - a for a, b in itertools.pairwise(autumn)] == [timedelta(hours=1)] * 3
    assert [wall(t, NY).time() for t in autumn] == [time(0, 30), time(1, 30), time(1, 30), time(2, 30)]


def test_hourly_interval_spacing() -> None:
    got = series(Recurrence(type="hourly", interval=5), utc(2026, 10, 31, 22), LONDON, 6)
    assert [b - a for a, b in itertools.pairwise(got)] == [timedelta(hours=5)] * 5


# --- weekly, Saturday/Sunday --------------------------------------------------------------------


def test_weekly_saturday_late_evening_stays_saturday_locally() -> None:
    # Saturday 23:30 in New York is Sunday in UTC; the series follows the local day, across DST.
    anchor = utc(2026, 3, 8, 4, 30)  # Saturday 2026-03-07 23:30 EST
    got = series(Recurrence(type="weekly"), anchor, NY, 60)
    assert got[1] == utc(2026, 3, 15, 3, 30)  # Saturday 23:30 EDT
    for at in got:
        assert wall(at, NY).weekday() == 5  # Saturday
        assert wall(at, NY).time() == time(23, 30)
        assert at.weekday() == 6  # Sunday in UTC


def test_weekly_sunday_on_dst_sundays() -> None:
    # US clocks change on Sunday mornings, so a Sunday series meets both edges.
    spring = series(Recurrence(type="weekly"), utc(2026, 3, 1, 7, 30), NY, 3)  # Sunday 02:30 EST
    assert spring == [utc(2026, 3, 1, 7, 30), utc(2026, 3, 8, 7, 30), utc(2026, 3, 15, 6, 30)]
    assert wall(spring[1], NY) == datetime(2026, 3, 8, 3, 30)
    autumn = series(Recurrence(type="weekly"), utc(2026, 10, 25, 5, 30), NY, 3)  # Sunday 01:30 EDT
    assert autumn == [utc(2026, 10, 25, 5, 30), utc(2026, 11, 1, 5, 30), utc(2026, 11, 8, 6, 30)]
    assert all(wall(t, NY).weekday() == 6 for t in spring + autumn)


def test_weekly_sunday_just_after_midnight_east_of_utc() -> None:
    # Sunday 00:15 in London is Saturday 23:15 UTC in summer and Sunday 00:15 UTC in winter.
    got = series(Recurrence(type="weekly", interval=2), utc(2026, 9, 19, 23, 15), LONDON, 6)
    assert all(wall(t, LONDON).weekday() == 6 and wall(t, LONDON).time() == time(0, 15) for t in got)
    assert [t.weekday() for t in got] == [5, 5, 5, 6, 6, 6]
    assert got[3] == utc(2026, 11, 1, 0, 15)


# --- monthly: month ends and Feb 29 ------------------------------------------------------------


def test_monthly_from_january_31_clamps_without_drifting() -> None:
    anchor = utc(2028, 1, 31, 14)  # 09:00 EST
    got = series(Recurrence(type="monthly"), anchor, NY, 5)
    assert [wall(t, NY) for t in got] == [
        datetime(2028, 1, 31, 9),
        datetime(2028, 2, 29, 9),  # leap year
        datetime(2028, 3, 31, 9),  # back to the 31st: anchor + 2 months, not Feb 29 + 1 month
        datetime(2028, 4, 30, 9),
        datetime(2028, 5, 31, 9),
    ]
    assert got[2] == utc(2028, 3, 31, 13)  # 09:00 EDT


def test_monthly_from_january_31_in_a_common_year() -> None:
    got = series(Recurrence(type="monthly"), utc(2027, 1, 31, 9), "UTC", 3)
    assert got == [utc(2027, 1, 31, 9), utc(2027, 2, 28, 9), utc(2027, 3, 31, 9)]


def test_monthly_every_12_months_from_february_29() -> None:
    got = series(Recurrence(type="monthly", interval=12), utc(2028, 2, 29, 9), "UTC", 5)
    assert got == [
        utc(2028, 2, 29, 9),
        utc(2029, 2, 28, 9),
        utc(2030, 2, 28, 9),
        utc(2031, 2, 28, 9),
        utc(2032, 2, 29, 9),
    ]


def test_monthly_interval_3() -> None:
    got = series(Recurrence(type="monthly", interval=3), utc(2026, 11, 30, 12), "UTC", 3)
    assert got == [utc(2026, 11, 30, 12), utc(2027, 2, 28, 12), utc(2027, 5, 30, 12)]


# --- no drift -----------------------------------------------------------------------------------


def test_occurrence_1000_equals_the_direct_computation() -> None:
    hourly = Recurrence(type="hourly", interval=7)
    anchor = utc(2026, 1, 5, 14, 0, 30)
    assert occurrence_at(hourly, anchor, NY, 1000) == anchor + timedelta(hours=7000)

    daily = Recurrence(type="daily")
    expected = datetime.combine(date(2026, 1, 5) + timedelta(days=1000), time(9), tzinfo=ZoneInfo(NY))
    assert occurrence_at(daily, utc(2026, 1, 5, 14), NY, 1000) == expected.astimezone(UTC)
    assert occurrence_at(daily, utc(2026, 1, 5, 14), NY, 1000) == utc(2028, 10, 1, 13)  # EDT

    weekly = Recurrence(type="weekly", interval=2)
    assert wall(occurrence_at(weekly, utc(2026, 1, 5, 14), NY, 1000), NY) == datetime(
        2026, 1, 5, 9
    ) + timedelta(weeks=2000)

    monthly = Recurrence(type="monthly")
    # 1000 months after 2028-01-31 is May 2111; chaining occurrences would have drifted to the 29th.
    assert occurrence_at(monthly, utc(2028, 1, 31, 14), NY, 1000) == utc(2111, 5, 31, 13)


# --- end conditions -----------------------------------------------------------------------------


def test_max_runs_ends_the_series() -> None:
    rule = Recurrence(type="daily", max_runs=3)
    anchor = utc(2026, 6, 1, 9)
    assert next_run(rule, anchor, "UTC", last_index=1, runs_done=2, now=utc(2026, 6, 2, 9, 5)) == NextRun(
        2, utc(2026, 6, 3, 9)
    )
    assert next_run(rule, anchor, "UTC", last_index=2, runs_done=3, now=utc(2026, 6, 3, 9, 5)) is None
    assert has_ended(rule, 3)
    assert not has_ended(rule, 2)


def test_max_runs_counts_runs_not_skipped_occurrences() -> None:
    rule = Recurrence(type="hourly", max_runs=2)
    got = next_run(rule, utc(2026, 6, 1), "UTC", last_index=0, runs_done=1, now=utc(2026, 6, 1, 5, 30))
    assert got == NextRun(6, utc(2026, 6, 1, 6))


def test_end_date_is_inclusive() -> None:
    anchor = utc(2026, 6, 1, 9)
    now = utc(2026, 6, 2, 9, 10)
    on_it = Recurrence(type="daily", end_date=utc(2026, 6, 3, 9))
    assert next_run(on_it, anchor, "UTC", last_index=1, runs_done=2, now=now) == NextRun(
        2, utc(2026, 6, 3, 9)
    )
    just_before = Recurrence(type="daily", end_date=utc(2026, 6, 3, 9) - timedelta(microseconds=1))
    assert next_run(just_before, anchor, "UTC", last_index=1, runs_done=2, now=now) is None
    assert has_ended(just_before, 0, utc(2026, 6, 3, 9))
    assert not has_ended(on_it, 0, utc(2026, 6, 3, 9))
    assert not has_ended(on_it, 10**6)  # no max_runs: only the date ends it


def test_end_date_with_an_offset_is_compared_as_an_instant() -> None:
    rule = Recurrence(type="daily", end_date=datetime(2026, 6, 3, 5, tzinfo=ZoneInfo(NY)))  # 09:00 UTC
    assert rule.end_date == utc(2026, 6, 3, 9)
    assert rule.end_date is not None and rule.end_date.utcoffset() == timedelta(0)
    got = next_run(rule, utc(2026, 6, 1, 9), "UTC", last_index=1, runs_done=2, now=utc(2026, 6, 2, 10))
    assert got == NextRun(2, utc(2026, 6, 3, 9))


def test_now_past_the_end_date_ends_the_series() -> None:
    rule = Recurrence(type="hourly", end_date=utc(2026, 6, 1, 12))
    assert (
        next_run(rule, utc(2026, 6, 1), "UTC", last_index=3, runs_done=4, now=utc(2026, 6, 1, 12, 0, 1))
        is None
    )


# --- missed occurrences are skipped -------------------------------------------------------------


def test_missed_hourly_occurrences_are_skipped_years_later() -> None:
    anchor = utc(2020, 1, 1)
    now = utc(2026, 5, 17, 12, 34, 56)
    got = next_run(Recurrence(type="hourly"), anchor, NY, last_index=0, runs_done=1, now=now)
    assert got == NextRun((utc(2026, 5, 17, 13) - anchor) // timedelta(hours=1), utc(2026, 5, 17, 13))


def test_an_occurrence_exactly_at_now_is_next() -> None:
    anchor = utc(2020, 1, 1)
    got = next_run(
        Recurrence(type="hourly", interval=3), anchor, "UTC", last_index=5, runs_done=6, now=utc(2020, 1, 3)
    )
    assert got == NextRun(16, utc(2020, 1, 3))


def test_missed_daily_and_monthly_occurrences_are_skipped() -> None:
    daily = next_run(
        Recurrence(type="daily"), utc(2020, 1, 6, 14), NY, last_index=3, runs_done=4, now=utc(2026, 7, 1, 14)
    )
    assert daily is not None and daily.at == utc(2026, 7, 2, 13)  # 09:00 EDT the next morning
    assert daily.index == (date(2026, 7, 2) - date(2020, 1, 6)).days

    anchor = utc(2020, 1, 31, 14)  # 09:00 EST
    before = next_run(
        Recurrence(type="monthly"), anchor, NY, last_index=0, runs_done=1, now=utc(2026, 2, 28, 13)
    )
    assert before == NextRun(73, utc(2026, 2, 28, 14))
    after = next_run(
        Recurrence(type="monthly"), anchor, NY, last_index=0, runs_done=1, now=utc(2026, 2, 28, 15)
    )
    assert after == NextRun(74, utc(2026, 3, 31, 13))


def test_a_late_finish_never_returns_the_occurrence_that_just_ran() -> None:
    # The run finished before the next occurrence: the next one is simply index + 1.
    rule = Recurrence(type="daily")
    got = next_run(rule, utc(2026, 6, 1, 9), "UTC", last_index=4, runs_done=5, now=utc(2026, 6, 5, 9, 30))
    assert got == NextRun(5, utc(2026, 6, 6, 9))
    # "now" before the last occurrence (a clock skew) still moves forward.
    early = next_run(rule, utc(2026, 6, 1, 9), "UTC", last_index=4, runs_done=5, now=utc(2026, 6, 1))
    assert early == NextRun(5, utc(2026, 6, 6, 9))


def test_a_finish_inside_the_hour_a_gap_shifted_occurrence_moved_into() -> None:
    # Mar 8's 02:30 became 03:30 EDT. A run finishing at 03:00 EDT reads a later wall clock than
    # 02:30, yet that occurrence is still ahead, so it (not Mar 9) is next.
    got = next_run(
        Recurrence(type="daily"),
        utc(2026, 3, 6, 7, 30),
        NY,
        last_index=1,
        runs_done=2,
        now=utc(2026, 3, 8, 7),
    )
    assert got == NextRun(2, utc(2026, 3, 8, 7, 30))


def test_a_finish_in_the_repeated_hour_after_the_first_reading() -> None:
    # Nov 1's 01:45 is the EDT one; a run finishing at 01:40 EST is already past it.
    got = next_run(
        Recurrence(type="daily"),
        utc(2026, 10, 30, 5, 45),
        NY,
        last_index=1,
        runs_done=2,
        now=utc(2026, 11, 1, 6, 40),
    )
    assert got == NextRun(3, utc(2026, 11, 2, 6, 45))


@pytest.mark.parametrize("kind", ["hourly", "daily", "weekly", "monthly"])
def test_next_run_does_not_walk_every_missed_occurrence(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = rec.occurrence_at

    def counting(*args: object) -> datetime:
        nonlocal calls
        calls += 1
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(rec, "occurrence_at", counting)
    rule = Recurrence.model_validate({"type": kind})
    got = rec.next_run(
        rule, utc(1990, 1, 31, 7, 30), NY, last_index=0, runs_done=1, now=utc(2090, 3, 8, 7, 29)
    )
    assert got is not None and got.at >= utc(2090, 3, 8, 7, 29)
    assert got.index > 700  # even monthly skipped a century
    assert calls < 12


# --- validation ---------------------------------------------------------------------------------


def test_rule_validation() -> None:
    with pytest.raises(ValidationError):
        Recurrence(type="daily", interval=0)
    with pytest.raises(ValidationError):
        Recurrence(type="daily", max_runs=0)
    with pytest.raises(ValidationError):
        Recurrence(type="daily", end_date=datetime(2026, 1, 1))  # naive
    with pytest.raises(ValidationError):
        Recurrence.model_validate({"type": "none"})
    rule = Recurrence(type="daily")
    with pytest.raises(ValidationError):
        rule.interval = 2  # type: ignore[misc]


def test_naive_datetimes_and_negative_indexes_are_refused() -> None:
    rule = Recurrence(type="daily")
    with pytest.raises(ValueError, match="aware"):
        occurrence_at(rule, datetime(2026, 1, 1), NY, 1)
    with pytest.raises(ValueError, match="index"):
        occurrence_at(rule, utc(2026, 1, 1), NY, -1)
    with pytest.raises(ValueError, match="aware"):
        next_run(rule, utc(2026, 1, 1), NY, last_index=0, runs_done=1, now=datetime(2026, 1, 2))
    with pytest.raises(ValueError, match="last_index"):
        next_run(rule, utc(2026, 1, 1), NY, last_index=-1, runs_done=0, now=utc(2026, 1, 2))


def test_recurrence_from_fields() -> None:
    assert recurrence_from_fields("none") is None
    rule = recurrence_from_fields("weekly", 2, 5, "2026-12-31T23:59:59Z")
    assert rule == Recurrence(type="weekly", interval=2, max_runs=5, end_date=utc(2026, 12, 31, 23, 59, 59))
    with pytest.raises(ValidationError):
        recurrence_from_fields("yearly")


# --- properties ---------------------------------------------------------------------------------

ZONES = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "UTC",
]
TRICKY_TIMES = [time(0, 0), time(0, 30), time(1, 30), time(2, 0), time(2, 30), time(23, 30)]


@st.composite
def anchors(draw: st.DrawFn) -> tuple[datetime, str]:
    """An anchor instant and zone, often at a wall time that DST gaps and overlaps touch."""
    zone = draw(st.sampled_from(ZONES))
    day = draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31)))
    clock = draw(st.one_of(st.sampled_from(TRICKY_TIMES), st.times()))
    fold = draw(st.integers(0, 1))
    local = datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).replace(fold=fold)
    return local.astimezone(UTC), zone


rules = st.builds(
    Recurrence,
    type=st.sampled_from(["hourly", "daily", "weekly", "monthly"]),
    interval=st.integers(1, 30),
)


def expected_wall(rule: Recurrence, anchor_wall: datetime, index: int) -> datetime:
    """The wall time occurrence ``index`` is meant to have, by plain calendar arithmetic."""
    steps = index * rule.interval
    if rule.type == "monthly":
        year, month0 = divmod(anchor_wall.year * 12 + anchor_wall.month - 1 + steps, 12)
        day = min(anchor_wall.day, calendar.monthrange(year, month0 + 1)[1])
        target = date(year, month0 + 1, day)
    else:
        days = steps * (7 if rule.type == "weekly" else 1)
        target = date.fromordinal(anchor_wall.toordinal() + days)
    return datetime.combine(target, anchor_wall.time())


@settings(max_examples=200, deadline=None)
@given(
    rule=rules.filter(lambda r: r.type != "hourly"),
    anchor_zone=anchors(),
    start=st.integers(0, 400),
)
def test_calendar_occurrences_keep_the_anchor_wall_time_when_it_exists(
    rule: Recurrence, anchor_zone: tuple[datetime, str], start: int
) -> None:
    anchor, zone = anchor_zone
    tz = ZoneInfo(zone)
    anchor_wall = wall(anchor, zone)
    indexes = [*range(start, start + 25)]
    got = [occurrence_at(rule, anchor, zone, k) for k in indexes]
    assert all(a < b for a, b in itertools.pairwise(got))  # strictly increasing
    for k, at in zip(indexes, got, strict=True):
        if k == 0:
            assert at == anchor
            continue
        want = expected_wall(rule, anchor_wall, k)
        local = at.astimezone(tz)
        exists = want.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == want
        if exists:
            assert local.replace(tzinfo=None) == want
            assert local.fold == 0  # the first of two readings in an overlap
        else:
            gap = want.replace(tzinfo=tz, fold=1).utcoffset() - want.replace(tzinfo=tz, fold=0).utcoffset()  # type: ignore[operator]
            assert gap > timedelta(0)
            assert local.replace(tzinfo=None) == want + gap  # moved forward by the gap's length


@settings(max_examples=200, deadline=None)
@given(
    interval=st.integers(1, 48),
    anchor_zone=anchors(),
    index=st.integers(0, 200_000),
)
def test_hourly_spacing_is_exact(interval: int, anchor_zone: tuple[datetime, str], index: int) -> None:
    anchor, zone = anchor_zone
    rule = Recurrence(type="hourly", interval=interval)
    here, there = occurrence_at(rule, anchor, zone, index), occurrence_at(rule, anchor, zone, index + 1)
    assert there - here == timedelta(hours=interval)
    assert here == anchor + index * timedelta(hours=interval)


@settings(max_examples=200, deadline=None)
@given(
    rule=rules,
    anchor_zone=anchors(),
    last_index=st.integers(0, 400),
    after=st.integers(-86_400 * 365, 86_400 * 365 * 12),
    micro=st.integers(0, 999_999),
    near=st.none() | st.tuples(st.integers(0, 30), st.integers(-7200, 7200)),
)
def test_next_run_is_the_first_occurrence_not_in_the_past(
    rule: Recurrence,
    anchor_zone: tuple[datetime, str],
    last_index: int,
    after: int,
    micro: int,
    near: tuple[int, int] | None,
) -> None:
    anchor, zone = anchor_zone
    previous = occurrence_at(rule, anchor, zone, last_index)
    now = previous + timedelta(seconds=after, microseconds=micro)
    if near is not None:  # finish within two hours of a later occurrence, where DST bites
        ahead, seconds = near
        now = occurrence_at(rule, anchor, zone, last_index + ahead) + timedelta(seconds=seconds)
    got = next_run(rule, anchor, zone, last_index=last_index, runs_done=last_index + 1, now=now)
    assert got is not None
    assert got.index > last_index
    assert got.at >= now
    assert got.at > previous
    assert got.at == occurrence_at(rule, anchor, zone, got.index)
    # Smallest such index: the one before it was the last run or is already in the past.
    assert got.index == last_index + 1 or occurrence_at(rule, anchor, zone, got.index - 1) < now


@settings(max_examples=200, deadline=None)
@given(
    rule=rules,
    anchor_zone=anchors(),
    last_index=st.integers(0, 50),
    after=st.integers(0, 86_400 * 365 * 3),
    max_runs=st.none() | st.integers(1, 60),
    end_after=st.none() | st.integers(0, 86_400 * 365 * 4),
)
def test_next_run_respects_the_end_conditions(
    rule: Recurrence,
    anchor_zone: tuple[datetime, str],
    last_index: int,
    after: int,
    max_runs: int | None,
    end_after: int | None,
) -> None:
    anchor, zone = anchor_zone
    end_date = None if end_after is None else anchor + timedelta(seconds=end_after)
    bounded = rule.model_copy(update={"max_runs": max_runs, "end_date": end_date})
    runs_done = last_index + 1
    now = occurrence_at(rule, anchor, zone, last_index) + timedelta(seconds=after)
    free = next_run(rule, anchor, zone, last_index=last_index, runs_done=runs_done, now=now)
    got = next_run(bounded, anchor, zone, last_index=last_index, runs_done=runs_done, now=now)
    assert free is not None
    ended = (max_runs is not None and runs_done >= max_runs) or (end_date is not None and free.at > end_date)
    assert got == (None if ended else free)
