"""The table's stream records as domain changes: a batch, a recipient, an account's balance or
a webhook endpoint before and after (the stream is NEW_AND_OLD_IMAGES). Other items are not
events."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from batchcalls.models.domain import Batch, Recipient
from batchcalls.models.events import Webhook
from batchcalls.store import keys
from batchcalls.store.dynamo import deserialize
from batchcalls.store.mapping import batch_from_item, recipient_from_item, webhook_from_item

T = TypeVar("T")
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchChange:
    old: Batch | None
    new: Batch | None


@dataclass(frozen=True)
class RecipientChange:
    batch_id: str
    old: Recipient | None
    new: Recipient | None


@dataclass(frozen=True)
class WebhookChange:
    old: Webhook
    new: Webhook


@dataclass(frozen=True)
class CreditsChange:
    account_id: str
    before_micros: int
    after_micros: int
    at: str


TableChange = BatchChange | RecipientChange | CreditsChange | WebhookChange | None


def change_of(record: dict[str, Any]) -> TableChange:
    """The change a stream record (Lambda's DynamoDB event record) describes, or None. An item
    that is not what its key says (edited by hand, say) is logged and passed over: reading it
    again would fail again, and hold back every change after it."""
    try:
        return _change_of(record)
    except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        keys_seen = (record.get("dynamodb") or {}).get("Keys")
        logger.error(
            "stream record %s of %s is not an item we know: %s", record.get("eventID"), keys_seen, exc
        )
        return None


def _change_of(record: dict[str, Any]) -> TableChange:
    stream = record.get("dynamodb") or {}
    key = deserialize(stream.get("Keys") or {})
    pk, sk = str(key.get("pk", "")), str(key.get("sk", ""))
    old = deserialize(stream["OldImage"]) if stream.get("OldImage") else None
    new = deserialize(stream["NewImage"]) if stream.get("NewImage") else None
    if pk.startswith("BATCH#") and sk == keys.BATCH_META:
        return BatchChange(_or_none(batch_from_item, old), _or_none(batch_from_item, new))
    if pk.startswith("BATCH#") and sk.startswith("R#"):
        batch_id = pk.removeprefix("BATCH#")
        return RecipientChange(
            batch_id, _or_none(recipient_from_item, old), _or_none(recipient_from_item, new)
        )
    if pk.startswith("ACCOUNT#") and sk == keys.CREDITS and old is not None and new is not None:
        return CreditsChange(
            account_id=pk.removeprefix("ACCOUNT#"),
            before_micros=int(old.get("balance_micros", 0)),
            after_micros=int(new.get("balance_micros", 0)),
            at=str(new.get("updated_at") or ""),
        )
    if (
        pk.startswith("ACCOUNT#")
        and sk.startswith(keys.WEBHOOK_PREFIX)
        and old is not None
        and new is not None
    ):
        return WebhookChange(webhook_from_item(old), webhook_from_item(new))
    return None


def _or_none(build: Callable[[dict[str, Any]], T], item: dict[str, Any] | None) -> T | None:
    return build(item) if item is not None else None
