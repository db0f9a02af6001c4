"""An account's suppression (do-not-call) list: one item per number, ``ACCOUNT#id / DNC#+1…``.

The dialer never reads it on its own: the claim transaction carries a ConditionCheck that
the number's item does not exist (``suppressed_check``), so a number suppressed even a moment
before a dial is never called, with no extra read per dial.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from batchcalls.store import keys
from batchcalls.store.dynamo import (
    batch_write,
    deserialize,
    encode_cursor,
    serialize,
    sort_key_cursor,
    values,
)

_BATCH_GET_SIZE = 100  # DynamoDB's limit per BatchGetItem


class SuppressionStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _key(self, account_id: str, e164: str) -> dict[str, Any]:
        return serialize({"pk": keys.account_pk(account_id), "sk": keys.dnc_sk(e164)})

    def add(self, account_id: str, numbers: Iterable[str], now: str, reason: str | None = None) -> None:
        """Suppress every number (again: an existing entry is replaced)."""
        batch_write(
            self._db,
            self._table,
            [
                {
                    "PutRequest": {
                        "Item": serialize(
                            {
                                "pk": keys.account_pk(account_id),
                                "sk": keys.dnc_sk(e164),
                                "phone_number": e164,
                                "added_at": now,
                                "reason": reason,
                            }
                        )
                    }
                }
                for e164 in dict.fromkeys(numbers)
            ],
        )

    def remove(self, account_id: str, e164: str) -> bool:
        """True if the number was on the list."""
        resp = self._db.delete_item(
            TableName=self._table, Key=self._key(account_id, e164), ReturnValues="ALL_OLD"
        )
        return bool(resp.get("Attributes"))

    def any(self, account_id: str) -> bool:
        """Whether the account has a suppression list at all (one key read)."""
        resp = self._db.query(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
            ExpressionAttributeValues=values(pk=keys.account_pk(account_id), p=keys.DNC_PREFIX),
            ProjectionExpression="pk",
            Limit=1,
        )
        return bool(resp.get("Items"))

    def suppressed(self, account_id: str, numbers: Iterable[str]) -> set[str]:
        """Which of ``numbers`` are on the account's list."""
        wanted = list(dict.fromkeys(numbers))
        found: set[str] = set()
        for start in range(0, len(wanted), _BATCH_GET_SIZE):
            pending: dict[str, Any] = {
                self._table: {
                    "Keys": [self._key(account_id, n) for n in wanted[start : start + _BATCH_GET_SIZE]],
                    "ProjectionExpression": "phone_number",
                }
            }
            while pending:
                resp = self._db.batch_get_item(RequestItems=pending)
                for item in resp.get("Responses", {}).get(self._table, []):
                    found.add(str(deserialize(item)["phone_number"]))
                pending = resp.get("UnprocessedKeys") or {}
        return found

    def page(
        self, account_id: str, *, limit: int, cursor: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Entries in number order; the cursor is opaque to clients."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": values(pk=keys.account_pk(account_id), p=keys.DNC_PREFIX),
            "Limit": limit,
        }
        if cursor:
            sk = sort_key_cursor(cursor, keys.DNC_PREFIX)
            kwargs["ExclusiveStartKey"] = serialize({"pk": keys.account_pk(account_id), "sk": sk})
        resp = self._db.query(**kwargs)
        entries = [
            {k: v for k, v in deserialize(item).items() if k not in ("pk", "sk")}
            for item in resp.get("Items", [])
        ]
        last = resp.get("LastEvaluatedKey")
        return entries, (encode_cursor(last, ("sk",)) if last else None)

    def suppressed_check(self, account_id: str, e164: str) -> dict[str, Any]:
        """A transaction item that fails when the number is suppressed."""
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": self._key(account_id, e164),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
