"""Transactions are tried again only when nothing but a race or throttling cancelled them, and
conditional puts never overwrite an item, whatever else cancels their transaction."""

from __future__ import annotations

from typing import Any

import pytest

from batchcalls.store import dynamo
from tests.helpers import Cancelled


class ScriptedDynamo:
    """Answers each TransactWriteItems with the next scripted outcome (None: it succeeds)."""

    def __init__(self, *outcomes: Cancelled | None) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[list[dict[str, Any]]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        self.calls.append(TransactItems)
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamo.time, "sleep", lambda _: None)


@pytest.mark.parametrize(
    "reason", ["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"]
)
def test_a_transaction_lost_to_a_race_or_throttling_is_tried_again(reason: str) -> None:
    db = ScriptedDynamo(Cancelled("None", reason), Cancelled(reason, "None"), None)
    dynamo.transact_write(db, [{"Put": {}}, {"Put": {}}])
    assert len(db.calls) == 3


def test_a_failed_condition_is_raised_at_once_even_beside_throttling() -> None:
    db = ScriptedDynamo(Cancelled("ConditionalCheckFailed", "ThrottlingError"))
    with pytest.raises(Cancelled):
        dynamo.transact_write(db, [{"Put": {}}, {"Put": {}}])
    assert len(db.calls) == 1


def test_throttling_that_never_ends_is_raised_after_the_last_attempt() -> None:
    db = ScriptedDynamo(*[Cancelled("ThrottlingError")] * dynamo.TRANSACTION_ATTEMPTS)
    with pytest.raises(Cancelled):
        dynamo.transact_write(db, [{"Put": {}}])
    assert len(db.calls) == dynamo.TRANSACTION_ATTEMPTS


def test_conditional_puts_leave_out_the_items_that_exist_and_retry_the_throttled_rest() -> None:
    # Given a transaction of three puts: the first key exists, the second is throttled
    db = ScriptedDynamo(
        Cancelled("ConditionalCheckFailed", "ThrottlingError", "None"),
        Cancelled("ThrottlingError", "None"),
        None,
    )
    items = [{"pk": "B", "sk": f"R#{i}"} for i in range(3)]
    # When they are put only where absent
    written = dynamo.put_new_items(db, "t", items)
    # Then the existing one is never sent again, and the other two are written
    assert written == 2
    assert [[put["Put"]["Item"]["sk"]["S"] for put in call] for call in db.calls] == [
        ["R#0", "R#1", "R#2"],
        ["R#1", "R#2"],
        ["R#1", "R#2"],
    ]
    assert all(put["Put"]["ConditionExpression"] == "attribute_not_exists(pk)" for put in db.calls[0])
