"""An account's webhook endpoints, and each endpoint's deliveries with their attempts.

* create: the endpoint and the account's endpoint count in one transaction, the count only
  while under the limit — two creates at once never pass it;
* disable: only while enabled, so of two failing deliveries one disables (and reports) it;
* an attempt is recorded only as the next one (``size(attempts) = n - 1``): a redelivered queue
  message never records an attempt twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from batchcalls.models.events import Delivery, DeliveryAttempt, DeliveryStatus, Event, Webhook, WebhookStatus
from batchcalls.models.results import Page
from batchcalls.store import keys
from batchcalls.store.dynamo import (
    deserialize,
    encode_cursor,
    is_condition_failure,
    query_all,
    serialize,
    sort_key_cursor,
    transact_write,
    transaction_cancel_reasons,
    values,
)
from batchcalls.store.mapping import webhook_from_item


@dataclass(frozen=True)
class Change:
    """Attributes an update sets and removes."""

    set: dict[str, Any] = field(default_factory=dict)
    remove: tuple[str, ...] = ()


class WebhookLimitReached(Exception):
    pass


class WebhookStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _key(self, account_id: str, webhook_id: str) -> dict[str, Any]:
        return serialize({"pk": keys.account_pk(account_id), "sk": keys.webhook_sk(webhook_id)})

    def create(self, webhook: Webhook, limit: int) -> None:
        """Raises WebhookLimitReached when the account has ``limit`` endpoints already."""
        item = {
            "pk": keys.account_pk(webhook.account_id),
            "sk": keys.webhook_sk(webhook.id),
            **webhook.model_dump(mode="json", exclude={"id", "account_id"}, exclude_none=True),
        }
        try:
            transact_write(
                self._db,
                [
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": serialize(
                                {"pk": keys.account_pk(webhook.account_id), "sk": keys.WEBHOOK_COUNT}
                            ),
                            "UpdateExpression": "ADD endpoints :one",
                            "ConditionExpression": "attribute_not_exists(endpoints) OR endpoints < :limit",
                            "ExpressionAttributeValues": values(one=1, limit=limit),
                        }
                    },
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": serialize(item),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ],
            )
        except Exception as exc:
            if transaction_cancel_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                raise WebhookLimitReached(f"an account has at most {limit} webhook endpoints") from exc
            raise

    def get(self, account_id: str, webhook_id: str) -> Webhook | None:
        resp = self._db.get_item(
            TableName=self._table, Key=self._key(account_id, webhook_id), ConsistentRead=True
        )
        item = resp.get("Item")
        return webhook_from_item(deserialize(item)) if item else None

    def list(self, account_id: str) -> list[Webhook]:
        items = query_all(
            self._db,
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :w)",
            ExpressionAttributeValues=values(pk=keys.account_pk(account_id), w=keys.WEBHOOK_PREFIX),
        )
        return sorted((webhook_from_item(item) for item in items), key=lambda w: w.created_at)

    def update(self, account_id: str, webhook_id: str, change: Change) -> Webhook | None:
        """``change`` on an endpoint that exists; None if it does not."""
        return self._update(account_id, webhook_id, change, "attribute_exists(pk)")

    def delete(self, account_id: str, webhook_id: str) -> bool:
        try:
            transact_write(
                self._db,
                [
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": self._key(account_id, webhook_id),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table,
                            "Key": serialize({"pk": keys.account_pk(account_id), "sk": keys.WEBHOOK_COUNT}),
                            "UpdateExpression": "ADD endpoints :minus",
                            "ExpressionAttributeValues": values(minus=-1),
                        }
                    },
                ],
            )
        except Exception as exc:
            if transaction_cancel_reasons(exc)[:1] == ["ConditionalCheckFailed"]:
                return False
            raise
        return True

    def rotate_secret(
        self, account_id: str, webhook_id: str, previous_until: str, now: str
    ) -> Webhook | None:
        """A new secret; the one it replaces goes on signing until ``previous_until``."""
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key=self._key(account_id, webhook_id),
                UpdateExpression=(
                    "SET previous_secret_version = secret_version, secret_version = secret_version + :one, "
                    "previous_secret_until = :until, updated_at = :now"
                ),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values(one=1, until=previous_until, now=now),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return None
            raise
        return webhook_from_item(deserialize(resp["Attributes"]))

    def mark_failing(self, account_id: str, webhook_id: str, now: str) -> None:
        """Remember when the endpoint began failing (kept until a delivery succeeds)."""
        self._update(
            account_id,
            webhook_id,
            Change(set={"failing_since": now}),
            "attribute_exists(pk) AND attribute_not_exists(failing_since)",
        )

    def mark_healthy(self, account_id: str, webhook_id: str) -> None:
        self._update(
            account_id, webhook_id, Change(remove=("failing_since",)), "attribute_exists(failing_since)"
        )

    def disable(
        self, account_id: str, webhook_id: str, reason: str, now: str, *, failing_since: str | None = None
    ) -> Webhook | None:
        """Enabled → disabled with the reason; the endpoint when this call disabled it.
        ``failing_since``: only if it is still failing since then (not re-enabled meanwhile)."""
        condition, extra = "#st = :enabled", {"enabled": WebhookStatus.ENABLED.value}
        if failing_since is not None:
            condition += " AND failing_since = :since"
            extra["since"] = failing_since
        change = Change(
            set={"status": WebhookStatus.DISABLED.value, "disabled_reason": reason, "updated_at": now}
        )
        return self._update(account_id, webhook_id, change, condition, extra, names={"#st": "status"})

    def _update(
        self,
        account_id: str,
        webhook_id: str,
        change: Change,
        condition: str,
        condition_values: dict[str, Any] | None = None,
        names: dict[str, str] | None = None,
    ) -> Webhook | None:
        """``change`` while ``condition`` holds; the endpoint after it, or None."""
        attribute_names = dict(names or {})
        vals = dict(condition_values or {})
        sets = []
        for n, (name, value) in enumerate(change.set.items()):
            attribute_names[f"#f{n}"] = name
            vals[f"f{n}"] = value
            sets.append(f"#f{n} = :f{n}")
        expression = ("SET " + ", ".join(sets) if sets else "") + (
            " REMOVE " + ", ".join(change.remove) if change.remove else ""
        )
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": self._key(account_id, webhook_id),
            "UpdateExpression": expression.strip(),
            "ConditionExpression": condition,
            "ReturnValues": "ALL_NEW",
        }
        if attribute_names:
            kwargs["ExpressionAttributeNames"] = attribute_names
        if vals:
            kwargs["ExpressionAttributeValues"] = values(**vals)
        try:
            resp = self._db.update_item(**kwargs)
        except Exception as exc:
            if is_condition_failure(exc):
                return None
            raise
        return webhook_from_item(deserialize(resp["Attributes"]))


class DeliveryStore:
    """Deliveries under their endpoint (``WEBHOOK#{id}``), newest first by id; each keeps the
    event it sends (a redelivery sends it again) and expires with the event log."""

    def __init__(self, client: Any, table: str, retention_days: int) -> None:
        self._db = client
        self._table = table
        self._retention_seconds = retention_days * 86400

    def _key(self, webhook_id: str, delivery_id: str) -> dict[str, Any]:
        return serialize({"pk": keys.webhook_pk(webhook_id), "sk": keys.delivery_sk(delivery_id)})

    def get(self, webhook_id: str, delivery_id: str) -> tuple[Delivery, Event] | None:
        resp = self._db.get_item(
            TableName=self._table, Key=self._key(webhook_id, delivery_id), ConsistentRead=True
        )
        item = resp.get("Item")
        if not item:
            return None
        data = deserialize(item)
        return _delivery(data), Event.model_validate_json(data["event"])

    def claim(self, delivery: Delivery, event: Event, attempt: int, until: int, now: int) -> bool:
        """Attempt ``attempt`` is this sender's to post until ``until`` (epoch seconds): only
        while it is the next one to record and no other sender holds it (or its hold ran
        out: that sender died). Makes the delivery's row on the first attempt."""
        sets, vals = self._base(delivery, event)
        sets += ", claimed_attempt = :n, claimed_until = :until, #st = if_not_exists(#st, :pending)"
        vals.update(n=attempt, until=until, now=now, pending=DeliveryStatus.PENDING.value)
        condition, extra = _next_attempt_condition(attempt)
        vals.update(extra)
        held = "(attribute_not_exists(claimed_attempt) OR claimed_attempt < :n OR claimed_until < :now)"
        return self._update(delivery, "SET " + sets, f"({condition}) AND {held}", vals)

    def release_claim(self, delivery: Delivery, attempt: int) -> None:
        """Give attempt ``attempt`` back unposted (its endpoint was busy): the message takes
        it again when it comes back."""
        self._update(
            delivery,
            "SET claimed_until = :zero",
            "claimed_attempt = :n",
            {"zero": 0, "n": attempt},
            names=False,
        )

    def record_attempt(
        self,
        delivery: Delivery,
        event: Event,
        attempt: DeliveryAttempt,
        status: DeliveryStatus,
        next_retry_at: str | None,
    ) -> bool:
        """Attempt ``attempt.attempt`` with the delivery's new status; False when that attempt
        is recorded already (or a later one is)."""
        sets, vals = self._base(delivery, event)
        sets += ", attempts = list_append(if_not_exists(attempts, :none), :a), #st = :st"
        vals.update(a=[attempt.model_dump(mode="json", exclude_none=True)], st=status.value, none=[])
        condition, extra = _next_attempt_condition(attempt.attempt)
        vals.update(extra)
        remove = ""
        if next_retry_at:
            sets += ", next_retry_at = :next"
            vals["next"] = next_retry_at
        else:
            remove = " REMOVE next_retry_at"
        return self._update(delivery, "SET " + sets + remove, condition, vals)

    def _base(self, delivery: Delivery, event: Event) -> tuple[str, dict[str, Any]]:
        """What every write of a delivery's row sets where it is not yet set."""
        fields = {
            "webhook_id": delivery.webhook_id,
            "account_id": delivery.account_id,
            "event_id": delivery.event_id,
            "event_type": delivery.event_type.value,
            "created_at": delivery.created_at,
            "event": event.model_dump_json(),
            "expires_at": int(datetime.fromisoformat(delivery.created_at).timestamp())
            + self._retention_seconds,
        }
        if delivery.redelivery_of:
            fields["redelivery_of"] = delivery.redelivery_of
        sets = ", ".join(f"{name} = if_not_exists({name}, :{name})" for name in fields)
        return sets, dict(fields)

    def _update(
        self, delivery: Delivery, expression: str, condition: str, vals: dict[str, Any], *, names: bool = True
    ) -> bool:
        kwargs: dict[str, Any] = {"ExpressionAttributeNames": {"#st": "status"}} if names else {}
        try:
            self._db.update_item(
                TableName=self._table,
                Key=self._key(delivery.webhook_id, delivery.id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=values(**vals),
                **kwargs,
            )
        except Exception as exc:
            if is_condition_failure(exc):
                return False
            raise
        return True

    def page(self, webhook_id: str, *, limit: int, cursor: str | None = None) -> Page[Delivery]:
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :d)",
            "ExpressionAttributeValues": values(pk=keys.webhook_pk(webhook_id), d=keys.DELIVERY_PREFIX),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            sk = sort_key_cursor(cursor, keys.DELIVERY_PREFIX)
            kwargs["ExclusiveStartKey"] = serialize({"pk": keys.webhook_pk(webhook_id), "sk": sk})
        resp = self._db.query(**kwargs)
        deliveries = [_delivery(deserialize(item)) for item in resp.get("Items", [])]
        last = resp.get("LastEvaluatedKey")
        return Page(items=deliveries, next_cursor=encode_cursor(last, ("sk",)) if last else None)


def _next_attempt_condition(attempt: int) -> tuple[str, dict[str, Any]]:
    """Attempt ``attempt`` is the next to record: none recorded yet, or ``attempt − 1``."""
    if attempt == 1:
        return "attribute_not_exists(attempts)", {}
    return "size(attempts) = :before", {"before": attempt - 1}


def _delivery(item: dict[str, Any]) -> Delivery:
    return Delivery(
        id=str(item["sk"]).removeprefix(keys.DELIVERY_PREFIX),
        webhook_id=item["webhook_id"],
        account_id=item["account_id"],
        event_id=item["event_id"],
        event_type=item["event_type"],
        created_at=item["created_at"],
        status=item.get("status", DeliveryStatus.PENDING.value),
        attempts=[DeliveryAttempt.model_validate(a) for a in item.get("attempts", [])],
        next_retry_at=item.get("next_retry_at"),
        claimed_attempt=int(item.get("claimed_attempt") or 0),
        redelivery_of=item.get("redelivery_of"),
    )
