"""Explicit mapping between domain entities and DynamoDB items."""

from __future__ import annotations

from typing import Any

from batchcalls.models.domain import Agent, Batch, LedgerEntry, Recipient
from batchcalls.models.events import Webhook
from batchcalls.store import keys

# Item attributes that are keys or index keys, never domain fields.
_BATCH_KEY_ATTRS = {"pk", "sk", "gsi1pk", "gsi1sk", "due_shard"}
_RECIPIENT_KEY_ATTRS = {"pk", "sk", "due_shard", "due_at"}
# An agent item's guard: the caller IDs pointed at it (see store/agents.py), not a domain field.
AGENT_CALLER_IDS = "caller_ids"


# The owner is stored as "user_id", the attribute's name since the first release (items
# already written keep reading); inside the code it is the account id it holds.
_BATCH_OWNER_ATTR = "user_id"


def batch_to_item(batch: Batch) -> dict[str, Any]:
    item = batch.model_dump(mode="json", exclude_none=True)
    item[_BATCH_OWNER_ATTR] = item.pop("account_id")
    item["pk"] = keys.batch_pk(batch.id)
    item["sk"] = keys.BATCH_META
    # Always present; the item is in the sparse "due" index only while due_at is set.
    item["due_shard"] = keys.due_shard(batch.id)
    if batch.parent_batch_id:
        # Runs of a series are listed under their parent (by occurrence), not in the account's list.
        item["gsi1pk"] = keys.parent_gsi_pk(batch.parent_batch_id)
        item["gsi1sk"] = f"{batch.occurrence_number or 0:06d}"
    else:
        item["gsi1pk"] = keys.owner_gsi_pk(batch.account_id)
        item["gsi1sk"] = f"{batch.created_at}#{batch.id}"
    return item


def batch_from_item(item: dict[str, Any]) -> Batch:
    fields = {k: v for k, v in item.items() if k not in _BATCH_KEY_ATTRS and k != _BATCH_OWNER_ATTR}
    return Batch.model_validate({**fields, "account_id": item[_BATCH_OWNER_ATTR]})


def recipient_to_item(recipient: Recipient) -> dict[str, Any]:
    item = recipient.model_dump(mode="json", exclude_none=True)
    if not item.get("variables"):
        item.pop("variables", None)
    item["pk"] = keys.batch_pk(recipient.batch_id)
    item["sk"] = recipient.sk
    return item


def recipient_from_item(item: dict[str, Any]) -> Recipient:
    return Recipient.model_validate({k: v for k, v in item.items() if k not in _RECIPIENT_KEY_ATTRS})


def agent_to_item(account_id: str, agent: Agent) -> dict[str, Any]:
    item = agent.model_dump(exclude={"id"}, exclude_none=True)
    item["pk"] = keys.account_pk(account_id)
    item["sk"] = keys.agent_sk(agent.id)
    return item


def agent_from_item(item: dict[str, Any]) -> Agent:
    fields = {k: v for k, v in item.items() if k in Agent.model_fields}
    return Agent(id=str(item["sk"]).removeprefix(keys.AGENT_PREFIX), **fields)


# A ledger entry stores its recipient's key as "recipient_id", the attribute's first name.
_LEDGER_RECIPIENT_ATTR = "recipient_id"


def ledger_entry_to_item(entry: LedgerEntry) -> dict[str, Any]:
    """The entry's fields; the caller adds the account's keys."""
    item = entry.model_dump(exclude={"account_id"})
    item[_LEDGER_RECIPIENT_ATTR] = item.pop("recipient_key")
    return item


def ledger_entry_from_item(account_id: str, item: dict[str, Any]) -> LedgerEntry:
    fields = {k: v for k, v in item.items() if k not in ("pk", "sk", _LEDGER_RECIPIENT_ATTR)}
    return LedgerEntry(account_id=account_id, recipient_key=item.get(_LEDGER_RECIPIENT_ATTR), **fields)


_WEBHOOK_FIELDS = set(Webhook.model_fields) - {"id", "account_id"}


def webhook_from_item(item: dict[str, Any]) -> Webhook:
    fields = {k: v for k, v in item.items() if k in _WEBHOOK_FIELDS}
    return Webhook(
        id=str(item["sk"]).removeprefix(keys.WEBHOOK_PREFIX),
        account_id=str(item["pk"]).removeprefix("ACCOUNT#"),
        **fields,
    )
