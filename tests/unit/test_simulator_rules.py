"""The offline simulator's deterministic outcome rule and its environment switches."""

from __future__ import annotations

import pytest

from local.simulator import Outcome, TelephonySimulator, outcome_for

EXPECTED_BY_LAST_DIGIT = {
    "0": Outcome.HUMAN,
    "1": Outcome.HUMAN,
    "2": Outcome.HUMAN,
    "3": Outcome.HUMAN,
    "4": Outcome.HUMAN,
    "5": Outcome.MACHINE,
    "6": Outcome.HUMAN,
    "7": Outcome.BUSY,
    "8": Outcome.NO_ANSWER,
    "9": Outcome.FAILED,
}


@pytest.mark.parametrize(("digit", "expected"), sorted(EXPECTED_BY_LAST_DIGIT.items()))
def test_outcome_by_last_digit(digit: str, expected: Outcome) -> None:
    assert outcome_for(f"+1555012300{digit}") is expected


def test_every_digit_is_covered() -> None:
    assert sorted(EXPECTED_BY_LAST_DIGIT) == [str(d) for d in range(10)]


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+447700900125", Outcome.MACHINE),  # only the last digit counts
        ("+15550100077 ", Outcome.BUSY),  # surrounding whitespace is ignored
        ("+15557777771", Outcome.HUMAN),
        ("", Outcome.HUMAN),
        ("client:alice", Outcome.HUMAN),  # not a digit: a human answers
    ],
)
def test_outcome_edge_cases(number: str, expected: Outcome) -> None:
    assert outcome_for(number) is expected


def test_from_env_reads_the_local_sim_variables() -> None:
    sim = TelephonySimulator.from_env(
        {
            "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
            "TWILIO_AUTH_TOKEN": "secret",
            "LOCAL_SIM_RING_SECONDS": "0.5",
            "LOCAL_SIM_TALK_SECONDS": "1.5",
            "LOCAL_SIM_DUPLICATE_CALLBACKS": "true",
            "LOCAL_SIM_REORDER_CALLBACKS": "0",
            "LOCAL_SIM_SEED": "7",
        }
    )
    assert sim.account_sid == "AC" + "1" * 32
    assert (sim.ring_seconds, sim.talk_seconds, sim.seed) == (0.5, 1.5, 7)
    assert sim.duplicate_callbacks is True
    assert sim.reorder_callbacks is False


def test_from_env_defaults_and_bad_flags() -> None:
    sim = TelephonySimulator.from_env({}, account_sid="AC" + "2" * 32, auth_token="t")
    assert (sim.ring_seconds, sim.talk_seconds) == (2.0, 5.0)
    assert not sim.duplicate_callbacks and not sim.reorder_callbacks
    with pytest.raises(ValueError, match="LOCAL_SIM_REORDER_CALLBACKS"):
        TelephonySimulator.from_env(
            {"LOCAL_SIM_REORDER_CALLBACKS": "maybe"}, account_sid="AC1", auth_token="t"
        )
    with pytest.raises(ValueError, match="auth token"):
        TelephonySimulator.from_env({"TWILIO_ACCOUNT_SID": "AC1"})
