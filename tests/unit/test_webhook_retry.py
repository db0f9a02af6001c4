"""Webhook retries: what each answer means, the schedule and its parsing, and when an endpoint
has been failing too long."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchcalls.domain.webhook_retry import (
    DEFAULT_SCHEDULE_SECONDS,
    AttemptResult,
    classify,
    failing_too_long,
    next_delay,
    parse_schedule,
)


def test_the_default_schedule_is_the_standard_webhooks_one() -> None:
    hours = 3600
    expected = (0, 5, 5 * 60, 30 * 60, 2 * hours, 5 * hours, 10 * hours, 14 * hours, 20 * hours, 24 * hours)
    assert expected == DEFAULT_SCHEDULE_SECONDS


# ---------------------------------------------------------------- classify


@given(st.integers(200, 299))
def test_2xx_is_delivered(status: int) -> None:
    assert classify(status) is AttemptResult.DELIVERED


@given(st.integers(500, 599))
def test_5xx_is_retried(status: int) -> None:
    assert classify(status) is AttemptResult.RETRY


@pytest.mark.parametrize("status", [None, 408, 429])
def test_no_answer_a_request_timeout_and_too_many_requests_are_retried(status: int | None) -> None:
    assert classify(status) is AttemptResult.RETRY


def test_410_means_the_endpoint_is_gone() -> None:
    assert classify(410) is AttemptResult.GONE


@given(st.integers(300, 499).filter(lambda s: s not in (408, 410, 429)))
def test_redirects_and_other_4xx_fail(status: int) -> None:
    assert classify(status) is AttemptResult.FAILED


@pytest.mark.parametrize("status", [100, 199, 600, 0])
def test_statuses_outside_the_known_classes_fail(status: int) -> None:
    assert classify(status) is AttemptResult.FAILED


def test_results_are_their_stored_strings() -> None:
    assert [str(result) for result in AttemptResult] == ["delivered", "retry", "failed", "gone"]


# ---------------------------------------------------------------- schedule


@pytest.mark.parametrize(
    ("text", "schedule"),
    [("0,5,300", (0, 5, 300)), ("60", (60,)), (" 0, 5 ,300 ", (0, 5, 300)), ("0,0", (0, 0))],
)
def test_parse_schedule(text: str, schedule: tuple[int, ...]) -> None:
    assert parse_schedule(text) == schedule


@pytest.mark.parametrize("text", ["", "  ", "0,,5", "0,5,", "-5", "1.5", "five", "0;5", "+5", "٣"])
def test_a_bad_schedule_is_refused_with_a_sentence(text: str) -> None:
    with pytest.raises(ValueError, match="webhook retry schedule"):
        parse_schedule(text)


@given(st.lists(st.integers(0, 10**6), min_size=1))
def test_a_written_schedule_parses_back(schedule: list[int]) -> None:
    assert parse_schedule(",".join(map(str, schedule))) == tuple(schedule)


def test_next_delay_walks_the_schedule_then_stops() -> None:
    delays = [next_delay(DEFAULT_SCHEDULE_SECONDS, made) for made in range(12)]
    assert delays == [*DEFAULT_SCHEDULE_SECONDS, None, None]


@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=20), st.integers(0, 30))
def test_next_delay_is_the_schedule_entry_or_none(schedule: list[int], made: int) -> None:
    expected = schedule[made] if made < len(schedule) else None
    assert next_delay(schedule, made) == expected


def test_next_delay_refuses_a_negative_count() -> None:
    with pytest.raises(ValueError):
        next_delay(DEFAULT_SCHEDULE_SECONDS, -1)


# ---------------------------------------------------------------- failing too long

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
FIVE_DAYS = timedelta(days=5)


def test_an_endpoint_not_failing_is_never_failing_too_long() -> None:
    assert failing_too_long(None, NOW, FIVE_DAYS) is False


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        ("2026-03-05T11:59:59.999Z", True),
        ("2026-03-05T12:00:00.000Z", False),  # exactly the limit: not longer than it
        ("2026-03-06T00:00:00Z", False),
        ("2026-03-05T13:00:00+02:00", True),  # 11:00 UTC
        ("2026-03-10T12:00:00Z", False),
    ],
)
def test_failing_too_long(since: str, expected: bool) -> None:
    assert failing_too_long(since, NOW, FIVE_DAYS) is expected


def test_a_naive_now_is_read_as_utc() -> None:
    assert failing_too_long("2026-03-01T00:00:00Z", NOW.replace(tzinfo=None), FIVE_DAYS) is True


def test_a_moment_without_an_offset_is_refused() -> None:
    with pytest.raises(ValueError):
        failing_too_long("2026-03-01T00:00:00", NOW, FIVE_DAYS)
