from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from batchcalls.domain.recipient_window import next_open
from batchcalls.domain.window import CallWindow, is_open, sunday_based_weekday

NY = "America/New_York"


def local(year: int, month: int, day: int, hour: int, minute: int, zone: str = NY) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def test_default_window_is_always_open() -> None:
    window = CallWindow()
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    for minutes in range(0, 7 * 24 * 60, 37):
        assert is_open(window, moment + timedelta(minutes=minutes), "UTC")


def test_business_hours_in_new_york() -> None:
    window = CallWindow(start="09:00", end="17:00", days=[1, 2, 3, 4, 5])
    assert is_open(window, local(2026, 11, 23, 9, 0), NY)  # Monday 09:00
    assert is_open(window, local(2026, 11, 23, 17, 0), NY)  # end minute is inside
    assert not is_open(window, local(2026, 11, 23, 17, 1), NY)
    assert not is_open(window, local(2026, 11, 23, 8, 59), NY)
    assert not is_open(window, local(2026, 11, 22, 12, 0), NY)  # Sunday
    assert not is_open(window, local(2026, 11, 28, 12, 0), NY)  # Saturday


def test_overnight_window_belongs_to_the_day_it_starts() -> None:
    window = CallWindow(start="22:00", end="02:00", days=[5])  # Friday night
    assert is_open(window, local(2026, 11, 27, 23, 0), NY)  # Friday 23:00
    assert is_open(window, local(2026, 11, 28, 1, 30), NY)  # Saturday 01:30 (Friday's window)
    assert not is_open(window, local(2026, 11, 27, 1, 30), NY)  # Friday 01:30 (Thursday's)
    assert not is_open(window, local(2026, 11, 28, 23, 0), NY)  # Saturday 23:00


@given(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)))
def test_open_exactly_when_local_wall_clock_is_inside(moment: datetime) -> None:
    window = CallWindow(start="09:00", end="17:00", days=[1, 2, 3, 4, 5])
    wall = moment.astimezone(ZoneInfo(NY))
    expected = (
        sunday_based_weekday(wall) in window.days and (9 * 60) <= wall.hour * 60 + wall.minute <= 17 * 60
    )
    assert is_open(window, moment, NY) == expected


def test_dst_spring_forward_gap_uses_wall_clock() -> None:
    # 2026-03-08 02:00 does not exist in New York; 01:59 EST is followed by 03:00 EDT.
    window = CallWindow(start="02:00", end="02:59", days=[0])
    before = local(2026, 3, 8, 1, 59)
    assert not is_open(window, before, NY)
    assert not is_open(window, before + timedelta(minutes=1), NY)  # 03:00 EDT


def test_sunday_is_zero() -> None:
    assert sunday_based_weekday(datetime(2026, 11, 22)) == 0
    assert sunday_based_weekday(datetime(2026, 11, 28)) == 6


@given(
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    st.sampled_from(["America/New_York", "Europe/London", "UTC", "Australia/Sydney"]),
    st.sampled_from([("09:00", "17:00"), ("22:00", "02:00"), ("01:30", "03:30"), ("00:00", "23:59")]),
    st.lists(st.integers(0, 6), min_size=1, max_size=7, unique=True),
)
def test_next_open_is_open_and_nothing_earlier_is(
    moment: datetime, zone: str, times: tuple[str, str], days: list[int]
) -> None:
    window = CallWindow(start=times[0], end=times[1], days=days)
    found = next_open(window, moment, zone)
    assert found is not None and found >= moment
    assert is_open(window, found, zone)
    # No earlier whole minute (checked at a coarse stride, then the minute before) is open.
    probe = moment
    while probe + timedelta(minutes=30) < found:
        assert not is_open(window, probe, zone)
        probe += timedelta(minutes=30)
    assert (
        found == moment
        or not is_open(window, found - timedelta(minutes=1), zone)
        or found - timedelta(minutes=1) < moment
    )


def test_next_open_across_a_weekend_in_new_york() -> None:
    window = CallWindow(start="09:00", end="17:00", days=[1, 2, 3, 4, 5])
    friday_evening = local(2026, 11, 27, 18, 0)
    assert next_open(window, friday_evening, NY) == local(2026, 11, 30, 9, 0)  # Monday 09:00


def test_next_open_when_the_start_falls_in_the_spring_gap() -> None:
    window = CallWindow(start="02:30", end="04:00", days=[0])
    saturday = local(2026, 3, 7, 12, 0)
    opened = next_open(window, saturday, NY)
    assert opened == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # clocks jump 02:00 → 03:00 EDT that Sunday


def test_never_open_without_days() -> None:
    assert next_open(CallWindow(days=[]), datetime(2026, 1, 1, tzinfo=UTC), "UTC") is None


def test_a_window_in_the_repeated_fall_back_hour_reopens_the_same_night() -> None:
    # 2026-11-01 in New York: 01:00-01:59 happens twice (EDT, then EST). From 01:45 EDT the
    # Sunday 01:00-01:30 window opens again at 01:00 EST (06:00 UTC), not a week later.
    window = CallWindow(start="01:00", end="01:30", days=[0])
    after_first = datetime(2026, 11, 1, 5, 45, tzinfo=UTC)  # 01:45 EDT
    assert next_open(window, after_first, "America/New_York") == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
