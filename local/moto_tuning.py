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
* **Table streams handed over, not kept.** moto appends every stream record to its shard
  forever (a long ``make dev`` grows without bound) and cannot describe a stream; here each
  record goes to the sink ``set_stream_sink`` registered (the offline stack's stream pollers)
  and none is kept. As in DynamoDB, a transaction's records appear only if it succeeds, a write
  that changes nothing makes none, and an UpdateItem that creates an item makes one INSERT
  (moto makes two: the bare key, then the item).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from typing import Any

logger = logging.getLogger("local.moto_tuning")

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
# Receives each stream record DynamoDB would publish: (table name, the record as Lambda gets it).
StreamSink = Callable[[str, dict[str, Any]], None]
_stream_sink: StreamSink | None = None
# Per thread, the records of the writes under way (innermost last): a transaction or an
# UpdateItem publishes its records only when it returns.
_held_records = threading.local()


def set_stream_sink(sink: StreamSink | None) -> None:
    """Where stream records go from now on; None drops them (nothing is kept either way)."""
    global _stream_sink
    _stream_sink = sink


def apply() -> None:
    global _applied
    if _applied:
        return
    _atomic_items()
    _count_request_units()
    _item_sized_transactions()
    _streams_to_sink()  # after the transaction patch: the rollback's writes publish nothing
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


def _streams_to_sink() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import StreamRecord, StreamShard

    def add(self: Any, old: Any, new: Any) -> None:
        if _stream_sink is None:
            return
        if old is not None and new is not None and old == new:
            return  # DynamoDB writes no record for a write that changes nothing
        event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        view = self.table.stream_specification["StreamViewType"]
        # The sequence number is given when the record is published (_publish).
        record = StreamRecord(self.table, view, event_name, old, new, 0).to_json()
        _hand_over(self, record)

    StreamShard.add = add  # type: ignore[method-assign]

    original_update = DynamoDBBackend.update_item
    original_transaction = DynamoDBBackend.transact_write_items

    @functools.wraps(original_update)
    def update_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            with _holding() as held:
                item = original_update(self, *args, **kwargs)
            # Creating an item, moto first puts its bare key (an INSERT of its own); the
            # update's record is the last.
            for shard, record in held[-1:]:
                _hand_over(shard, record)
            return item

    @functools.wraps(original_transaction)
    def transact_write_items(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            with _holding() as held:
                result = original_transaction(self, *args, **kwargs)
            for shard, record in held:
                _hand_over(shard, record)
            return result

    DynamoDBBackend.update_item = update_item  # type: ignore[method-assign]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


@contextmanager
def _holding() -> Iterator[list[tuple[Any, dict[str, Any]]]]:
    """Collects the records written inside the block; an exception out of it discards them."""
    stack: list[list[tuple[Any, dict[str, Any]]]] = _held_records.__dict__.setdefault("stack", [])
    held: list[tuple[Any, dict[str, Any]]] = []
    stack.append(held)
    try:
        yield held
    finally:
        stack.pop()


def _hand_over(shard: Any, record: dict[str, Any]) -> None:
    stack = getattr(_held_records, "stack", None)
    if stack:
        stack[-1].append((shard, record))
    else:
        _publish(shard, record)


def _publish(shard: Any, record: dict[str, Any]) -> None:
    sink = _stream_sink
    if sink is None:
        return
    table = shard.table
    with _LOCK:  # sequence numbers in the order the sink sees the records
        published = getattr(shard, "published", 0)
        shard.published = published + 1
        stream = record["dynamodb"]
        stream["SequenceNumber"] = str(shard.starting_sequence_number + published)
        # Lambda's events carry epoch seconds; moto has a datetime.
        created = stream["ApproximateCreationDateTime"]
        if hasattr(created, "timestamp"):
            stream["ApproximateCreationDateTime"] = int(
                created.replace(tzinfo=created.tzinfo or UTC).timestamp()
            )
        record["eventSourceARN"] = f"{table.table_arn}/stream/{table.latest_stream_label}"
        try:
            sink(table.name, record)
        except Exception:  # a write must not fail because its record could not be handed on
            logger.exception("stream sink failed on a record of %s", table.name)


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
