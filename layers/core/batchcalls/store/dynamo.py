"""Thin helpers over the low-level DynamoDB client: (de)serialising and paging.

Only modules in ``store/`` build DynamoDB requests.
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def _plain(value: Any) -> Any:
    # Our numbers are all integers (money is integer micro-dollars), so Decimal → int.
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def serialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments (``values(s="pending")`` → ``:s``)."""
    return {f":{k}": _serializer.serialize(v) for k, v in kwargs.items()}


def is_condition_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code == "ConditionalCheckFailedException"


def is_validation_error(exc: BaseException) -> bool:
    """DynamoDB refused the request itself (a key over 2 KB, a number of 39 digits, an item
    over 400 KB): a value the API should have refused first."""
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code == "ValidationException"


def transaction_cancel_reasons(exc: Exception) -> list[str]:
    """The per-item reason codes of a cancelled transaction ("None" for items that were fine)."""
    response = getattr(exc, "response", {})
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return []
    reasons = response.get("CancellationReasons") or []
    if reasons:
        return [r.get("Code", "None") for r in reasons]
    # Some emulators only put the reasons into the message: "... [ConditionalCheckFailed, None]".
    message = response.get("Error", {}).get("Message", "")
    if "[" in message:
        return [part.strip() for part in message.rsplit("[", 1)[1].rstrip("]").split(",")]
    return ["Unknown"]


def query_all(client: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    paginator = client.get_paginator("query")
    for page in paginator.paginate(**kwargs):
        for item in page.get("Items", []):
            yield deserialize(item)


def due_keys(client: Any, table: str, shards: Iterable[str], now_iso: str) -> Iterator[dict[str, Any]]:
    """Keys of the items of the sparse ``due`` index whose time has come, shard by shard."""
    for shard in shards:
        yield from query_all(
            client,
            TableName=table,
            IndexName="due",
            KeyConditionExpression="due_shard = :s AND due_at <= :now",
            ExpressionAttributeValues=values(s=shard, now=now_iso),
        )


def encode_cursor(raw_item: Mapping[str, Any], key_names: Sequence[str]) -> str:
    """An opaque cursor: the (string) key attributes of the last item of a page."""
    plain = {k: v["S"] for k, v in raw_item.items() if k in key_names}
    return base64.urlsafe_b64encode(json.dumps(plain, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, key_names: Sequence[str]) -> dict[str, Any]:
    try:
        plain = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError) as exc:
        raise ValueError("malformed cursor") from exc
    if not isinstance(plain, dict) or set(plain) != set(key_names):
        raise ValueError("malformed cursor")
    return {k: {"S": str(v)} for k, v in plain.items()}


TRANSACTION_ATTEMPTS = 8  # backoff up to ~2.5 s: a throttled table needs a moment


# Cancellation reasons worth another try: lost a race with another transaction on the same item
# (hot items such as a batch's counters or an account's credits), or the table was throttled.
RETRYABLE_CANCELLATIONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)


def sort_key_cursor(cursor: str, prefix: str) -> str:
    """The sort key a page's cursor continues after, if it is one of ``prefix``'s; ValueError
    otherwise. Only the sort key comes from the client: with the caller's own partition key, a
    cursor can never reach another account."""
    sort_key = str(decode_cursor(cursor, ("sk",))["sk"]["S"])
    if not sort_key.startswith(prefix):
        raise ValueError("malformed cursor")
    return sort_key


def transact_write(client: Any, items: list[dict[str, Any]]) -> None:
    """TransactWriteItems, tried again (with backoff) when it was cancelled only because it
    lost a race or was throttled: the SDK retries neither once DynamoDB has cancelled the
    transaction. A cancellation for any other reason (a failed condition) is raised at once."""
    for attempt in range(TRANSACTION_ATTEMPTS):
        try:
            client.transact_write_items(TransactItems=items)
            return
        except Exception as exc:
            problems = {reason for reason in transaction_cancel_reasons(exc) if reason not in ("None", "")}
            retry = bool(problems) and problems <= RETRYABLE_CANCELLATIONS
            if not retry or attempt == TRANSACTION_ATTEMPTS - 1:
                raise
            time.sleep(random.uniform(0, 0.02 * 2**attempt))  # full jitter backoff


TRANSACTION_SIZE = 100  # DynamoDB's limits per TransactWriteItems: items…
TRANSACTION_BYTES = 3_500_000  # …and 4 MB in all (kept well below: our size is an estimate)


def put_new_items(client: Any, table: str, items: Iterable[Mapping[str, Any]], workers: int = 1) -> int:
    """Put each item only where no item with its key exists (``attribute_not_exists``); how many
    were written. BatchWriteItem cannot be conditioned, so these go in transactions of up to 100
    conditional puts; a transaction cancelled because some keys exist is sent again without them
    (its cancellation reasons name them), so an existing item is never overwritten whoever wrote
    it and whenever. ``workers`` > 1 sends the transactions concurrently."""
    chunks = list(_transaction_chunks(serialize(item) for item in items))
    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
            return sum(pool.map(lambda chunk: _put_new_chunk(client, table, chunk), chunks))
    return sum(_put_new_chunk(client, table, chunk) for chunk in chunks)


def _transaction_chunks(items: Iterable[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    size = 0
    for item in items:
        item_size = len(json.dumps(item, separators=(",", ":")))
        if chunk and (len(chunk) == TRANSACTION_SIZE or size + item_size > TRANSACTION_BYTES):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def _put_new_chunk(client: Any, table: str, chunk: list[dict[str, Any]]) -> int:
    while chunk:
        puts = [
            {"Put": {"TableName": table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}
            for item in chunk
        ]
        try:
            transact_write(client, puts)
            return len(chunk)
        except Exception as exc:
            reasons = transaction_cancel_reasons(exc)
            if len(reasons) != len(chunk) or "ConditionalCheckFailed" not in reasons:
                raise
            chunk = [
                item
                for item, reason in zip(chunk, reasons, strict=True)
                if reason != "ConditionalCheckFailed"
            ]
    return 0


BATCH_WRITE_SIZE = 25  # DynamoDB's limit per BatchWriteItem


def batch_write(client: Any, table: str, requests: Sequence[dict[str, Any]], workers: int = 1) -> None:
    """Put/Delete requests in chunks of 25, resending what DynamoDB left unprocessed;
    ``workers`` > 1 sends the chunks concurrently (boto3 clients are thread-safe)."""
    chunks = [list(requests[i : i + BATCH_WRITE_SIZE]) for i in range(0, len(requests), BATCH_WRITE_SIZE)]
    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=min(workers, len(chunks))) as pool:
            list(pool.map(lambda chunk: _write_chunk(client, table, chunk), chunks))
        return
    for chunk in chunks:
        _write_chunk(client, table, chunk)


def _write_chunk(client: Any, table: str, chunk: list[dict[str, Any]]) -> None:
    pending: dict[str, Any] = {table: chunk}
    delay = 0.05
    while pending:
        resp = client.batch_write_item(RequestItems=pending)
        pending = resp.get("UnprocessedItems") or {}
        if pending:  # throttled: back off and send only what was not written
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
