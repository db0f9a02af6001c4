"""Credits: the account's balance (a hot item of its own) and its ledger.

Every balance change is one transaction with its ledger entry, so the ledger always sums to
the balance. The dial fee is a conditional debit (never below zero) that the recipient claim
takes in the same transaction; call minutes are post-paid (the call already happened) and may
leave a small negative balance, which the next dial fee then refuses.
"""

from __future__ import annotations

from typing import Any

from batchcalls.models.domain import LedgerEntry
from batchcalls.store import keys
from batchcalls.store.dynamo import (
    deserialize,
    encode_cursor,
    serialize,
    sort_key_cursor,
    transact_write,
    transaction_cancel_reasons,
    values,
)
from batchcalls.store.mapping import ledger_entry_from_item, ledger_entry_to_item


class CreditStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _key(self, account_id: str) -> dict[str, Any]:
        return serialize({"pk": keys.account_pk(account_id), "sk": keys.CREDITS})

    def balance(self, account_id: str) -> int:
        resp = self._db.get_item(TableName=self._table, Key=self._key(account_id), ConsistentRead=True)
        item = resp.get("Item")
        return int(deserialize(item).get("balance_micros", 0)) if item else 0

    def change_items(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        """Transaction items that change the balance by ``entry.amount_micros`` (signed) and
        write its ledger entry: a top-up, a refund, or post-paid call minutes (the call
        happened, so the debit may leave a small negative balance)."""
        update = {
            "TableName": self._table,
            "Key": self._key(entry.account_id),
            "UpdateExpression": "SET updated_at = :now ADD balance_micros :amt",
            "ExpressionAttributeValues": values(amt=entry.amount_micros, now=entry.at),
        }
        return [{"Update": update}, self._ledger_put(entry)]

    def covered_debit_items(self, entry: LedgerEntry) -> list[dict[str, Any]]:
        """Like ``change_items`` for a debit the balance must cover (the dial fee): the
        transaction is cancelled at the first item when the balance is below the amount."""
        if entry.amount_micros > 0:
            raise ValueError(f"a debit is negative, not {entry.amount_micros}")
        update = {
            "TableName": self._table,
            "Key": self._key(entry.account_id),
            "UpdateExpression": "SET balance_micros = balance_micros - :amt, updated_at = :now",
            "ConditionExpression": "balance_micros >= :amt",
            "ExpressionAttributeValues": values(amt=-entry.amount_micros, now=entry.at),
        }
        return [{"Update": update}, self._ledger_put(entry)]

    def credit(self, entry: LedgerEntry) -> bool:
        """Add credits (a top-up or an adjustment, either sign) with its ledger entry, once per
        ``entry.ref``: a marker item keyed by the ref makes a retried top-up (same ref, any
        time) change nothing. Returns whether it was applied."""
        marker = {
            "Put": {
                "TableName": self._table,
                "Item": serialize(
                    {
                        "pk": keys.account_pk(entry.account_id),
                        "sk": keys.credit_ref_sk(entry.ref),
                        "at": entry.at,
                    }
                ),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }
        try:
            transact_write(self._db, [marker, *self.change_items(entry)])
        except Exception as exc:
            reasons = transaction_cancel_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            raise
        return True

    def _ledger_put(self, entry: LedgerEntry) -> dict[str, Any]:
        item = {
            "pk": keys.account_pk(entry.account_id),
            "sk": keys.ledger_sk(entry.at, entry.ref),
            **ledger_entry_to_item(entry),
        }
        return {
            "Put": {
                "TableName": self._table,
                "Item": serialize(item),
                "ConditionExpression": "attribute_not_exists(sk)",
            }
        }

    def ledger_page(
        self, account_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[LedgerEntry], str | None]:
        """Newest first; the cursor is opaque to clients."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :l)",
            "ExpressionAttributeValues": values(pk=keys.account_pk(account_id), l=keys.LEDGER_PREFIX),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            sk = sort_key_cursor(cursor, keys.LEDGER_PREFIX)
            kwargs["ExclusiveStartKey"] = serialize({"pk": keys.account_pk(account_id), "sk": sk})
        resp = self._db.query(**kwargs)
        entries = [ledger_entry_from_item(account_id, deserialize(i)) for i in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        return entries, (encode_cursor(last, ("sk",)) if last else None)

    def ledger_all(self, account_id: str) -> list[LedgerEntry]:
        out: list[LedgerEntry] = []
        cursor: str | None = None
        while True:
            page, cursor = self.ledger_page(account_id, limit=500, cursor=cursor)
            out.extend(page)
            if not cursor:
                return out
