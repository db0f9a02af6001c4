"""The account's event log: every event as it was put on the bus, kept ``retention_days``
(the table's TTL removes it), for ``GET /account/events`` and for people debugging a receiver."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from batchcalls.models.events import Event, EventType
from batchcalls.models.results import Page
from batchcalls.store import keys
from batchcalls.store.dynamo import (
    deserialize,
    encode_cursor,
    is_condition_failure,
    serialize,
    sort_key_cursor,
    values,
)

_PAGES_PER_ANSWER = 20


class EventLog:
    def __init__(self, client: Any, table: str, retention_days: int) -> None:
        self._db = client
        self._table = table
        self._retention_seconds = retention_days * 86400

    def record(self, event: Event) -> bool:
        """Keep ``event``; False when it is kept already (a stream record read again)."""
        expires = int(datetime.fromisoformat(event.timestamp).timestamp()) + self._retention_seconds
        item = {
            "pk": keys.account_pk(event.account_id),
            "sk": keys.event_sk(event.timestamp, event.id),
            "id": event.id,
            "type": event.type.value,
            "timestamp": event.timestamp,
            "batch_id": event.data.get("batch_id"),
            "body": json.dumps(event.data, separators=(",", ":")),
            "expires_at": expires,
        }
        try:
            self._db.put_item(
                TableName=self._table, Item=serialize(item), ConditionExpression="attribute_not_exists(sk)"
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def page(
        self,
        account_id: str,
        *,
        since: str,
        limit: int,
        cursor: str | None = None,
        event_type: EventType | None = None,
        batch_id: str | None = None,
    ) -> Page[Event]:
        """Events at or after ``since``, oldest first."""
        start = keys.event_sk(since, "")
        if cursor:
            start = sort_key_cursor(cursor, keys.EVENT_PREFIX)
        names, filters, extra = {}, [], {}
        if event_type is not None:
            names["#t"] = "type"
            filters.append("#t = :t")
            extra["t"] = event_type.value
        if batch_id is not None:
            filters.append("batch_id = :b")
            extra["b"] = batch_id
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :start AND :end",
            "ExpressionAttributeValues": values(
                pk=keys.account_pk(account_id), start=start, end=keys.EVENT_PREFIX + "\uffff", **extra
            ),
            "Limit": limit,
        }
        if cursor:
            # Only the sort key comes from the client: a cursor never reaches another account.
            kwargs["ExclusiveStartKey"] = serialize({"pk": keys.account_pk(account_id), "sk": start})
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        if names:
            kwargs["ExpressionAttributeNames"] = names
        return self._filled_page(account_id, kwargs, limit)

    def _filled_page(self, account_id: str, kwargs: dict[str, Any], limit: int) -> Page[Event]:
        """Up to ``limit`` matches: DynamoDB applies a filter after its Limit, so a filtered
        query goes on reading (at most ``_PAGES_PER_ANSWER`` pages) rather than answer an
        empty page with a cursor."""
        events: list[Event] = []
        last: dict[str, Any] | None = None
        for _ in range(_PAGES_PER_ANSWER):
            resp = self._db.query(**kwargs)
            events.extend(_event(account_id, deserialize(item)) for item in resp.get("Items", []))
            last = resp.get("LastEvaluatedKey")
            if not last or len(events) >= limit:
                break
            kwargs = {**kwargs, "ExclusiveStartKey": last}
        if len(events) > limit:
            events = events[:limit]
            last = {"sk": {"S": keys.event_sk(events[-1].timestamp, events[-1].id)}}
        return Page(items=events, next_cursor=encode_cursor(last, ("sk",)) if last else None)


def _event(account_id: str, item: dict[str, Any]) -> Event:
    return Event(
        id=item["id"],
        type=EventType(item["type"]),
        timestamp=item["timestamp"],
        account_id=account_id,
        data=json.loads(item["body"]),
    )
