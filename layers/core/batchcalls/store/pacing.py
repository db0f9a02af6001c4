"""Call pacing: call starts per second per account, as one "next free start" item (``PACE``).

A dialer reserves the next start time with a write conditioned on the value it read, so two
dialers never get the same start; the reservation is at least ``1/cps`` after the previous one.
This is a token bucket with a burst of one — carriers count call attempts per second, so a
burst is exactly what must not happen.
"""

from __future__ import annotations

from typing import Any

from batchcalls.store import keys
from batchcalls.store.dynamo import deserialize, is_condition_failure, serialize, values


class PaceStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def reserve(self, account_id: str, calls_per_second: float, now_ms: int, max_wait_ms: int) -> int | None:
        """Reserve a start at most ``max_wait_ms`` from now; returns the wait in ms before the
        call may start, or None when the next free start is further away (nothing reserved)."""
        interval_ms = max(1, round(1000 / calls_per_second))
        key = serialize({"pk": keys.account_pk(account_id), "sk": keys.PACE})
        for _ in range(20):
            resp = self._db.get_item(TableName=self._table, Key=key, ConsistentRead=True)
            item = resp.get("Item")
            seen = int(deserialize(item)["next_ms"]) if item else None
            start = max(now_ms, seen or 0)
            if start - now_ms > max_wait_ms:
                return None
            try:
                self._db.update_item(
                    TableName=self._table,
                    Key=key,
                    UpdateExpression="SET next_ms = :next",
                    ConditionExpression=(
                        "attribute_not_exists(next_ms)" if seen is None else "next_ms = :seen"
                    ),
                    ExpressionAttributeValues=(
                        values(next=start + interval_ms)
                        if seen is None
                        else values(next=start + interval_ms, seen=seen)
                    ),
                )
                return start - now_ms
            except Exception as exc:
                if not is_condition_failure(exc):
                    raise
        return None  # heavy contention: come back later rather than spin
