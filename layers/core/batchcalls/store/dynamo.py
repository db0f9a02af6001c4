"""Thin helpers over the low-level DynamoDB client: (de)serialising and paging.

Only modules in ``store/`` build DynamoDB requests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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


def serialize_value(value: Any) -> dict[str, Any]:
    return dict(_serializer.serialize(value))


def deserialize(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in item.items()}


def values(**kwargs: Any) -> dict[str, Any]:
    """ExpressionAttributeValues from keyword arguments (``values(s="pending")`` → ``:s``)."""
    return {f":{k}": _serializer.serialize(v) for k, v in kwargs.items()}


def is_condition_failure(exc: Exception) -> bool:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
    return code == "ConditionalCheckFailedException"


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
