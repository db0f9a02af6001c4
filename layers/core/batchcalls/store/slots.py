"""The account-wide concurrency semaphore: one item per account (``SLOTS``) whose ``holders``
map names every call in progress with its lease expiry (epoch seconds).

* acquire: add our holder only while ``size(holders) < limit`` — one conditional write, so two
  batches (or two dialers) can never both take the last slot;
* release: remove our holder (idempotent);
* a holder whose lease expired (its dialer or callback died) is swept by the next acquire that
  finds the semaphore full, and by the scheduler's stuck-call sweep; each removal is
  conditioned on the lease it saw, so two sweeps at once remove nothing twice.

Other systems hold slots for non-batch calls the same way: add a holder with a lease, remove
it when the call ends. A webhook endpoint's deliveries share a semaphore of their own the same
way (``slot_sk``: keys.webhook_slots_sk).
"""

from __future__ import annotations

from typing import Any

from batchcalls.store import keys
from batchcalls.store.dynamo import deserialize, is_condition_failure, serialize, values


class SlotStore:
    def __init__(self, client: Any, table: str, slot_sk: str = keys.SLOTS) -> None:
        self._db = client
        self._table = table
        self._sk = slot_sk

    def _key(self, account_id: str) -> dict[str, Any]:
        return serialize({"pk": keys.account_pk(account_id), "sk": self._sk})

    def acquire(self, account_id: str, holder: str, limit: int, lease_until: int, now: int) -> bool:
        return self.acquire_counted(account_id, holder, limit, lease_until, now) > 0

    def acquire_counted(self, account_id: str, holder: str, limit: int, lease_until: int, now: int) -> int:
        """As ``acquire``; the holders in the semaphore once ours is in (0: no slot). The write
        answers the item it wrote, so the count costs no read."""
        for _ in range(5):
            try:
                resp = self._db.update_item(
                    TableName=self._table,
                    Key=self._key(account_id),
                    UpdateExpression="SET holders.#h = :lease",
                    ConditionExpression=(
                        "attribute_exists(holders) AND (attribute_exists(holders.#h) OR size(holders) < :limit)"
                    ),
                    ExpressionAttributeNames={"#h": holder},
                    ExpressionAttributeValues=values(lease=lease_until, limit=limit),
                    ReturnValues="ALL_NEW",
                )
                return len(resp.get("Attributes", {}).get("holders", {}).get("M", {})) or 1
            except Exception as exc:
                if not is_condition_failure(exc):
                    raise
                current = self.holders(account_id)
                if current is None:
                    self._create(account_id)  # the account's first call
                    continue
                if len(current) < limit:
                    continue  # it changed under us (created, or a slot freed): try again
                if not self._sweep(account_id, current, now):
                    return 0
                # a dead holder was removed: try again
        return 0

    def release(self, account_id: str, holder: str) -> None:
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(account_id),
                UpdateExpression="REMOVE holders.#h",
                ConditionExpression="attribute_exists(holders)",
                ExpressionAttributeNames={"#h": holder},
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise

    def holders(self, account_id: str) -> dict[str, int] | None:
        """Every holder and its lease; None when the account never held a slot."""
        resp = self._db.get_item(TableName=self._table, Key=self._key(account_id), ConsistentRead=True)
        item = resp.get("Item")
        return dict(deserialize(item).get("holders", {})) if item else None

    def sweep_expired(self, account_id: str, now: int) -> bool:
        """Release every holder of the account whose lease ended by ``now``."""
        current = self.holders(account_id)
        return self._sweep(account_id, current, now) if current else False

    def _sweep(self, account_id: str, current: dict[str, int], now: int) -> bool:
        """Remove holders whose lease ended; True if any was removed."""
        removed = False
        for holder, lease in current.items():
            if lease > now:
                continue
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=self._key(account_id),
                    UpdateExpression="REMOVE holders.#h",
                    ConditionExpression="holders.#h = :lease",
                    ExpressionAttributeNames={"#h": holder},
                    ExpressionAttributeValues=values(lease=lease),
                )
                removed = True
            except Exception as exc:
                if not is_condition_failure(exc):
                    raise
        return removed

    def _create(self, account_id: str) -> None:
        try:
            self._db.put_item(
                TableName=self._table,
                Item=serialize({"pk": keys.account_pk(account_id), "sk": self._sk, "holders": {}}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
