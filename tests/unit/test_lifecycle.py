from __future__ import annotations

import pytest

from batchcalls.domain.errors import IllegalTransition
from batchcalls.domain.lifecycle import (
    TRANSITIONS,
    BatchAction,
    BatchStatus,
    allowed_from,
    is_rerun,
    next_status,
)

B, A = BatchStatus, BatchAction

LEGAL = [
    (status, action, target) for status, actions in TRANSITIONS.items() for action, target in actions.items()
]
ILLEGAL = [(s, a) for s in B for a in A if a not in TRANSITIONS.get(s, {})]


@pytest.mark.parametrize(("status", "action", "target"), LEGAL)
def test_legal_transitions(status: BatchStatus, action: BatchAction, target: BatchStatus) -> None:
    assert next_status(status, action) is target


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_illegal_transitions_name_the_status(status: BatchStatus, action: BatchAction) -> None:
    with pytest.raises(IllegalTransition) as err:
        next_status(status, action)
    assert status.value in err.value.message


def test_only_drafts_and_series_parents_are_editable() -> None:
    assert set(allowed_from(A.UPDATE)) == {B.DRAFT, B.RECURRING}


def test_start_on_a_final_batch_is_a_rerun() -> None:
    for status in (B.COMPLETED, B.CANCELLED, B.FAILED):
        assert is_rerun(status, A.START)
        assert next_status(status, A.START) is B.RUNNING
    assert not is_rerun(B.RUNNING, A.START)


def test_paused_series_parent_resumes_as_a_series() -> None:
    assert next_status(B.PAUSED, A.RESUME_SERIES, is_series_parent=True) is B.RECURRING
    with pytest.raises(IllegalTransition):
        next_status(B.PAUSED, A.RESUME_SERIES)
