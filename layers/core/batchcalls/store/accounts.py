"""Accounts, their API keys and caller IDs."""

from __future__ import annotations

from typing import Any

from batchcalls.models.domain import Account, CallerNumber
from batchcalls.store import keys
from batchcalls.store.dynamo import deserialize, serialize


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
        item = self._get(keys.api_key_pk(key_hash), "APIKEY")
        if not item or item.get("revoked"):
            return None
        return str(item["account_id"])

    def get_account(self, account_id: str) -> Account | None:
        item = self._get(keys.account_pk(account_id), keys.PROFILE)
        if not item:
            return None
        return Account(
            id=account_id,
            name=item.get("name", ""),
            timezone=item.get("timezone"),
            max_concurrency=item.get("max_concurrency", 20),
            per_minute_rate_micros=item.get("per_minute_rate_micros", 0),
        )

    def get_caller_number(self, account_id: str, e164: str) -> CallerNumber | None:
        item = self._get(keys.account_pk(account_id), keys.number_sk(e164))
        if not item:
            return None
        return CallerNumber(
            phone_number=e164, active=bool(item.get("active", True)), agent_id=item.get("agent_id")
        )

    # -- operator writes (seeding, admin) -------------------------------------------------

    def put_account(self, account: Account) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=serialize(
                {
                    "pk": keys.account_pk(account.id),
                    "sk": keys.PROFILE,
                    "name": account.name,
                    "timezone": account.timezone,
                    "max_concurrency": account.max_concurrency,
                    "per_minute_rate_micros": account.per_minute_rate_micros,
                }
            ),
        )

    def put_api_key(self, key_hash: str, account_id: str, label: str = "") -> None:
        self._db.put_item(
            TableName=self._table,
            Item=serialize(
                {
                    "pk": keys.api_key_pk(key_hash),
                    "sk": "APIKEY",
                    "account_id": account_id,
                    "label": label,
                }
            ),
        )

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

    def put_credits(self, account_id: str, balance_micros: int) -> None:
        self._db.put_item(
            TableName=self._table,
            Item=serialize(
                {
                    "pk": keys.account_pk(account_id),
                    "sk": keys.CREDITS,
                    "balance_micros": balance_micros,
                }
            ),
        )
