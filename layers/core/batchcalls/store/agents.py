"""An account's voice agents (``ACCOUNT#{uid} / AGENT#{id}``) and the caller IDs pointed at them.

Each agent item keeps the set of caller IDs pointed at it (``caller_ids``), written in the
same transaction as the caller ID: pointing a caller ID at an agent requires the agent to exist,
and removing an agent requires the set to be empty, so the two cannot race into a caller ID
that names a removed agent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from batchcalls.models.domain import Agent, CallerNumber
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
from batchcalls.store.mapping import AGENT_CALLER_IDS, agent_from_item, agent_to_item

# Re-reads of a caller ID that changed between the read and the write before giving up.
POINT_ATTEMPTS = 5


class UnknownAgent(Exception):
    """The account has no agent with this id."""


class AgentInUse(Exception):
    """Caller IDs still answer with the agent."""

    def __init__(self, caller_ids: Iterable[str]) -> None:
        self.caller_ids = sorted(caller_ids)
        super().__init__(f"caller IDs {', '.join(self.caller_ids)} still name this agent")


class CallerIdChangedMeanwhile(Exception):
    """The caller ID kept changing while we pointed it at an agent."""


class AgentStore:
    def __init__(self, client: Any, table: str) -> None:
        self._db = client
        self._table = table

    def _key(self, account_id: str, sk: str) -> dict[str, Any]:
        return serialize({"pk": keys.account_pk(account_id), "sk": sk})

    def _get(self, account_id: str, sk: str) -> dict[str, Any] | None:
        resp = self._db.get_item(TableName=self._table, Key=self._key(account_id, sk), ConsistentRead=True)
        item = resp.get("Item")
        return deserialize(item) if item else None

    def get_agent(self, account_id: str, agent_id: str) -> Agent | None:
        item = self._get(account_id, keys.agent_sk(agent_id))
        return agent_from_item(item) if item else None

    def agents(self, account_id: str) -> list[Agent]:
        """The account's agents, by id."""
        return [agent_from_item(item) for item in self._query(account_id, keys.AGENT_PREFIX)]

    def _query(self, account_id: str, prefix: str) -> list[dict[str, Any]]:
        return list(
            query_all(
                self._db,
                TableName=self._table,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                ExpressionAttributeValues=values(pk=keys.account_pk(account_id), p=prefix),
                ConsistentRead=True,
            )
        )

    def add_agent(self, account_id: str, agent: Agent) -> bool:
        """A new agent; False (and nothing written) when the account has one with this id."""
        try:
            self._db.put_item(
                TableName=self._table,
                Item=serialize(agent_to_item(account_id, agent)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            return False
        return True

    def put_agent(self, account_id: str, agent: Agent, caller_ids: Iterable[str] = ()) -> None:
        """Write the agent as given, with the caller IDs pointed at it (seeding)."""
        item = agent_to_item(account_id, agent)
        if numbers := set(caller_ids):
            item[AGENT_CALLER_IDS] = numbers
        self._db.put_item(TableName=self._table, Item=serialize(item))

    def remove_agent(self, account_id: str, agent_id: str) -> Agent | None:
        """Remove the agent; None when there is none, :class:`AgentInUse` while a caller ID
        names it (pointed at it here, or written before agents were recorded)."""
        naming = [
            str(item["sk"]).removeprefix(keys.NUMBER_PREFIX)
            for item in self._query(account_id, keys.NUMBER_PREFIX)
            if item.get("agent_id") == agent_id
        ]
        if naming:
            raise AgentInUse(naming)
        try:
            resp = self._db.delete_item(
                TableName=self._table,
                Key=self._key(account_id, keys.agent_sk(agent_id)),
                # An emptied set is removed by DynamoDB; size() also covers an emulator keeping it.
                ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(#c) OR size(#c) = :zero)",
                ExpressionAttributeNames={"#c": AGENT_CALLER_IDS},
                ExpressionAttributeValues=values(zero=0),
                ReturnValues="ALL_OLD",
            )
        except Exception as exc:
            if not is_condition_failure(exc):
                raise
            item = self._get(account_id, keys.agent_sk(agent_id))
            if item is None:
                return None
            raise AgentInUse(item.get(AGENT_CALLER_IDS) or []) from exc
        return agent_from_item(deserialize(resp["Attributes"]))

    def point_caller_id(self, account_id: str, e164: str, agent_id: str) -> tuple[CallerNumber, bool]:
        """Register a caller ID with one of the account's agents, or point an existing one at
        another (its active flag is kept: a deactivated number stays off). Returns the number and
        whether it existed before; :class:`UnknownAgent` when the account has no such agent."""
        for _ in range(POINT_ATTEMPTS):
            before = self._get(account_id, keys.number_sk(e164))
            try:
                transact_write(self._db, self._pointing_items(account_id, e164, agent_id, before))
            except Exception as exc:
                reasons = transaction_cancel_reasons(exc)
                if "ConditionalCheckFailed" not in reasons:
                    raise
                if reasons[1] == "ConditionalCheckFailed":
                    raise UnknownAgent(agent_id) from exc
                continue  # the number (or its old agent) changed since we read it
            active = bool(before.get("active", True)) if before else True
            return CallerNumber(phone_number=e164, active=active, agent_id=agent_id), before is not None
        raise CallerIdChangedMeanwhile(e164)

    def _pointing_items(
        self, account_id: str, e164: str, agent_id: str, before: dict[str, Any] | None
    ) -> list[dict[str, Any]]:
        """The number's write (conditioned on what ``before`` saw), the new agent's record of it
        (conditioned on the agent existing) and, when it moves, the old agent's."""
        old_agent = before.get("agent_id") if before else None
        if before is None:
            seen = {"ConditionExpression": "attribute_not_exists(pk)"}
        elif old_agent is None:
            seen = {"ConditionExpression": "attribute_not_exists(agent_id)"}
        else:
            seen = {"ConditionExpression": "agent_id = :old"}
        number_values = {"a": agent_id, "t": True, **({"old": old_agent} if old_agent else {})}
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": self._key(account_id, keys.number_sk(e164)),
                    "UpdateExpression": "SET agent_id = :a, active = if_not_exists(active, :t)",
                    "ExpressionAttributeValues": values(**number_values),
                    **seen,
                }
            },
            self._caller_ids_change(account_id, agent_id, "ADD", e164),
        ]
        # An old agent that is not recorded (a caller ID from before agents were) has no set.
        if old_agent and old_agent != agent_id and self._get(account_id, keys.agent_sk(old_agent)):
            items.append(self._caller_ids_change(account_id, old_agent, "DELETE", e164))
        return items

    def _caller_ids_change(self, account_id: str, agent_id: str, verb: str, e164: str) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": self._key(account_id, keys.agent_sk(agent_id)),
                "UpdateExpression": f"{verb} #c :n",
                "ConditionExpression": "attribute_exists(pk)",
                "ExpressionAttributeNames": {"#c": AGENT_CALLER_IDS},
                "ExpressionAttributeValues": values(n={e164}),
            }
        }
