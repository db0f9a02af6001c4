from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

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
