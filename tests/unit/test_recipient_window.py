from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchcalls.domain.recipient_window import (
    is_open_everywhere,
    next_open,
    next_open_everywhere,
    recipient_zones,
    zones_for_number,
)
from batchcalls.domain.window import CallWindow, is_open

NY = "America/New_York"
LA = "America/Los_Angeles"
LONDON = "Europe/London"
PARIS = "Europe/Paris"
AUCKLAND = "Pacific/Auckland"

NYC_NUMBER = "+12125550123"
LA_NUMBER = "+13105551234"
UK_NUMBER = "+442079460958"
TOLL_FREE = "+18005551234"

BUSINESS = CallWindow(start="09:00", end="17:00", days=[1, 2, 3, 4, 5])


def local(year: int, month: int, day: int, hour: int, minute: int, zone: str) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def brute_force(
    window: CallWindow, moment: datetime, zones: list[str], horizon: timedelta
) -> datetime | None:
    for step in range(horizon // timedelta(minutes=1) + 1):
        probe = moment + timedelta(minutes=step)
        if all(is_open(window, probe, zone) for zone in zones):
            return probe
    return None


@pytest.fixture
def fresh_number_cache() -> Iterator[None]:
    zones_for_number.cache_clear()
    yield
    zones_for_number.cache_clear()


# --- zones from numbers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "zones"),
    [
        (NYC_NUMBER, (NY,)),
        ("+17185550123", (NY,)),
        (LA_NUMBER, (LA,)),
        ("+14155551234", (LA,)),
        (UK_NUMBER, (LONDON,)),
        ("+33612345678", (PARIS,)),
    ],
)
def test_single_zone_numbers(number: str, zones: tuple[str, ...]) -> None:
    assert zones_for_number(number) == zones


def test_toll_free_number_spans_the_whole_nanp() -> None:
    zones = zones_for_number(TOLL_FREE)
    assert {NY, LA, "America/Chicago", "Pacific/Honolulu", "Pacific/Guam"} <= set(zones)
    assert list(zones) == sorted(zones) and len(set(zones)) == len(zones)


def test_mobiles_in_countries_with_several_zones() -> None:
    australia = zones_for_number("+61412345678")
    assert {"Australia/Perth", "Australia/Sydney"} <= set(australia)
    russia = zones_for_number("+79161234567")
    assert {"Europe/Moscow", "Asia/Vladivostok"} <= set(russia)
    # A UK mobile is placed in the Crown Dependencies as well as London.
    assert zones_for_number("+447911123456") == (
        "Europe/Guernsey",
        "Europe/Isle_of_Man",
        "Europe/Jersey",
        LONDON,
    )


@pytest.mark.parametrize(
    "number",
    [
        "+80012345678",  # international freephone: valid, but phonenumbers says Etc/Unknown
        "+15555550123",  # not a valid NANP number
        "+1212",
        "12125550123",  # no "+": unparseable without a region
        "not a number",
        "",
    ],
)
def test_numbers_without_a_zone(number: str) -> None:
    assert zones_for_number(number) == ()


def test_drops_the_unknown_marker_and_names_zoneinfo_cannot_load(
    monkeypatch: pytest.MonkeyPatch, fresh_number_cache: None
) -> None:
    def fake(number: phonenumbers.PhoneNumber) -> tuple[str, ...]:
        return ("Mars/Olympus_Mons", "Etc/Unknown", LONDON, "America", NY, "")

    monkeypatch.setattr(phonenumbers.timezone, "time_zones_for_number", fake)
    assert zones_for_number(NYC_NUMBER) == (NY, LONDON)


def test_zones_for_number_is_cached(fresh_number_cache: None) -> None:
    zones_for_number(NYC_NUMBER)
    misses = zones_for_number.cache_info().misses
    for _ in range(3):
        assert zones_for_number(NYC_NUMBER) == (NY,)
    info = zones_for_number.cache_info()
    assert info.misses == misses and info.hits >= 3


# --- which zones a recipient gets ---------------------------------------------------------------


def test_explicit_timezone_overrides_the_number() -> None:
    assert recipient_zones(NYC_NUMBER, "Europe/Paris", "UTC") == (PARIS,)
    assert recipient_zones(TOLL_FREE, " Asia/Tokyo ", "UTC") == ("Asia/Tokyo",)


@pytest.mark.parametrize("explicit", [None, "", "   ", "Not/AZone", "America"])
def test_missing_or_unusable_explicit_zone_falls_back_to_the_number(explicit: str | None) -> None:
    assert recipient_zones(LA_NUMBER, explicit, "UTC") == (LA,)


def test_number_zones_are_used_in_full() -> None:
    assert recipient_zones(TOLL_FREE, None, "UTC") == zones_for_number(TOLL_FREE)
    assert len(recipient_zones(TOLL_FREE, None, "UTC")) > 10


@pytest.mark.parametrize("number", ["+80012345678", "+15555550123", "garbage"])
def test_batch_zone_when_the_number_has_no_zone(number: str) -> None:
    assert recipient_zones(number, None, "America/Chicago") == ("America/Chicago",)


# --- open everywhere ----------------------------------------------------------------------------


def test_business_hours_open_in_new_york_but_not_yet_in_los_angeles() -> None:
    moment = datetime(2026, 7, 15, 14, 0, tzinfo=UTC)  # Wednesday: 10:00 EDT, 07:00 PDT
    assert is_open_everywhere(BUSINESS, moment, [NY])
    assert not is_open_everywhere(BUSINESS, moment, [LA])
    assert not is_open_everywhere(BUSINESS, moment, [NY, LA])
    # Both are open once Los Angeles reaches 09:00 (New York is at 12:00).
    assert next_open_everywhere(BUSINESS, moment, [NY, LA]) == local(2026, 7, 15, 9, 0, LA)
    assert next_open_everywhere(BUSINESS, moment, [NY]) == moment


def test_recipient_zones_feed_the_window() -> None:
    moment = datetime(2026, 7, 15, 14, 0, tzinfo=UTC)
    assert is_open_everywhere(BUSINESS, moment, recipient_zones(NYC_NUMBER, None, LA))
    assert not is_open_everywhere(BUSINESS, moment, recipient_zones(LA_NUMBER, None, NY))
    assert not is_open_everywhere(BUSINESS, moment, recipient_zones(NYC_NUMBER, LA, NY))


def test_toll_free_business_hours_never_line_up() -> None:
    # Guam (UTC+10) and Pago Pago (UTC-11) are 21 hours apart: no 09:00-17:00 overlap at all.
    zones = zones_for_number(TOLL_FREE)
    began = time.perf_counter()
    assert next_open_everywhere(BUSINESS, datetime(2026, 7, 15, 14, 0, tzinfo=UTC), zones) is None
    assert time.perf_counter() - began < 5.0  # bounded work (42 zones × 15 days), not a scan
    always = CallWindow()
    moment = datetime(2026, 7, 15, 14, 0, tzinfo=UTC)
    assert is_open_everywhere(always, moment, zones)
    assert next_open_everywhere(always, moment, zones) == moment


def test_windows_that_never_overlap() -> None:
    window = CallWindow(start="09:00", end="10:00", days=[0, 1, 2, 3, 4, 5, 6])
    moment = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
    # Each zone on its own opens within a day...
    assert next_open_everywhere(window, moment, [AUCKLAND]) is not None
    assert next_open_everywhere(window, moment, [NY]) is not None
    # ...but 09:00 in Auckland is 15:00 in New York (or 16:00/17:00): never both.
    assert next_open_everywhere(window, moment, [AUCKLAND, NY]) is None
    assert next_open_everywhere(window, moment, [AUCKLAND, NY], horizon=timedelta(days=60)) is None


def test_horizon_bounds_the_answer() -> None:
    friday_evening = local(2026, 11, 27, 18, 0, NY)
    monday_morning = local(2026, 11, 30, 9, 0, NY)
    assert next_open_everywhere(BUSINESS, friday_evening, [NY]) == monday_morning
    assert next_open_everywhere(BUSINESS, friday_evening, [NY], horizon=monday_morning - friday_evening) == (
        monday_morning
    )
    short = monday_morning - friday_evening - timedelta(minutes=1)
    assert next_open_everywhere(BUSINESS, friday_evening, [NY], horizon=short) is None
    assert next_open_everywhere(CallWindow(days=[]), friday_evening, [NY]) is None


def test_overnight_window_across_two_zones() -> None:
    window = CallWindow(start="22:00", end="02:00", days=[5])  # Friday night
    # New York: Sat 03:00-07:00 UTC; Los Angeles: Sat 06:00-10:00 UTC; both: 06:00-07:00.
    friday_noon = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    opened = next_open_everywhere(window, friday_noon, [NY, LA])
    assert opened == datetime(2026, 11, 28, 6, 0, tzinfo=UTC)
    assert is_open_everywhere(window, datetime(2026, 11, 28, 7, 0, tzinfo=UTC), [NY, LA])
    assert not is_open_everywhere(window, datetime(2026, 11, 28, 7, 1, tzinfo=UTC), [NY, LA])
    assert not is_open_everywhere(window, datetime(2026, 11, 28, 5, 59, tzinfo=UTC), [NY, LA])
    # Starting inside the overlap answers the moment itself.
    inside = datetime(2026, 11, 28, 6, 30, tzinfo=UTC)
    assert next_open_everywhere(window, inside, [LA, NY]) == inside


def test_spring_forward_sunday_in_new_york() -> None:
    # 2026-03-08: 01:59 EST is followed by 03:00 EDT. A 02:30 start opens at the jump.
    window = CallWindow(start="02:30", end="04:00", days=[0])
    saturday = local(2026, 3, 7, 12, 0, NY)
    opened = next_open_everywhere(window, saturday, [NY, "America/Toronto"])
    assert opened == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
    assert opened is not None and opened.astimezone(ZoneInfo(NY)).strftime("%H:%M") == "03:00"


def test_window_inside_the_spring_gap_opens_the_next_week() -> None:
    # 02:15-02:45 does not exist on 2026-03-08 in New York; the next Sunday it does.
    # (next_open asks next_open_everywhere with one zone, so it agrees.)
    window = CallWindow(start="02:15", end="02:45", days=[0])
    saturday = local(2026, 3, 7, 12, 0, NY)
    assert next_open_everywhere(window, saturday, [NY]) == local(2026, 3, 15, 2, 15, NY)
    assert next_open(window, saturday, NY) == local(2026, 3, 15, 2, 15, NY)


def test_spring_forward_sunday_in_london_and_paris() -> None:
    # 2026-03-29 01:00 UTC: London 01:00 GMT -> 02:00 BST, Paris 02:00 CET -> 03:00 CEST.
    window = CallWindow(start="01:30", end="03:30", days=[0])
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    assert next_open_everywhere(window, saturday, [LONDON]) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert next_open_everywhere(window, saturday, [PARIS]) == datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    assert next_open_everywhere(window, saturday, [LONDON, PARIS]) == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert brute_force(window, saturday, [LONDON, PARIS], timedelta(days=2)) == datetime(
        2026, 3, 29, 1, 0, tzinfo=UTC
    )


def test_fall_back_reopens_in_the_repeated_hour() -> None:
    # 2026-11-01 in New York: 01:59 EDT is followed by 01:00 EST, so 01:00-01:30 happens twice.
    window = CallWindow(start="01:00", end="01:30", days=[0])
    after_first = local(2026, 11, 1, 1, 45, NY)  # EDT reading
    second = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)  # 01:00 EST
    assert next_open_everywhere(window, after_first, [NY]) == second
    # The clock jumps back into the middle of a window too (00:30-01:30 reopens at 01:00 EST).
    middle = CallWindow(start="00:30", end="01:30", days=[0])
    assert next_open_everywhere(middle, after_first, [NY]) == second


def test_naive_moments_and_empty_zone_lists_are_refused() -> None:
    with pytest.raises(ValueError):
        is_open_everywhere(BUSINESS, datetime(2026, 7, 15, 14, 0), [NY])
    with pytest.raises(ValueError):
        next_open_everywhere(BUSINESS, datetime(2026, 7, 15, 14, 0), [NY])
    with pytest.raises(ValueError):
        is_open_everywhere(BUSINESS, datetime(2026, 7, 15, 14, 0, tzinfo=UTC), [])
    with pytest.raises(ValueError):
        next_open_everywhere(BUSINESS, datetime(2026, 7, 15, 14, 0, tzinfo=UTC), ["Not/AZone"])
    with pytest.raises(TypeError):
        is_open_everywhere(BUSINESS, datetime(2026, 7, 15, 14, 0, tzinfo=UTC), NY)


# --- against a brute-force minute scan ----------------------------------------------------------

ZONES = [
    NY,
    LA,
    LONDON,
    PARIS,
    AUCKLAND,
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # UTC+05:30
    "Asia/Kathmandu",  # UTC+05:45
    "Pacific/Chatham",  # UTC+12:45 / +13:45
    "UTC",
]
# 2026 DST changes: US, EU, southern hemisphere (April end / September-October start).
DST_DAYS = [
    datetime(2026, 3, 8, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
    datetime(2026, 3, 29, tzinfo=UTC),
    datetime(2026, 10, 25, tzinfo=UTC),
    datetime(2026, 4, 5, tzinfo=UTC),
    datetime(2026, 9, 27, tzinfo=UTC),
    datetime(2026, 10, 4, tzinfo=UTC),
]
HORIZON = timedelta(days=2)

near_dst = st.builds(
    lambda day, minutes: day + timedelta(minutes=minutes),
    st.sampled_from(DST_DAYS),
    st.integers(-36 * 60, 12 * 60),
)
anywhere = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
).map(lambda moment: moment.replace(second=0, microsecond=0))
quarter = st.integers(0, 95).map(lambda q: f"{q // 4:02d}:{q % 4 * 15:02d}")
end_of_quarter = st.integers(0, 95).map(lambda q: f"{(q * 15 - 1) % 1440 // 60:02d}:{(q * 15 - 1) % 60:02d}")
windows = st.builds(
    CallWindow,
    start=quarter,
    end=st.one_of(quarter, end_of_quarter),
    days=st.lists(st.integers(0, 6), max_size=7, unique=True),
)


@settings(max_examples=50, deadline=None)
@given(
    windows,
    st.one_of(near_dst, anywhere),
    st.lists(st.sampled_from(ZONES), min_size=1, max_size=3, unique=True),
)
def test_matches_a_brute_force_minute_scan(window: CallWindow, moment: datetime, zones: list[str]) -> None:
    found = next_open_everywhere(window, moment, zones, horizon=HORIZON)
    assert found == brute_force(window, moment, zones, HORIZON)
    if found is not None:
        assert is_open_everywhere(window, found, zones)


@settings(max_examples=50, deadline=None)
@given(
    windows,
    st.one_of(near_dst, anywhere),
    st.lists(st.sampled_from(ZONES), min_size=1, max_size=4, unique=True),
)
def test_open_everywhere_is_open_in_each(window: CallWindow, moment: datetime, zones: list[str]) -> None:
    expected = all(is_open(window, moment, zone) for zone in zones)
    assert is_open_everywhere(window, moment, zones) == expected
    assert (next_open_everywhere(window, moment, zones) == moment) == expected
