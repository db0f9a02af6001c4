"""Batches: the META item of each batch, its listing index and its counters."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from batchcalls.domain.imports import ImportResult, ImportStatus
from batchcalls.domain.lifecycle import BatchAction, BatchStatus, PausedReason, allowed_from
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
    transact_write,
    transaction_cancel_reasons,
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


@dataclass(frozen=True, slots=True)
class SeriesClaim:
    """Occurrence ``index`` of series ``parent_id``, claimed by the spawner making its run."""

    parent_id: str
    index: int


class BatchStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def create(
        self, batch: Batch, recipients: Iterable[Recipient], *, run_of: SeriesClaim | None = None
    ) -> bool:
        """Write a new batch: its recipients, then its META (a batch exists once its META does).

        False when a batch with this id exists already, and then nothing of it changes: each
        recipient is written only where none has its key. Series runs have fixed ids, so a
        retried or concurrent spawn of a run that is already dialing must never turn its
        recipients back into fresh ``pending`` ones (a double dial, an unbilled call).
        ``run_of``: a series run's META is written only while its parent is still spawning
        at that occurrence (False otherwise), so a series cancelled or paused after the
        spawner's claim gets no run its cancel could not see."""
        if self.get(batch.id) is not None:
            return False  # the cheap answer for a retry; the conditional writes are the guarantee
        put_new_items(self._db, self._table, (recipient_to_item(r) for r in recipients), workers=8)
        meta = {
            "Put": {
                "TableName": self._table,
                "Item": serialize(batch_to_item(batch)),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        try:
            transact_write(self._db, [meta, *([self._spawning_check(run_of)] if run_of else [])])
        except Exception as exc:
            if any(reason == "ConditionalCheckFailed" for reason in transaction_cancel_reasons(exc)):
                return False
            raise
        return True

    def _spawning_check(self, claim: SeriesClaim) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": serialize({"pk": keys.batch_pk(claim.parent_id), "sk": keys.BATCH_META}),
                "ConditionExpression": "#s = :recurring AND recurrence_last_index = :index",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(recurring=BatchStatus.RECURRING.value, index=claim.index),
            }
        }

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

    # -- changes, each named for what it does and owning its condition ------------------------
    # Every one returns the batch after the write, or None when its condition did not hold
    # (the batch changed meanwhile); the caller decides what that means.

    def begin_run(self, batch: Batch, now: str) -> Batch | None:
        """Start (or re-run) ``batch``: running with the next run number, from the status and
        run number read, so two starts (or a start and a scheduled one) cannot both win. A
        reset left from an earlier run is not this run's."""
        return self._change(
            batch.id,
            from_statuses=[batch.status],
            to_status=BatchStatus.RUNNING,
            set_fields={
                "run_number": batch.run_number + 1,
                "pass_number": 0,
                "started_at": now,
                "updated_at": now,
            },
            remove_fields=["due_at", "paused_reason", "failure_reason", "completed_at", "resetting_statuses"],
            expect={"run_number": batch.run_number},
        )

    def keep_resetting(self, batch_id: str, run: int, statuses: Sequence[str], now: str) -> Batch | None:
        """The run's reset of these final statuses goes on in the background: due now."""
        return self._change(
            batch_id,
            from_statuses=[BatchStatus.RUNNING],
            to_status=BatchStatus.RUNNING,
            set_fields={"resetting_statuses": list(statuses), "due_at": now},
            expect={"run_number": run},
        )

    def end_resetting(self, batch: Batch) -> Batch | None:
        return self._change(
            batch.id,
            from_statuses=[batch.status],
            to_status=batch.status,
            remove_fields=["resetting_statuses"],
            expect={"run_number": batch.run_number},
        )

    def schedule_draft(self, batch_id: str, to_status: BatchStatus, at: str, now: str) -> Batch | None:
        return self._change(
            batch_id,
            from_statuses=[BatchStatus.DRAFT],
            to_status=to_status,
            set_fields={"due_at": at, "updated_at": now},
        )

    def cancel(self, batch: Batch, to_status: BatchStatus, now: str) -> Batch | None:
        """Cancel from the status read (a batch, or a series parent)."""
        return self._change(
            batch.id,
            from_statuses=[batch.status],
            to_status=to_status,
            set_fields={"cancelled_at": now, "updated_at": now},
            remove_fields=["due_at", "paused_reason", "resetting_statuses"],
        )

    def pause(self, batch: Batch, to_status: BatchStatus, reason: str, now: str) -> Batch | None:
        """Pause from the status read (a batch, or a series parent's spawning)."""
        return self._change(
            batch.id,
            from_statuses=[batch.status],
            to_status=to_status,
            set_fields={"paused_reason": reason, "updated_at": now},
            remove_fields=["due_at"],
        )

    def resume(self, batch: Batch, to_status: BatchStatus, now: str) -> Batch | None:
        """A paused batch of this run dials again."""
        return self._change(
            batch.id,
            from_statuses=[BatchStatus.PAUSED],
            to_status=to_status,
            set_fields={"updated_at": now},
            remove_fields=["paused_reason"],
            expect={"run_number": batch.run_number},
        )

    def resume_series(self, parent: Batch, to_status: BatchStatus, now: str) -> Batch | None:
        """A paused series parent spawns again: due now."""
        return self._change(
            parent.id,
            from_statuses=[parent.status],
            to_status=to_status,
            set_fields={"due_at": now, "updated_at": now},
            remove_fields=["paused_reason"],
        )

    def edit(self, batch: Batch, changes: dict[str, Any], removed: Sequence[str]) -> Batch | None:
        """A draft's (or a series template's) fields as ``update`` changes them, from the
        status read. ``changes`` and ``removed`` name fields of ``Batch``."""
        unknown = [name for name in (*changes, *removed) if name not in Batch.model_fields]
        if unknown:
            raise ValueError(f"not fields of a batch: {unknown}")
        return self._change(
            batch.id,
            from_statuses=[batch.status],
            to_status=batch.status,
            set_fields=changes,
            remove_fields=removed,
        )

    def advance_pass(self, batch: Batch, now: str, *, stay_due: bool) -> Batch | None:
        """The next pass of the run, from the run and pass read: two ticks start one pass.
        ``stay_due``: a background reset goes on, so the batch stays in the due index."""
        return self._change(
            batch.id,
            from_statuses=[BatchStatus.RUNNING],
            to_status=BatchStatus.RUNNING,
            set_fields={"pass_number": batch.pass_number + 1, "updated_at": now}
            | ({"due_at": now} if stay_due else {}),
            remove_fields=[] if stay_due else ["due_at"],
            expect={"run_number": batch.run_number, "pass_number": batch.pass_number},
        )

    def pause_outside_window(self, batch: Batch, opens_at: str | None, now: str) -> Batch | None:
        """Paused until the window opens (due then; never, when it never opens)."""
        return self._change(
            batch.id,
            from_statuses=[BatchStatus.RUNNING],
            to_status=BatchStatus.PAUSED,
            set_fields={"paused_reason": PausedReason.OUTSIDE_WINDOW.value, "updated_at": now}
            | ({"due_at": opens_at} if opens_at else {}),
            remove_fields=[] if opens_at else ["due_at"],
            expect={"run_number": batch.run_number},
        )

    def resume_window_open(self, batch: Batch, now: str) -> Batch | None:
        """A batch paused for its window runs again when it opens (only that pause, this run)."""
        return self._change(
            batch.id,
            from_statuses=[BatchStatus.PAUSED],
            to_status=BatchStatus.RUNNING,
            set_fields={"updated_at": now},
            remove_fields=["paused_reason", "due_at"],
            expect={"run_number": batch.run_number, "paused_reason": PausedReason.OUTSIDE_WINDOW.value},
        )

    def pause_for_credits(self, batch_id: str, run: int, now: str) -> Batch | None:
        return self._change(
            batch_id,
            from_statuses=[BatchStatus.RUNNING],
            to_status=BatchStatus.PAUSED,
            set_fields={"paused_reason": PausedReason.INSUFFICIENT_CREDITS.value, "updated_at": now},
            remove_fields=["due_at"],
            expect={"run_number": run},
        )

    def fail(self, batch_id: str, run: int, reason: str, now: str) -> Batch | None:
        """No call can be placed (credentials, caller ID): run ``run`` failed with the reason
        kept. A message left from an earlier run never fails the re-run that followed it."""
        return self._change(
            batch_id,
            from_statuses=allowed_from(BatchAction.FAIL),
            to_status=BatchStatus.FAILED,
            set_fields={"failure_reason": reason, "updated_at": now},
            remove_fields=["due_at"],
            expect={"run_number": run},
        )

    def complete_run(self, batch_id: str, run: int, now: str) -> Batch | None:
        """Nobody is left to call in this run."""
        return self._change(
            batch_id,
            from_statuses=[BatchStatus.RUNNING, BatchStatus.PAUSED],
            to_status=BatchStatus.COMPLETED,
            set_fields={"completed_at": now, "updated_at": now},
            remove_fields=["due_at", "paused_reason"],
            expect={"run_number": run},
        )

    def next_pass_due(self, batch_id: str, run: int, pass_number: int, at: str, now: str) -> Batch | None:
        """After pass ``pass_number``, the scheduler starts the next one at ``at``."""
        return self._change(
            batch_id,
            from_statuses=[BatchStatus.RUNNING],
            to_status=BatchStatus.RUNNING,
            set_fields={"due_at": at, "updated_at": now},
            expect={"run_number": run, "pass_number": pass_number},
        )

    def make_due(self, batch_id: str, while_status: BatchStatus, at: str) -> Batch | None:
        """The scheduler looks at the batch at ``at`` (if it is still in ``while_status``)."""
        return self._change(
            batch_id, from_statuses=[while_status], to_status=while_status, set_fields={"due_at": at}
        )

    def leave_due_index(self, batch: Batch) -> Batch | None:
        """Nothing for the scheduler to do for this batch any more (while it keeps its status,
        and the due_at read: one set meanwhile, a next pass or a reset, is not lost)."""
        expect = {"due_at": batch.due_at} if batch.due_at else None
        return self._change(
            batch.id,
            from_statuses=[batch.status],
            to_status=batch.status,
            remove_fields=["due_at"],
            expect=expect,
        )

    def claim_occurrence(self, parent: Batch, index: int, due_at: str, now: str) -> Batch | None:
        """Occurrence ``index`` of a series is this spawner's to make: ``recurrence_last_index``
        moves only from the value read, so of two spawners one claims."""
        return self._change(
            parent.id,
            from_statuses=[BatchStatus.RECURRING],
            to_status=BatchStatus.RECURRING,
            set_fields={"recurrence_last_index": index, "updated_at": now, "due_at": due_at},
            add_fields={"recurrence_run_count": 1},
            expect={"recurrence_last_index": parent.recurrence_last_index},
        )

    def complete_series(self, parent: Batch, to_status: BatchStatus, now: str) -> Batch | None:
        return self._change(
            parent.id,
            from_statuses=[BatchStatus.RECURRING],
            to_status=to_status,
            set_fields={"completed_at": now, "updated_at": now},
            remove_fields=["due_at"],
        )

    # An uploaded file's import: each write is conditioned on the import the caller holds
    # (its ``import_started_at``), so a cancel or a takeover stops the one it replaced.

    def take_import(self, batch: Batch, now: str, *, stale: bool) -> Batch | None:
        """waiting_for_upload → importing; or, ``stale``, take over an import whose heartbeat
        stopped (the ``import_started_at`` read)."""
        expect: dict[str, Any] = {"import_status": ImportStatus.WAITING.value}
        if stale:  # and still as stale as read: a heartbeat meanwhile keeps the import its own
            expect = {
                "import_status": ImportStatus.IMPORTING.value,
                "import_started_at": batch.import_started_at,
            }
            if batch.import_heartbeat_at:
                expect["import_heartbeat_at"] = batch.import_heartbeat_at
        return self._change(
            batch.id,
            from_statuses=[BatchStatus.DRAFT],
            to_status=BatchStatus.DRAFT,
            set_fields={
                "import_status": ImportStatus.IMPORTING.value,
                "import_started_at": now,
                "import_heartbeat_at": now,
                "import_rows_read": 0,
                "updated_at": now,
            },
            expect=expect,
        )

    def record_import_progress(self, batch: Batch, rows_read: int, now: str) -> Batch | None:
        """Rows read so far, and the heartbeat that keeps the import from being taken over."""
        return self._import_change(batch, {"import_rows_read": rows_read, "import_heartbeat_at": now})

    def hand_back_import(self, batch: Batch) -> Batch | None:
        """A failed attempt gives the file back (waiting again) for the queue's redelivery."""
        return self._import_change(batch, {"import_status": ImportStatus.WAITING.value})

    def finish_import(self, batch: Batch, result: ImportResult, now: str) -> Batch | None:
        fields: dict[str, Any] = {"import_status": result.status.value, "updated_at": now}
        if result.status is ImportStatus.COMPLETED:
            fields.update(
                total_recipients=result.total_recipients,
                duplicates_dropped=result.duplicates_dropped,
                suppressed_dropped=result.suppressed_dropped,
                import_rows_read=result.rows_read,
            )
        return self._import_change(batch, fields)

    def fail_cancelled_import(self, batch: Batch, now: str) -> Batch | None:
        """Cancelled while importing: the import failed, and the batch is due so the scheduler
        skips what the last chunk wrote after the cancel's own skipping."""
        return self._change(
            batch.id,
            from_statuses=[BatchStatus.CANCELLED],
            to_status=BatchStatus.CANCELLED,
            set_fields={"import_status": ImportStatus.FAILED.value, "due_at": now, "updated_at": now},
            expect={"import_started_at": batch.import_started_at},
        )

    def _import_change(self, batch: Batch, fields: dict[str, Any]) -> Batch | None:
        return self._change(
            batch.id,
            from_statuses=[BatchStatus.DRAFT],
            to_status=BatchStatus.DRAFT,
            set_fields=fields,
            expect={
                "import_status": ImportStatus.IMPORTING.value,
                "import_started_at": batch.import_started_at,
            },
        )

    def _change(
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
        """The one conditional write under every change below: the batch moves to ``to_status``
        only if it is in ``from_statuses`` and matches ``expect``. Returns the batch after
        the write, or ``None`` when the condition did not hold."""
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
