"""Make moto's DynamoDB as atomic as the real one.

DynamoDB evaluates a condition and applies the write atomically per item (and per transaction).
moto's in-memory backend reads, checks and writes without a lock, so with the offline stack's
many threads two conditional writes could both succeed — a race real DynamoDB never has. One
lock around the backend's item operations restores the real semantics (dev only).
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_OPERATIONS = (
    "put_item",
    "get_item",
    "query",
    "scan",
    "update_item",
    "delete_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
)
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from moto.dynamodb.models import DynamoDBBackend

    for name in _OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)
    _applied = True
