from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchcalls.domain.recipient_status import (
    RANK,
    TERMINAL,
    UI_LABELS,
    RecipientStatus,
    counter_field,
    from_provider_status,
    statuses_before,
)

S = RecipientStatus


@pytest.mark.parametrize(
    ("raw", "ours"),
    [
        ("queued", S.INITIATED),
        ("initiated", S.INITIATED),
        ("ringing", S.RINGING),
        ("in-progress", S.IN_PROGRESS),
        ("completed", S.COMPLETED),
        ("busy", S.BUSY),
        ("no-answer", S.NO_ANSWER),
        ("failed", S.FAILED),
        ("canceled", S.FAILED),
        ("IN-PROGRESS", S.IN_PROGRESS),
    ],
)
def test_provider_statuses_map_to_ours(raw: str, ours: RecipientStatus) -> None:
    assert from_provider_status(raw) is ours


def test_unknown_provider_status_is_ignored() -> None:
    assert from_provider_status("teleported") is None


def test_lifecycle_order() -> None:
    order = [S.PENDING, S.CALLING, S.INITIATED, S.RINGING, S.IN_PROGRESS, S.COMPLETED]
    assert [RANK[s] for s in order] == sorted(RANK[s] for s in order)
    assert len({RANK[s] for s in order}) == len(order)


@given(st.sampled_from(list(S)), st.sampled_from(list(S)))
def test_advance_is_strictly_forward_and_final_is_final(
    current: RecipientStatus, new: RecipientStatus
) -> None:
    # The status callback's conditional write moves a recipient from statuses_before(new) only.
    if current in TERMINAL:
        assert current not in statuses_before(new)
    assert not (current in statuses_before(new) and new in statuses_before(current))
    assert current not in statuses_before(current)


def test_counters() -> None:
    assert counter_field(S.COMPLETED) == "completed_count"
    assert {counter_field(s) for s in (S.FAILED, S.BUSY, S.NO_ANSWER)} == {"failed_count"}
    assert counter_field(S.SKIPPED) == "skipped_count"
    with pytest.raises(ValueError):
        counter_field(S.RINGING)


def test_ui_labels_match_magpipe() -> None:
    assert UI_LABELS[S.CALLING] == UI_LABELS[S.INITIATED] == "Initiating"
    assert UI_LABELS[S.IN_PROGRESS] == "Connected"
    assert UI_LABELS[S.COMPLETED] == "Hungup"
    assert UI_LABELS[S.NO_ANSWER] == "No Answer"
    assert set(UI_LABELS) == set(S)
