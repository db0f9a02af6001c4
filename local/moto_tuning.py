"""Make moto behave like the real services where the offline stack depends on it (dev only).

* **Atomic item writes.** DynamoDB evaluates a condition and applies the write atomically per
  item (and per transaction). moto's in-memory backend reads, checks and writes without a lock,
  so with the offline stack's many threads two conditional writes could both succeed — a race
  real DynamoDB never has. One lock around every DynamoDB request restores that (and keeps a
  response from being built from an item another thread is changing).
* **Fast item responses.** moto 5.2 serialises every response by walking botocore's shape
  model, ~4 ms of CPU for a GetItem; item operations already hold wire-format JSON, so they
  are dumped directly. (The whole stack shares one interpreter, so this CPU is the offline
  stack's throughput.)
* **Item-sized transaction rollback.** moto snapshots every table a transaction touches with a
  deep copy before it starts, so each TransactWriteItems costs time in proportion to the
  *table*; here only the items the transaction names are snapshotted and restored.
* **Cached SDK clients and JSONPaths** for the state machine: moto builds a new boto3 client for
  every task (~30 ms of CPU) and a new JSONPath parser for every path it evaluates; clients
  are thread-safe and parsed paths are immutable, so both are built once.
"""

from __future__ import annotations

import functools
import json
import threading
from collections import Counter
from typing import Any

_LOCK = threading.RLock()
# Request units by operation, for the benchmark (``bench/``): reads and writes as DynamoDB bills
# them for items under 1 KB; a transactional write costs two write units per item.
REQUEST_UNITS: Counter[str] = Counter()
_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}
_READS = {"GetItem", "Query", "Scan"}
_ITEM_OPERATIONS = (
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
# Responses made only of wire-format attribute values, counts and keys.
_FAST_RESPONSES = frozenset(
    {
        "GetItem",
        "PutItem",
        "UpdateItem",
        "DeleteItem",
        "Query",
        "Scan",
        "TransactWriteItems",
        "BatchWriteItem",
    }
)
_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    _atomic_items()
    _count_request_units()
    _item_sized_transactions()
    _fast_item_responses()
    _cached_state_machine_clients()
    _cached_json_paths()
    _cached_pure_helpers()
    _root_only_action_count()
    _applied = True


def _atomic_items() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    for name in _ITEM_OPERATIONS:
        original = getattr(DynamoDBBackend, name)

        @functools.wraps(original)
        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with _LOCK:
                return __original(self, *args, **kwargs)

        setattr(DynamoDBBackend, name, locked)


def _count_request_units() -> None:
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    def call_action(self: Any) -> Any:
        action = self._get_action()
        body = self.body if isinstance(self.body, dict) else json.loads(self.body or "{}")
        if action in _WRITES:
            REQUEST_UNITS["write"] += 1
        elif action in _READS:
            REQUEST_UNITS["read"] += 1
        elif action == "TransactWriteItems":
            REQUEST_UNITS["write"] += 2 * len(body.get("TransactItems", []))
        elif action == "BatchWriteItem":
            REQUEST_UNITS["write"] += sum(len(v) for v in body.get("RequestItems", {}).values())
        REQUEST_UNITS[action] += 1
        # The whole request under the item lock: moto builds a response from the live item
        # after the backend call returned, and a write in another thread changing that item
        # meanwhile broke it ("dictionary changed size during iteration" → a 502).
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]


def _item_sized_transactions() -> None:
    import copy

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    original = models.DynamoDBBackend.transact_write_items
    real_deepcopy = copy.deepcopy

    class _NoTableCopy:
        """Stands in for the ``copy`` module inside moto's transaction: tables are not copied."""

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else real_deepcopy(value, memo)

    def item_key(backend: Any, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
        if op_type != "Put":
            return dict(op["Key"])
        table = backend.get_table(op["TableName"])
        names = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
        return {name: op["Item"][name] for name in names}

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
            snapshots: list[tuple[str, dict[str, Any], Any]] = []
            for entry in transact_items:
                op_type, op = next(iter(entry.items()))
                try:
                    key = item_key(self, op_type, op)
                    current = self.get_item(op["TableName"], key)
                except Exception:
                    continue  # moto's own validation reports it below
                before = current.to_json()["Attributes"] if current else None
                snapshots.append((op["TableName"], key, real_deepcopy(before)))
            models.copy = _NoTableCopy  # type: ignore[assignment]
            try:
                return original(self, transact_items)
            except Exception:
                for table_name, key, before in snapshots:
                    if before is None:
                        if self.get_item(table_name, key) is not None:
                            self.delete_item(table_name, key)
                    else:
                        self.put_item(table_name, before)
                raise
            finally:
                models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _fast_item_responses() -> None:
    from moto.dynamodb.responses import DynamoResult

    original = DynamoResult.execute_result

    def execute_result(self: Any, context: Any) -> Any:
        if context.operation_model.name in _FAST_RESPONSES and isinstance(self.result, dict):
            return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)
        return original(self, context)

    DynamoResult.execute_result = execute_result  # type: ignore[method-assign]


def _cached_state_machine_clients() -> None:
    from moto.stepfunctions.parser.asl.utils import boto_client as module

    original = module.boto_client_for
    cache: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        if state_credentials is not None:
            return original(region, service, state_credentials)
        with lock:
            if (region, service) not in cache:
                cache[(region, service)] = original(region, service)
            return cache[(region, service)]

    module.boto_client_for = boto_client_for
    # Modules that imported the function by name keep their own reference: rebind them too.
    import sys

    for mod in list(sys.modules.values()):
        if getattr(mod, "boto_client_for", None) is original and mod is not module:
            mod.boto_client_for = boto_client_for  # type: ignore[attr-defined]


def _cached_json_paths() -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    json_path.parse = functools.lru_cache(maxsize=4096)(json_path.parse)


def _cached_pure_helpers() -> None:
    """Pure functions moto and botocore run on every request, memoised."""
    import botocore.useragent
    import moto.core.responses
    import moto.core.utils

    names = functools.lru_cache(maxsize=512)(moto.core.utils.method_names_from_class)
    snake = functools.lru_cache(maxsize=4096)(moto.core.utils.camelcase_to_underscores)
    for module in (moto.core.utils, moto.core.responses):
        module.method_names_from_class = names  # type: ignore[attr-defined]
        module.camelcase_to_underscores = snake  # type: ignore[attr-defined]
    botocore.useragent.sanitize_user_agent_string_component = functools.lru_cache(maxsize=4096)(
        botocore.useragent.sanitize_user_agent_string_component
    )


def _root_only_action_count() -> None:
    """moto checks "one SET/ADD/REMOVE clause" at every node of an update expression's tree
    (a fifth of the offline stack's CPU); the root's recursive clause search sees them all."""
    from moto.dynamodb.parsing.ast_nodes import UpdateExpression  # type: ignore[attr-defined]
    from moto.dynamodb.parsing.validators import ActionCountValidator

    def traverse(self: Any, node: Any) -> Any:
        if isinstance(node, UpdateExpression):
            return self.verify_action_counts(node)
        return self.traverse_node_recursively(node)

    ActionCountValidator.traverse = traverse
