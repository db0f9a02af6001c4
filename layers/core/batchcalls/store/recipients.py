"""Recipients of a batch and every conditional transition of their status.

The conditions here are what make the engine safe under duplicate SQS deliveries and
repeated or reordered provider callbacks:

* ``claim``      pending → calling, once per pass (the ticket names the attempt), bumps
                 ``attempts``, only while the batch runs this run and the number is not on
                 the do-not-call list, with the dial fee in the same transaction. Only one
                 delivery of a dial message can win it, so no recipient is dialed twice.
* ``advance``    forward-only move between non-final statuses of the *current* attempt.
* ``finish``     the one final transition of an attempt, in the same transaction as the batch
                 counter it adds to, so counters count each final status exactly once.
* ``skip``       pending → skipped (cancelled batch), also with its counter.
* ``record_late_final_status``  the provider's final status for an attempt the lost-call path
                 ended without it: its history entry and its minutes, once; nothing else moves.

While an attempt is in a call, the recipient is in the sparse ``due`` index under an
``INFLIGHT#`` shard (set by ``claim``, removed by every ending), so the stuck-call sweep finds
calls whose final status never came without scanning anything.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

from batchcalls.domain.recipient_status import (
    IN_CALL,
    TERMINAL,
    RecipientStatus,
    counter_field,
    statuses_before,
)
from batchcalls.models.domain import ClaimOutcome, DialClaim, LedgerEntry, Recipient
from batchcalls.store import keys
from batchcalls.store.credits import CreditStore
from batchcalls.store.dynamo import (
    deserialize,
    due_keys,
    is_condition_failure,
    query_all,
    serialize,
    transact_write,
    transaction_cancel_reasons,
    values,
)
from batchcalls.store.mapping import recipient_from_item
from batchcalls.store.suppression import SuppressionStore


class PendingRef(NamedTuple):
    sk: str
    phone_number: str
    next_attempt_at: str | None


class RecipientState(NamedTuple):
    sk: str
    id: str
    status: RecipientStatus
    next_attempt_at: str | None
    ticket: str | None  # "{run}:{pass}" of the pass that last dealt with it


class InflightRef(NamedTuple):
    batch_id: str
    sk: str


FINAL_STATUSES = [s for s in RecipientStatus if s in TERMINAL]

_IN_CALL = list(IN_CALL)


def _in_list(prefix: str, statuses: list[RecipientStatus]) -> tuple[str, dict[str, str]]:
    names = {f":{prefix}{i}": s.value for i, s in enumerate(statuses)}
    return ", ".join(names), names


class RecipientStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table
        # The account's credits and do-not-call list live in the same table: a claim, and
        # every ending that bills or refunds, changes them in the recipient's own transaction.
        self._credits = CreditStore(client, table)
        self._suppression = SuppressionStore(client, table)

    def _key(self, batch_id: str, sk: str) -> dict[str, Any]:
        return serialize({"pk": keys.batch_pk(batch_id), "sk": sk})

    def get(self, batch_id: str, sk: str) -> Recipient | None:
        resp = self._db.get_item(TableName=self._table, Key=self._key(batch_id, sk), ConsistentRead=True)
        item = resp.get("Item")
        return recipient_from_item(deserialize(item)) if item else None

    def in_batch(self, batch_id: str) -> Iterator[Recipient]:
        for item in query_all(
            self._db,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
            ExpressionAttributeValues=values(pk=keys.batch_pk(batch_id), r="R#"),
            ConsistentRead=True,
        ):
            yield recipient_from_item(item)

    def states(self, batch_id: str) -> Iterator[RecipientState]:
        """Every recipient's status and redial/window wait, read without the rest of the item:
        a pass over a million recipients stays small, and nothing is kept."""
        for item in self._projected(batch_id, "sk, id, #s, next_attempt_at, ticket"):
            yield RecipientState(
                str(item["sk"]),
                str(item["id"]),
                RecipientStatus(item["status"]),
                item.get("next_attempt_at"),
                item.get("ticket"),
            )

    def _projected(self, batch_id: str, projection: str) -> Iterator[dict[str, Any]]:
        """Every recipient of the batch, only the attributes named (``#s`` is the status)."""
        return query_all(
            self._db,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values(pk=keys.batch_pk(batch_id), r="R#"),
            ProjectionExpression=projection,
            ConsistentRead=True,
        )

    def totals(self, batch_id: str, run: int) -> tuple[dict[str, int], int]:
        """Recipients per status (as ``status_counts``) and what run ``run``'s attempts cost,
        in micros (a recipient's ``cost_micros`` adds up every run)."""
        counts = {status.value: 0 for status in RecipientStatus}
        cost = 0
        for item in self._projected(batch_id, "#s, attempt_history"):
            counts[str(item["status"])] += 1
            cost += sum(
                int(entry.get("cost_micros") or 0)
                for entry in item.get("attempt_history") or []
                if str(entry.get("ticket", "")).startswith(f"{run}:")
            )
        return counts, cost

    def status_counts(self, batch_id: str) -> dict[str, int]:
        """Recipients per status, every status present (0 when none)."""
        counts = {status.value: 0 for status in RecipientStatus}
        for state in self.states(batch_id):
            counts[state.status.value] += 1
        return counts

    def stuck_calls(self, now_iso: str) -> list[InflightRef]:
        """Recipients still in a call past their ``stuck_after`` time, from the due index."""
        return [
            InflightRef(str(item["pk"]).removeprefix("BATCH#"), str(item["sk"]))
            for item in due_keys(self._db, self._table, keys.all_inflight_shards(), now_iso)
        ]

    def pending_keys(self, batch_id: str) -> Iterator[PendingRef]:
        """Every pending recipient: its sort key, number and the time it waits for (if any)."""
        for item in query_all(
            self._db,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :r)",
            FilterExpression="#s = :pending",
            ProjectionExpression="sk, phone_number, next_attempt_at",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=values(
                pk=keys.batch_pk(batch_id), r="R#", pending=RecipientStatus.PENDING.value
            ),
            ConsistentRead=True,
        ):
            yield PendingRef(str(item["sk"]), str(item["phone_number"]), item.get("next_attempt_at"))

    def reset_for_rerun(
        self, batch_id: str, sk: str, statuses: list[RecipientStatus], now: str, *, run: int | None
    ) -> bool:
        """A final recipient (with one of ``statuses``) back to pending. With ``run``, not if
        that run already dealt with it (its ticket is ``{run}:…``): a re-run's reset is never
        applied twice, however often it is resumed while the run dials."""
        placeholders, allowed = _in_list("f", [s for s in statuses if s in TERMINAL])
        if not allowed:
            return False
        condition = f"#s IN ({placeholders})"
        vals: dict[str, Any] = {":pending": RecipientStatus.PENDING.value, ":now": now, **allowed}
        if run is not None:
            condition += " AND (attribute_not_exists(ticket) OR NOT begins_with(ticket, :run))"
            vals[":run"] = f"{run}:"
        return self._update(
            batch_id,
            sk,
            "SET #s = :pending, updated_at = :now REMOVE ticket, task_token, call_id, answered_at, "
            "completed_at, duration_seconds, answered_by, error_message, next_attempt_at",
            condition,
            vals,
        )

    def page(
        self,
        batch_id: str,
        *,
        limit: int,
        start_after: str | None = None,
        status: str | None = None,
        updated_since: str | None = None,
    ) -> tuple[list[Recipient], str | None]:
        """One page in batch order; returns the recipients and the sort key to continue after."""
        values_: dict[str, Any] = {":pk": keys.batch_pk(batch_id), ":r": "R#"}
        names: dict[str, str] = {}
        filters = []
        if status:
            filters.append("#s = :status")
            names["#s"] = "status"
            values_[":status"] = status
        if updated_since:
            filters.append("updated_at >= :since")
            values_[":since"] = updated_since
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :r)",
            "ExpressionAttributeValues": serialize(values_),
            "ConsistentRead": True,
        }
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if start_after:
            kwargs["ExclusiveStartKey"] = serialize({"pk": keys.batch_pk(batch_id), "sk": start_after})
        out: list[Recipient] = []
        while True:
            kwargs["Limit"] = max(limit - len(out), 1) if not filters else 200
            resp = self._db.query(**kwargs)
            for item in resp.get("Items", []):
                out.append(recipient_from_item(deserialize(item)))
                if len(out) == limit:
                    more = item != resp["Items"][-1] or "LastEvaluatedKey" in resp
                    return out, (out[-1].sk if more else None)
            last = resp.get("LastEvaluatedKey")
            if not last:
                return out, None
            kwargs["ExclusiveStartKey"] = last

    def defer(
        self, batch_id: str, sk: str, ticket: str, now: str, next_attempt_at: str | None = None
    ) -> bool:
        """Mark a pending recipient as dealt with in this pass without dialing it; with
        ``next_attempt_at``, no pass dials it before then (its window opens, its redial is due)."""
        vals = {":t": ticket, ":now": now, ":pending": RecipientStatus.PENDING.value}
        expression = "SET ticket = :t, updated_at = :now"
        if next_attempt_at:
            expression += ", next_attempt_at = :next"
            vals[":next"] = next_attempt_at
        return self._update(
            batch_id,
            sk,
            expression,
            "#s = :pending AND (attribute_not_exists(ticket) OR ticket <> :t)",
            vals,
        )

    def claim(self, claim: DialClaim, fee: LedgerEntry | None = None) -> ClaimOutcome:
        """pending → calling for this pass, only while the batch is running this run.

        One transaction: the batch check makes "no dial starts after a cancel or pause" hold
        even for a dialer that read the batch a moment before it changed. The pass's ticket then
        names this attempt (one claim per pass): callbacks and later writes are conditioned on it.
        ``fee`` (the dial fee, a debit the balance must cover, with its ledger entry) rides in
        the same transaction, so a fee is taken exactly when a claim wins — a replayed delivery
        pays nothing, and no claim wins without its fee. A check that the number is not on the
        account's do-not-call list fails the claim however recently it was added. Until the
        attempt ends the recipient sits in the sparse ``due`` index (``INFLIGHT#`` shards) at
        ``stuck_after``, where the stuck-call sweep finds it if no final status arrives.

        Each item is paired with what its failed condition means; the first that failed is
        the outcome (the batch before the recipient, before the number, before the fee)."""
        fee_micros = -fee.amount_micros if fee is not None else 0
        checked: list[tuple[ClaimOutcome, dict[str, Any]]] = [
            (ClaimOutcome.BATCH_NOT_RUNNING, self._batch_runs_check(claim.batch_id, claim.run)),
            (ClaimOutcome.NOT_PENDING, self._claim_update(claim, fee_micros)),
            (
                ClaimOutcome.SUPPRESSED,
                self._suppression.suppressed_check(claim.account_id, claim.phone_number),
            ),
        ]
        if fee is not None:
            checked += [
                (ClaimOutcome.INSUFFICIENT_CREDITS, item) for item in self._credits.covered_debit_items(fee)
            ]
        try:
            transact_write(self._db, [item for _, item in checked])
        except Exception as exc:
            refused = _first_refused(exc, [outcome for outcome, _ in checked])
            if refused is None:
                raise
            return refused
        return ClaimOutcome.CLAIMED

    def _batch_runs_check(self, batch_id: str, run: int) -> dict[str, Any]:
        return {
            "ConditionCheck": {
                "TableName": self._table,
                "Key": serialize({"pk": keys.batch_pk(batch_id), "sk": keys.BATCH_META}),
                "ConditionExpression": "#s = :running AND run_number = :run",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(running="running", run=run),
            }
        }

    def _claim_update(self, claim: DialClaim, fee_micros: int) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(claim.batch_id, claim.sk),
                "UpdateExpression": (
                    "SET #s = :calling, ticket = :t, task_token = :tok, attempted_at = :now, "
                    "account_id = :acct, slot_holder = :holder, due_shard = :ishard, due_at = :stuck, "
                    "updated_at = :now ADD attempts :one, cost_micros :fee REMOVE call_id, answered_at, next_attempt_at, "
                    "completed_at, duration_seconds, answered_by, error_message"
                ),
                "ConditionExpression": "#s = :pending AND (attribute_not_exists(ticket) OR ticket <> :t)",
                "ExpressionAttributeNames": {"#s": "status"},
                "ExpressionAttributeValues": values(
                    calling=RecipientStatus.CALLING.value,
                    pending=RecipientStatus.PENDING.value,
                    t=claim.ticket,
                    tok=claim.task_token,
                    now=claim.attempted_at,
                    one=1,
                    acct=claim.account_id,
                    holder=claim.slot_holder,
                    fee=fee_micros,
                    ishard=keys.inflight_shard(claim.batch_id, claim.sk),
                    stuck=claim.stuck_after,
                ),
            }
        }

    def release_claim(
        self, batch_id: str, sk: str, ticket: str, now: str, refund: LedgerEntry | None = None
    ) -> bool:
        """calling → pending when no call was placed (a transient provider failure, a batch
        that cannot dial), so a later delivery or a re-run may dial. ``refund`` (the dial fee
        given back, with its ledger entry) rides in the same transaction: the claim's fee is
        returned exactly when the claim is."""
        cost, refund_items = self._charge(refund)
        return self._transact_if_first_holds(
            [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(batch_id, sk),
                        "UpdateExpression": (
                            "SET #s = :pending, updated_at = :now ADD attempts :minus, cost_micros :refund "
                            "REMOVE ticket, task_token, due_shard, due_at"
                        ),
                        "ConditionExpression": "#s = :calling AND ticket = :a",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": values(
                            pending=RecipientStatus.PENDING.value,
                            calling=RecipientStatus.CALLING.value,
                            now=now,
                            a=ticket,
                            minus=-1,
                            refund=cost,
                        ),
                    }
                },
                *refund_items,
            ]
        )

    def _charge(self, entry: LedgerEntry | None) -> tuple[int, list[dict[str, Any]]]:
        """What ``entry`` adds to the recipient's ``cost_micros`` (a debit of the balance is a
        cost, a refund takes one back) and the items that change the balance and write the
        entry; nothing without an entry."""
        if entry is None:
            return 0, []
        return -entry.amount_micros, self._credits.change_items(entry)

    def set_call_id(self, batch_id: str, sk: str, ticket: str, call_id: str) -> bool:
        return self._update(
            batch_id,
            sk,
            "SET call_id = :c",
            "ticket = :a AND (attribute_not_exists(call_id) OR call_id = :c)",
            {":c": call_id, ":a": ticket},
        )

    def put_call_pointer(self, call_id: str, batch_id: str, sk: str, ticket: str, now: str) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=serialize(
                {
                    "pk": keys.call_pk(call_id),
                    "sk": "CALL",
                    "batch_id": batch_id,
                    "rk": sk,
                    "ticket": ticket,
                    "created_at": now,
                }
            ),
        )

    def advance(
        self, batch_id: str, sk: str, ticket: str, status: RecipientStatus, fields: dict[str, Any]
    ) -> bool:
        """Move the current attempt forward to a non-final ``status``; False if stale or behind."""
        placeholders, before = _in_list("b", [s for s in statuses_before(status) if s in _IN_CALL])
        sets, vals, names = self._sets(fields)
        return self._update(
            batch_id,
            sk,
            "SET #s = :new" + sets,
            f"ticket = :a AND #s IN ({placeholders})",
            {":new": status.value, ":a": ticket, **before, **vals},
            names,
        )

    def finish(
        self,
        batch_id: str,
        sk: str,
        ticket: str,
        status: RecipientStatus,
        fields: dict[str, Any],
        now: str,
        charge: LedgerEntry | None = None,
        attempt: dict[str, Any] | None = None,
    ) -> bool:
        """The final transition of an attempt, once; adds to the batch counter in one transaction,
        with the call's ``charge`` (the balance change and its ledger entry) when it has one —
        so a call is billed exactly once however often its final status arrives."""
        placeholders, before = _in_list("b", _IN_CALL)
        charge_micros, charge_items = self._charge(charge)
        return self._final(
            batch_id,
            sk,
            status,
            fields,
            now,
            condition=f"ticket = :a AND #s IN ({placeholders})",
            condition_values={":a": ticket, **before},
            cost_micros=charge_micros,
            extra_items=charge_items,
            attempt=attempt,
        )

    def retry_later(
        self,
        batch_id: str,
        sk: str,
        ticket: str,
        attempt: dict[str, Any],
        next_attempt_at: str,
        now: str,
        charge: LedgerEntry | None = None,
    ) -> bool:
        """End the attempt ``ticket`` without a final status: the recipient is pending again
        until ``next_attempt_at`` (a redial), the attempt is kept in its history, and no batch
        counter moves (counters count final outcomes only). ``charge`` as in ``finish``."""
        placeholders, before = _in_list("b", _IN_CALL)
        charge_micros, charge_items = self._charge(charge)
        vals: dict[str, Any] = {
            ":pending": RecipientStatus.PENDING.value,
            ":next": next_attempt_at,
            ":now": now,
            ":attempt": [attempt],
            ":none": [],
            ":a": ticket,
            ":cost": charge_micros,
            **before,
        }
        return self._transact_if_first_holds(
            [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(batch_id, sk),
                        "UpdateExpression": (
                            "SET #s = :pending, next_attempt_at = :next, updated_at = :now, "
                            "attempt_history = list_append(if_not_exists(attempt_history, :none), :attempt) "
                            "ADD cost_micros :cost REMOVE task_token, slot_holder, due_shard, due_at, call_id, answered_at, "
                            "completed_at, duration_seconds, answered_by, error_message"
                        ),
                        "ConditionExpression": f"ticket = :a AND #s IN ({placeholders})",
                        "ExpressionAttributeNames": {"#s": "status"},
                        "ExpressionAttributeValues": serialize(vals),
                    }
                },
                *charge_items,
            ]
        )

    def record_late_final_status(
        self,
        batch_id: str,
        sk: str,
        index: int,
        ticket: str,
        real: dict[str, Any],
        now: str,
        charge: LedgerEntry | None = None,
    ) -> bool:
        """Write the provider's final status into history entry ``index`` — the attempt
        ``ticket``, ended without it — with the call's charge in the same transaction; once:
        only while that entry has no ``late_final_status_at``. The recipient's status, counters,
        slot and token stay as that ending left them (only its cost and ``updated_at`` move)."""
        charge_micros, charge_items = self._charge(charge)
        entry = f"attempt_history[{int(index)}]"
        names = {f"#l{i}": field for i, field in enumerate(real)}
        vals = {f":l{i}": value for i, value in enumerate(real.values())}
        sets = "".join(f", {entry}.{name} = {value}" for name, value in zip(names, vals, strict=True))
        return self._transact_if_first_holds(
            [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(batch_id, sk),
                        "UpdateExpression": "SET updated_at = :now" + sets + " ADD cost_micros :cost",
                        "ConditionExpression": (
                            f"{entry}.ticket = :a AND {entry}.final_status_lost = :lost "
                            f"AND attribute_not_exists({entry}.late_final_status_at)"
                        ),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": serialize(
                            {**vals, ":now": now, ":a": ticket, ":lost": True, ":cost": charge_micros}
                        ),
                    }
                },
                *charge_items,
            ]
        )

    def skip(
        self,
        batch_id: str,
        sk: str,
        reason: str,
        now: str,
        *,
        ticket: str | None = None,
        only_if_cancelled_run: int | None = None,
    ) -> bool:
        """pending → skipped (cancelled batch, suppressed number), with its counter. ``ticket``
        records the pass that decided it (a re-run's reset then leaves it alone in that run);
        ``only_if_cancelled_run``: only while the batch is still cancelled in that run, so a
        background skip never touches the recipients of a re-run started meanwhile."""
        fields: dict[str, Any] = {"error_message": reason, "completed_at": now}
        if ticket:
            fields["ticket"] = ticket
        return self._final(
            batch_id,
            sk,
            RecipientStatus.SKIPPED,
            fields,
            now,
            condition="#s = :pending",
            condition_values={":pending": RecipientStatus.PENDING.value},
            batch_condition=(
                (
                    "#bs = :cancelled AND run_number = :brun",
                    {":cancelled": "cancelled", ":brun": only_if_cancelled_run},
                )
                if only_if_cancelled_run is not None
                else None
            ),
        )

    def _final(
        self,
        batch_id: str,
        sk: str,
        status: RecipientStatus,
        fields: dict[str, Any],
        now: str,
        *,
        condition: str,
        condition_values: dict[str, Any],
        cost_micros: int = 0,
        extra_items: Sequence[dict[str, Any]] = (),
        attempt: dict[str, Any] | None = None,
        batch_condition: tuple[str, dict[str, Any]] | None = None,
    ) -> bool:
        assert status in TERMINAL
        meta_condition, meta_values = "attribute_exists(pk)", {}
        if batch_condition is not None:
            meta_condition += " AND " + batch_condition[0]
            meta_values = batch_condition[1]
        sets, vals, names = self._sets({**fields, "updated_at": now})
        add_cost = " ADD cost_micros :cost" if cost_micros else ""
        if cost_micros:
            vals[":cost"] = cost_micros
        if attempt is not None:
            sets += ", attempt_history = list_append(if_not_exists(attempt_history, :none), :attempt)"
            vals[":none"] = []
            vals[":attempt"] = [attempt]
        return self._transact_if_first_holds(
            [
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": self._key(batch_id, sk),
                        # A final status leaves the stuck-call sweep's index.
                        "UpdateExpression": "SET #s = :new" + sets + add_cost + " REMOVE due_shard, due_at",
                        "ConditionExpression": condition,
                        "ExpressionAttributeNames": {"#s": "status", **names},
                        "ExpressionAttributeValues": serialize(
                            {":new": status.value, **vals, **condition_values}
                        ),
                    }
                },
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": serialize({"pk": keys.batch_pk(batch_id), "sk": keys.BATCH_META}),
                        # last_final_at: the dialer's call-end → next-dial turnaround.
                        "UpdateExpression": "SET updated_at = :now, last_final_at = :now ADD #c :one",
                        "ConditionExpression": meta_condition,
                        "ExpressionAttributeNames": {"#c": counter_field(status)}
                        | ({"#bs": "status"} if batch_condition is not None else {}),
                        "ExpressionAttributeValues": serialize({":now": now, ":one": 1, **meta_values}),
                    }
                },
                *extra_items,
            ],
            checked_meta=batch_condition is not None,
        )

    def _transact_if_first_holds(self, items: list[dict[str, Any]], *, checked_meta: bool = False) -> bool:
        """Run the transaction; False when its first item's condition does not hold (the
        transition already happened, or may not happen now) — or, with ``checked_meta``, the
        second's (the batch is no longer as required); any other failure raises."""
        try:
            transact_write(self._db, items)
        except Exception as exc:
            reasons = transaction_cancel_reasons(exc)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False
            if checked_meta and len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                return False
            raise
        return True

    @staticmethod
    def _sets(fields: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
        parts, vals, names = [], {}, {}
        for i, (field, value) in enumerate(fields.items()):
            if value is None:
                continue
            names[f"#f{i}"] = field
            vals[f":f{i}"] = value
            parts.append(f"#f{i} = :f{i}")
        return ("".join(f", {p}" for p in parts), vals, names)

    def _update(
        self,
        batch_id: str,
        sk: str,
        expression: str,
        condition: str,
        vals: dict[str, Any],
        extra_names: dict[str, str] | None = None,
    ) -> bool:
        names = {"#s": "status", **(extra_names or {})}
        used = {k: v for k, v in names.items() if k in expression or k in condition}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(batch_id, sk),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=used,
                ExpressionAttributeValues=serialize(vals),
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True


def _first_refused(exc: Exception, outcomes: Sequence[ClaimOutcome]) -> ClaimOutcome | None:
    """The outcome paired with the first transaction item whose condition failed; None when
    ``exc`` is not a failed condition (it is raised)."""
    reasons = transaction_cancel_reasons(exc)
    for outcome, reason in zip(outcomes, reasons, strict=False):
        if reason == "ConditionalCheckFailed":
            return outcome
    return None
