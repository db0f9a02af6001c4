"""Batches: the META item of each batch, its listing index and its counters."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.domain import Batch, Recipient
from batchcalls.store import dynamo, keys
from batchcalls.store.dynamo import (
    BATCH_WRITE_SIZE,
    batch_write,
    deserialize,
    due_keys,
    is_condition_failure,
    put_new_items,
    query_all,
    serialize,
    values,
)
from batchcalls.store.mapping import batch_from_item, batch_to_item, recipient_to_item

# A page of an account's batches continues after the last batch's place in the ``by_owner``
# index. The cursor carries only that place; every key is rebuilt from it and the account,
# so a cursor naming another key or another account's list cannot reach DynamoDB.
_CURSOR_KEYS = ("gsi1sk",)
_OWNER_SORT_KEY = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z#([^#]{1,100})$")


def encode_cursor(raw_item: dict[str, Any]) -> str:
    return dynamo.encode_cursor(raw_item, _CURSOR_KEYS)


def decode_cursor(cursor: str, account_id: str) -> dict[str, Any]:
    """The ``ExclusiveStartKey`` of a batch-list cursor; ValueError if it is not one of ours."""
    sort_key = dynamo.decode_cursor(cursor, _CURSOR_KEYS)["gsi1sk"]["S"]
    match = _OWNER_SORT_KEY.match(sort_key)
    if match is None:
        raise ValueError("malformed cursor")
    return serialize(
        {
            "pk": keys.batch_pk(match.group(1)),
            "sk": keys.BATCH_META,
            "gsi1pk": keys.owner_gsi_pk(account_id),
            "gsi1sk": sort_key,
        }
    )


class BatchStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def create(self, batch: Batch, recipients: Iterable[Recipient]) -> bool:
        """Write a new batch: its recipients, then its META (a batch exists once its META does).

        False when a batch with this id exists already, and then nothing of it changes: each
        recipient is written only where none has its key. Series runs have fixed ids, so a
        retried or concurrent spawn of a run that is already dialing must never turn its
        recipients back into fresh ``pending`` ones (a double dial, an unbilled call)."""
        if self.get(batch.id) is not None:
            return False  # the cheap answer for a retry; the conditional writes are the guarantee
        put_new_items(self._db, self._table, (recipient_to_item(r) for r in recipients), workers=8)
        try:
            self._db.put_item(
                TableName=self._table,
                Item=serialize(batch_to_item(batch)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def put_recipients(self, recipients: Iterable[Recipient], workers: int = 1) -> None:
        """``workers`` > 1 writes chunks of 25 concurrently (an import of a million rows)."""
        requests: list[dict[str, Any]] = []
        for recipient in recipients:
            requests.append({"PutRequest": {"Item": serialize(recipient_to_item(recipient))}})
            if len(requests) == BATCH_WRITE_SIZE * max(workers, 1) * 4:
                batch_write(self._db, self._table, requests, workers)
                requests = []
        if requests:
            batch_write(self._db, self._table, requests, workers)

    def get(self, batch_id: str, consistent: bool = True) -> Batch | None:
        resp = self._db.get_item(
            TableName=self._table,
            Key=serialize({"pk": keys.batch_pk(batch_id), "sk": keys.BATCH_META}),
            ConsistentRead=consistent,
        )
        item = resp.get("Item")
        return batch_from_item(deserialize(item)) if item else None

    def page_for_owner(
        self, account_id: str, *, status: str | None, limit: int, offset: int = 0, cursor: str | None = None
    ) -> tuple[list[Batch], str | None]:
        """Newest first. ``cursor`` (opaque, from a previous page) continues after that page."""
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": "by_owner",
            "KeyConditionExpression": "gsi1pk = :o",
            "ExpressionAttributeValues": values(o=keys.owner_gsi_pk(account_id)),
            "ScanIndexForward": False,
        }
        if status:
            kwargs["FilterExpression"] = "#s = :s"
            kwargs["ExpressionAttributeNames"] = {"#s": "status"}
            kwargs["ExpressionAttributeValues"].update(values(s=status))
        if cursor:
            kwargs["ExclusiveStartKey"] = decode_cursor(cursor, account_id)
        out: list[Batch] = []
        skipped = 0
        while True:
            resp = self._db.query(**kwargs)
            items = resp.get("Items", [])
            for index, raw in enumerate(items):
                if skipped < offset:
                    skipped += 1
                    continue
                out.append(batch_from_item(deserialize(raw)))
                if len(out) == limit:
                    more = index < len(items) - 1 or "LastEvaluatedKey" in resp
                    return out, (encode_cursor(raw) if more else None)
            if "LastEvaluatedKey" not in resp:
                return out, None
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]

    def runs_of(self, parent_batch_id: str) -> list[Batch]:
        """The runs of a recurring series, newest occurrence first."""
        return [
            batch_from_item(item)
            for item in query_all(
                self._db,
                TableName=self._table,
                IndexName="by_owner",
                KeyConditionExpression="gsi1pk = :p",
                ExpressionAttributeValues=values(p=keys.parent_gsi_pk(parent_batch_id)),
                ScanIndexForward=False,
            )
        ]

    def update_status(
        self,
        batch_id: str,
        *,
        from_statuses: Sequence[BatchStatus],
        to_status: BatchStatus,
        set_fields: dict[str, Any] | None = None,
        remove_fields: Sequence[str] = (),
        add_fields: dict[str, int] | None = None,
        expect: dict[str, Any] | None = None,
    ) -> Batch | None:
        """Move a batch to ``to_status`` only if it is in ``from_statuses`` (and matches ``expect``).

        Returns the batch after the write, or ``None`` when the condition did not hold.
        """
        names: dict[str, str] = {"#status": "status"}
        vals: dict[str, Any] = {":to": to_status.value}
        sets = ["#status = :to"]
        for i, (field, value) in enumerate((set_fields or {}).items()):
            names[f"#f{i}"] = field
            vals[f":f{i}"] = value
            sets.append(f"#f{i} = :f{i}")
        adds = []
        for i, (field, amount) in enumerate((add_fields or {}).items()):
            names[f"#a{i}"] = field
            vals[f":a{i}"] = amount
            adds.append(f"#a{i} :a{i}")
        removes = []
        for i, field in enumerate(remove_fields):
            names[f"#r{i}"] = field
            removes.append(f"#r{i}")
        from_names = []
        for i, status in enumerate(from_statuses):
            vals[f":from{i}"] = status.value
            from_names.append(f":from{i}")
        condition = f"attribute_exists(pk) AND #status IN ({', '.join(from_names)})"
        for i, (field, value) in enumerate((expect or {}).items()):
            names[f"#e{i}"] = field
            vals[f":e{i}"] = value
            condition += f" AND #e{i} = :e{i}"
        expression = "SET " + ", ".join(sets)
        if adds:
            expression += " ADD " + ", ".join(adds)
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key=serialize({"pk": keys.batch_pk(batch_id), "sk": keys.BATCH_META}),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=serialize(vals),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return None
            raise
        return batch_from_item(deserialize(resp["Attributes"]))

    # The IMPORT item beside META, which every dial reads: a report can be tens of kilobytes.
    # It holds an import's checkpoint while the import goes on, then its report.

    def put_import_report(self, batch_id: str, report: dict[str, Any]) -> None:
        self._put_import_item(batch_id, "report", report)

    def put_import_checkpoint(self, batch_id: str, checkpoint: dict[str, Any]) -> None:
        """Where an import that ran out of time stopped (the final report replaces it)."""
        self._put_import_item(batch_id, "checkpoint", checkpoint)

    def import_report(self, batch_id: str) -> dict[str, Any] | None:
        return self._import_item(batch_id).get("report")

    def import_checkpoint(self, batch_id: str) -> dict[str, Any] | None:
        return self._import_item(batch_id).get("checkpoint")

    def _put_import_item(self, batch_id: str, name: str, value: dict[str, Any]) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=serialize({"pk": keys.batch_pk(batch_id), "sk": keys.IMPORT_REPORT, name: value}),
        )

    def _import_item(self, batch_id: str) -> dict[str, Any]:
        resp = self._db.get_item(
            TableName=self._table,
            Key=serialize({"pk": keys.batch_pk(batch_id), "sk": keys.IMPORT_REPORT}),
            ConsistentRead=True,
        )
        return deserialize(resp["Item"]) if "Item" in resp else {}

    def set_counters(self, batch_id: str, counters: dict[str, int], now: str) -> None:
        """Overwrite the counters with values recounted from the recipients."""
        sets = ", ".join(f"#{name} = :{name}" for name in counters)
        self._db.update_item(
            TableName=self._table,
            Key=serialize({"pk": keys.batch_pk(batch_id), "sk": keys.BATCH_META}),
            UpdateExpression=f"SET {sets}, updated_at = :now",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={f"#{name}": name for name in counters},
            ExpressionAttributeValues=values(now=now, **counters),
        )

    def due_batch_ids(self, now_iso: str) -> list[str]:
        """Batches whose ``due_at`` has come, from every shard of the sparse due index."""
        return [
            str(item["pk"]).removeprefix("BATCH#")
            for item in due_keys(self._db, self._table, keys.all_due_shards(), now_iso)
        ]
