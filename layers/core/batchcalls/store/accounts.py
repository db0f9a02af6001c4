"""Accounts, their API keys and caller IDs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from batchcalls.models.domain import Account, CallerNumber
from batchcalls.store import keys
from batchcalls.store.dynamo import (
    deserialize,
    is_condition_failure,
    query_all,
    serialize,
    transact_write,
    transaction_cancel_reasons,
    values,
)


@dataclass(frozen=True)
class ApiKeyRecord:
    """What the table knows of an API key: never the key itself, only its SHA-256."""

    key_hash: str
    account_id: str
    label: str = ""
    created_at: str | None = None
    revoked: bool = False
    revoked_at: str | None = None

    @classmethod
    def from_item(cls, key_hash: str, item: Mapping[str, Any]) -> ApiKeyRecord:
        return cls(
            key_hash=key_hash,
            account_id=str(item["account_id"]),
            label=str(item.get("label") or ""),
            created_at=item.get("created_at"),
            revoked=bool(item.get("revoked", False)),
            revoked_at=item.get("revoked_at"),
        )


def _dynamo_number(value: Any) -> Any:
    # DynamoDB numbers are decimals; the SDK refuses floats.
    return Decimal(str(value)) if isinstance(value, float) else value


class AccountStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _get(self, pk: str, sk: str, consistent: bool = False) -> dict[str, Any] | None:
        resp = self._db.get_item(
            TableName=self._table, Key=serialize({"pk": pk, "sk": sk}), ConsistentRead=consistent
        )
        item = resp.get("Item")
        return deserialize(item) if item else None

    def account_id_for_key(self, key_hash: str) -> str | None:
        item = self._get(keys.api_key_pk(key_hash), "APIKEY", consistent=True)  # a revoke counts at once
        if not item or item.get("revoked"):
            return None
        return str(item["account_id"])

    def get_account(self, account_id: str) -> Account | None:
        item = self._get(keys.account_pk(account_id), keys.PROFILE)
        if not item:
            return None
        return _account(account_id, item)

    def get_caller_number(self, account_id: str, e164: str) -> CallerNumber | None:
        item = self._get(keys.account_pk(account_id), keys.number_sk(e164))
        return _caller_number(e164, item) if item else None

    def caller_numbers(self, account_id: str) -> list[CallerNumber]:
        return [
            _caller_number(str(item["sk"]).removeprefix("NUMBER#"), item)
            for item in query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :n)",
                ExpressionAttributeValues=values(pk=keys.account_pk(account_id), n="NUMBER#"),
            )
        ]

    # -- operator writes (seeding, admin) -------------------------------------------------

    def _profile_item(self, account: Account) -> dict[str, Any]:
        return serialize(
            {
                "pk": keys.account_pk(account.id),
                "sk": keys.PROFILE,
                **{k: _dynamo_number(v) for k, v in account.model_dump(exclude={"id"}).items()},
            }
        )

    def put_account(self, account: Account) -> None:
        self._db.put_item(TableName=self._table, Item=self._profile_item(account))

    def create_account(self, account: Account) -> bool:
        """Write a new account's profile; False (and nothing written) when the id is taken."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=self._profile_item(account),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            return False
        return True

    def update_account(
        self, account_id: str, fields: Mapping[str, Any], remove: Sequence[str] = ()
    ) -> Account | None:
        """Set (or remove) profile fields of an existing account; None when there is none."""
        unknown = (set(fields) | set(remove)) - (set(Account.model_fields) - {"id"})
        if unknown:
            raise ValueError(f"not account fields: {sorted(unknown)}")
        names = {f"#f{i}": name for i, name in enumerate([*fields, *remove])}
        by_name = {name: alias for alias, name in names.items()}
        clauses = []
        if fields:
            clauses.append("SET " + ", ".join(f"{by_name[n]} = :v{i}" for i, n in enumerate(fields)))
        if remove:
            clauses.append("REMOVE " + ", ".join(by_name[n] for n in remove))
        kwargs: dict[str, Any] = {
            "TableName": self._table,
            "Key": serialize({"pk": keys.account_pk(account_id), "sk": keys.PROFILE}),
            "UpdateExpression": " ".join(clauses),
            "ConditionExpression": "attribute_exists(pk)",
            "ExpressionAttributeNames": names,
            "ReturnValues": "ALL_NEW",
        }
        if fields:
            kwargs["ExpressionAttributeValues"] = values(
                **{f"v{i}": _dynamo_number(v) for i, v in enumerate(fields.values())}
            )
        try:
            resp = self._db.update_item(**kwargs)
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            return None
        return _account(account_id, deserialize(resp["Attributes"]))

    def put_api_key(
        self,
        key_hash: str,
        account_id: str,
        label: str = "",
        created_at: str | None = None,
        *,
        new: bool = False,
    ) -> bool:
        """Store a key's hash (what the authorizer looks up) and the account's record of it, in
        one transaction. ``new``: only if neither exists yet (False, nothing written, if so)."""
        record = {"account_id": account_id, "label": label, "created_at": created_at}
        condition = {"ConditionExpression": "attribute_not_exists(pk)"} if new else {}
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize({"pk": keys.api_key_pk(key_hash), "sk": "APIKEY", **record}),
                    **condition,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": serialize(
                        {"pk": keys.account_pk(account_id), "sk": keys.account_key_sk(key_hash), **record}
                    ),
                    **condition,
                }
            },
        ]
        try:
            transact_write(self._db, items)
        except Exception as exc:
            if "ConditionalCheckFailed" not in transaction_cancel_reasons(exc):
                raise
            return False
        return True

    def api_keys(self, account_id: str) -> list[ApiKeyRecord]:
        """The account's keys (issued since keys were recorded under the account)."""
        return [
            ApiKeyRecord.from_item(str(item["sk"]).removeprefix(keys.ACCOUNT_KEY_PREFIX), item)
            for item in query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :k)",
                ExpressionAttributeValues=values(pk=keys.account_pk(account_id), k=keys.ACCOUNT_KEY_PREFIX),
                ConsistentRead=True,
            )
        ]

    def revoke_api_key(self, key_hash: str, at: str) -> ApiKeyRecord | None:
        """Mark the key revoked (the authorizer then refuses it); revoking twice keeps the first
        time. None when there is no such key."""
        update = {
            "UpdateExpression": "SET revoked = :t, revoked_at = if_not_exists(revoked_at, :at)",
            "ExpressionAttributeValues": values(t=True, at=at),
            "ReturnValues": "ALL_NEW",
        }
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key=serialize({"pk": keys.api_key_pk(key_hash), "sk": "APIKEY"}),
                ConditionExpression="attribute_exists(pk)",
                **update,
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            return None
        record = ApiKeyRecord.from_item(key_hash, deserialize(resp["Attributes"]))
        try:  # the account's record of it (absent for keys stored before there was one)
            self._db.update_item(
                TableName=self._table,
                Key=serialize(
                    {"pk": keys.account_pk(record.account_id), "sk": keys.account_key_sk(key_hash)}
                ),
                ConditionExpression="attribute_exists(pk)",
                # The key's own revoked_at, so a retry after a failure here writes the same time.
                **{**update, "ExpressionAttributeValues": values(t=True, at=record.revoked_at)},
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
        return record

    def put_caller_number(self, account_id: str, number: CallerNumber) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=serialize(
                {
                    "pk": keys.account_pk(account_id),
                    "sk": keys.number_sk(number.phone_number),
                    "active": number.active,
                    "agent_id": number.agent_id,
                }
            ),
        )

    def set_caller_number_active(self, account_id: str, e164: str, active: bool) -> CallerNumber | None:
        """Activate or deactivate an existing caller ID; None when the account has no such number."""
        try:
            resp = self._db.update_item(
                TableName=self._table,
                Key=serialize({"pk": keys.account_pk(account_id), "sk": keys.number_sk(e164)}),
                UpdateExpression="SET active = :a",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=values(a=active),
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            return None
        return _caller_number(e164, deserialize(resp["Attributes"]))


def _account(account_id: str, item: dict[str, Any]) -> Account:
    return Account(
        id=account_id, **{k: v for k, v in item.items() if k in Account.model_fields and k != "id"}
    )


def _caller_number(e164: str, item: dict[str, Any]) -> CallerNumber:
    return CallerNumber(
        phone_number=e164, active=bool(item.get("active", True)), agent_id=item.get("agent_id")
    )
