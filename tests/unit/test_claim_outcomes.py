"""The claim transaction as the store builds it: each item paired with what its failed condition
means, the fee a debit the balance must cover, and no transaction item built above the store."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import batchcalls
from batchcalls.models.domain import ClaimOutcome, DialClaim, LedgerEntry
from batchcalls.store.recipients import RecipientStore
from tests.helpers import Cancelled

CLAIM = DialClaim(
    batch_id="b1",
    run=1,
    sk="R#0000001",
    ticket="1:1",
    task_token="tok",
    account_id="acct",
    phone_number="+14155551234",
    slot_holder="b1|R#0000001|1:1|abc",
    attempted_at="2030-01-01T00:00:00.000Z",
    stuck_after="2030-01-01T01:00:00.000Z",
)
FEE = LedgerEntry(
    account_id="acct",
    at=CLAIM.attempted_at,
    ref="dial:b1:R#0000001:1:1",
    kind="dial_fee",
    amount_micros=-5_000,
    batch_id="b1",
    recipient_key="R#0000001",
)
FAILED, FINE = "ConditionalCheckFailed", "None"


class OneTransaction:
    """Records the one TransactWriteItems call, and fails it as told."""

    def __init__(self, failure: Exception | None = None) -> None:
        self.failure = failure
        self.items: list[dict[str, Any]] = []

    def transact_write_items(self, TransactItems: list[dict[str, Any]]) -> None:
        self.items = TransactItems
        if self.failure is not None:
            raise self.failure


@pytest.mark.parametrize(
    ("reasons", "outcome"),
    [
        ((FAILED, FINE, FINE, FINE, FINE), ClaimOutcome.BATCH_NOT_RUNNING),
        ((FINE, FAILED, FINE, FINE, FINE), ClaimOutcome.NOT_PENDING),
        ((FINE, FINE, FAILED, FINE, FINE), ClaimOutcome.SUPPRESSED),
        ((FINE, FINE, FINE, FAILED, FINE), ClaimOutcome.INSUFFICIENT_CREDITS),
        # Several refused: the batch before the recipient, before the number, before the fee.
        ((FINE, FAILED, FAILED, FAILED, FINE), ClaimOutcome.NOT_PENDING),
        ((FAILED, FAILED, FINE, FAILED, FINE), ClaimOutcome.BATCH_NOT_RUNNING),
    ],
)
def test_a_refused_claim_names_the_first_condition_that_failed(
    reasons: tuple[str, ...], outcome: ClaimOutcome
) -> None:
    db = OneTransaction(Cancelled(*reasons))
    assert RecipientStore(db, "t").claim(CLAIM, fee=FEE) is outcome


def test_a_claim_that_wins_takes_its_fee_in_the_same_transaction() -> None:
    db = OneTransaction()
    assert RecipientStore(db, "t").claim(CLAIM, fee=FEE) is ClaimOutcome.CLAIMED
    batch, recipient, number, debit, ledger = db.items
    assert batch["ConditionCheck"]["ConditionExpression"] == "#s = :running AND run_number = :run"
    assert recipient["Update"]["ExpressionAttributeValues"][":fee"] == {"N": "5000"}  # its cost
    assert number["ConditionCheck"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert number["ConditionCheck"]["Key"]["sk"] == {"S": "DNC#+14155551234"}
    assert debit["Update"]["ConditionExpression"] == "balance_micros >= :amt"
    assert ledger["Put"]["Item"]["ref"] == {"S": FEE.ref}


def test_a_claim_without_a_fee_changes_no_balance() -> None:
    db = OneTransaction()
    assert RecipientStore(db, "t").claim(CLAIM) is ClaimOutcome.CLAIMED
    assert [next(iter(item)) for item in db.items] == ["ConditionCheck", "Update", "ConditionCheck"]


def test_a_claim_cancelled_for_anything_but_a_condition_raises() -> None:
    failure = Cancelled(FINE, "ValidationError", FINE)
    with pytest.raises(Cancelled):
        RecipientStore(OneTransaction(failure), "t").claim(CLAIM)


def test_a_refund_gives_back_the_cost_its_fee_added() -> None:
    db = OneTransaction()
    refund = FEE.model_copy(update={"ref": f"refund:{FEE.ref}", "kind": "refund", "amount_micros": 5_000})
    assert RecipientStore(db, "t").release_claim("b1", "R#0000001", "1:1", "now", refund=refund)
    released, credit, ledger = db.items
    assert released["Update"]["ExpressionAttributeValues"][":refund"] == {"N": "-5000"}
    assert "ConditionExpression" not in credit["Update"]  # a refund is never refused
    assert ledger["Put"]["Item"]["kind"] == {"S": "refund"}


# What only the store may build: DynamoDB transaction items and the requests around them.
STORE_WORDS = re.compile(r'"(ConditionCheck|TransactItems|ConditionExpression)"|_items\(|suppressed_check\(')


def test_no_service_builds_a_transaction_item() -> None:
    services = Path(batchcalls.__file__).parent / "services"
    offending = [
        f"{path.name}:{number}"
        for path in sorted(services.glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if STORE_WORDS.search(line)
    ]
    assert offending == []
