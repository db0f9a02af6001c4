"""Agents belong to an account: create and update name only the account's own, one validation
against the account serves both, the account lists them, caller IDs and agents cannot race into
a caller ID naming a removed agent, and the URL an answered call fetches is signed (moto)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from batchcalls.config import get_settings
from batchcalls.domain.agent_url import AgentUrlRejected, agent_key, verify
from batchcalls.domain.errors import InvalidRequest
from batchcalls.models.api import UpdateBatchRequest
from batchcalls.models.domain import Account, Agent
from batchcalls.models.messages import DialMessage
from batchcalls.services import account as account_service
from batchcalls.services.context import Context
from batchcalls.services.dial import dial
from batchcalls.services.lifecycle import update
from batchcalls.store.agents import AgentInUse, UnknownAgent
from local.stack import LOCAL_SECRETS
from tests.helpers import create_from_request, make_context, set_batch_fields

CALLER = "+16045557000"


def new_account(ctx: Context, agent_id: str = "agent-main", max_concurrency: int = 10) -> str:
    """An account with one agent and a caller ID pointed at it (as the operator would make it)."""
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    ctx.accounts.put_account(Account(id=account_id, max_concurrency=max_concurrency, calls_per_second=1000))
    assert ctx.agents.add_agent(account_id, Agent(id=agent_id, name="Main"))
    ctx.agents.point_caller_id(account_id, CALLER, agent_id)
    return account_id


def create(ctx: Context, account_id: str, **fields: Any) -> str:
    return create_from_request(
        ctx, account_id, **{"name": "agents", "caller_id": CALLER, "status": "draft", **fields}
    ).id


def refused(call: Any, field: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        call()
    assert caught.value.message.startswith(field), caught.value.message
    assert field in [e["field"] for e in caught.value.errors]
    return caught.value


def updating(ctx: Context, account_id: str, batch_id: str, **fields: Any) -> Any:
    return lambda: update(
        ctx,
        account_id,
        UpdateBatchRequest.model_validate({"action": "update", "batch_id": batch_id, **fields}),
    )


def test_a_batch_names_only_an_agent_of_its_own_account(ctx: Context) -> None:
    account_a = new_account(ctx, "agent-a")
    account_b = new_account(ctx, "agent-b")
    error = refused(lambda: create(ctx, account_a, agent_id="agent-b"), "agent_id")
    assert "'agent-b' is not an agent of this account" in error.message
    refused(lambda: create(ctx, account_a, agent_id="never-added"), "agent_id")

    own = ctx.batches.get(create(ctx, account_a, agent_id="agent-a"))
    assert own is not None and own.agent_id == "agent-a"
    by_caller = ctx.batches.get(create(ctx, account_b))  # no agent_id: the caller ID's
    assert by_caller is not None and by_caller.agent_id == "agent-b"


def test_every_problem_against_the_account_comes_in_one_answer(ctx: Context) -> None:
    account_id = new_account(ctx, max_concurrency=5)
    error = refused(
        lambda: create(ctx, account_id, caller_id="+16045550001", agent_id="nope", reserved_concurrency=5),
        "caller_id",
    )
    assert [e["field"] for e in error.errors] == ["caller_id", "agent_id", "reserved_concurrency"]


def test_update_checks_what_create_checks(ctx: Context) -> None:
    account_id = new_account(ctx, "agent-a", max_concurrency=5)
    other = new_account(ctx, "agent-other")
    batch_id = create(ctx, account_id, reserved_concurrency=2)

    # The regression: update took a reserve create refuses (the account's whole max_concurrency).
    error = refused(updating(ctx, account_id, batch_id, reserved_concurrency=5), "reserved_concurrency")
    assert "below the account's max_concurrency (5)" in error.message
    refused(updating(ctx, account_id, batch_id, agent_id="agent-other"), "agent_id")  # another account's
    refused(updating(ctx, account_id, batch_id, agent_id="unknown"), "agent_id")
    refused(updating(ctx, account_id, batch_id, caller_id="+16045550001"), "caller_id")
    refused(updating(ctx, account_id, batch_id, name=None), "name")  # not a 500 from a null
    refused(updating(ctx, account_id, batch_id, caller_id=None), "caller_id")
    unchanged = ctx.batches.get(batch_id)
    assert unchanged is not None and (unchanged.reserved_concurrency, unchanged.agent_id) == (2, "agent-a")
    assert other  # its agent exists, and still is not this account's

    assert ctx.agents.add_agent(account_id, Agent(id="agent-b"))
    changed = updating(ctx, account_id, batch_id, reserved_concurrency=4, agent_id="agent-b", purpose="x")()
    assert (changed.reserved_concurrency, changed.agent_id, changed.purpose) == (4, "agent-b", "x")
    # null: back to the caller ID's agent; an optional field's null removes it.
    changed = updating(ctx, account_id, batch_id, agent_id=None, purpose=None)()
    assert (changed.agent_id, changed.purpose) == ("agent-a", None)


def test_the_account_lists_its_agents(ctx: Context) -> None:
    account_id = new_account(ctx, "agent-a")
    assert ctx.agents.add_agent(account_id, Agent(id="agent-b", name="B", description="the second"))
    view = account_service.account_view(ctx, account_id)
    assert [(a.id, a.name, a.description) for a in view.agents] == [
        ("agent-a", "Main", None),
        ("agent-b", "B", "the second"),
    ]
    assert [n.model_dump() for n in view.caller_ids] == [
        {"phone_number": CALLER, "active": True, "agent_id": "agent-a"}
    ]


def test_caller_ids_and_agents_cannot_leave_a_caller_id_naming_a_removed_agent(ctx: Context) -> None:
    account_id = new_account(ctx, "agent-a")
    with pytest.raises(UnknownAgent):
        ctx.agents.point_caller_id(account_id, "+16045557001", "agent-x")
    assert ctx.accounts.get_caller_number(account_id, "+16045557001") is None  # nothing written

    with pytest.raises(AgentInUse) as in_use:
        ctx.agents.remove_agent(account_id, "agent-a")
    assert in_use.value.caller_ids == [CALLER]

    assert ctx.agents.add_agent(account_id, Agent(id="agent-b"))
    number, existed = ctx.agents.point_caller_id(account_id, CALLER, "agent-b")
    assert existed and number.agent_id == "agent-b"
    removed = ctx.agents.remove_agent(account_id, "agent-a")  # no caller ID names it now
    assert removed is not None and removed.id == "agent-a"
    assert ctx.agents.remove_agent(account_id, "agent-a") is None
    with pytest.raises(AgentInUse):
        ctx.agents.remove_agent(account_id, "agent-b")

    # The guard itself: the agent's record of its caller IDs refuses a delete even when the
    # caller ID query saw none (a caller ID pointed at it between the query and the delete).
    ctx.accounts.put_caller_number(
        account_id,
        ctx.accounts.get_caller_number(account_id, CALLER).model_copy(update={"agent_id": "legacy"}),  # type: ignore[union-attr]
    )
    with pytest.raises(AgentInUse):
        ctx.agents.remove_agent(account_id, "agent-b")


def test_the_url_an_answered_call_fetches_is_signed(ctx: Context) -> None:
    account_id = new_account(ctx, "agent-a")
    account_service.add_credits(ctx, account_id, 1_000_000, ref="opening")
    batch_id = create(ctx, account_id)
    set_batch_fields(ctx, batch_id, status="running", run_number=1, pass_number=1)
    message = DialMessage(
        batch_id=batch_id, run=1, pass_number=1, recipient_key="R#0000001", task_token="tok"
    )
    assert dial(ctx, message) == "dialed"

    [placed] = ctx.provider.placed  # type: ignore[attr-defined]
    assert placed.twiml_url.startswith(get_settings().agent_twiml_url.replace("{agent_id}", "agent-a"))
    # Signed with the stack's secret, read from Secrets Manager (the template's, offline).
    assert ctx.agent_url_secret == LOCAL_SECRETS["AgentUrlSecret"]
    now = ctx.clock().timestamp()
    key = agent_key(ctx.agent_url_secret, account_id, "agent-a")  # what the agent service holds
    call = verify(placed.twiml_url, key, now=now)
    assert (call.account_id, call.agent_id, call.batch_id, call.recipient_key) == (
        account_id,
        "agent-a",
        batch_id,
        "R#0000001",
    )
    assert call.expires == pytest.approx(now + get_settings().agent_url_expires_seconds, abs=5)
    with pytest.raises(AgentUrlRejected):
        verify(placed.twiml_url.replace(account_id, "acct-other"), key, now=now)
    with pytest.raises(AgentUrlRejected, match="expired"):
        verify(placed.twiml_url, key, now=call.expires + 1)


def test_without_its_secret_a_dial_fails_before_taking_a_slot_or_a_fee(ctx: Context) -> None:
    account_id = new_account(ctx, "agent-a")
    account_service.add_credits(ctx, account_id, 1_000_000, ref="opening")
    batch_id = create(ctx, account_id)
    set_batch_fields(ctx, batch_id, status="running", run_number=1, pass_number=1)
    unsigned = make_context(agent_url_secret="", agent_url_secret_arn="")
    message = DialMessage(
        batch_id=batch_id, run=1, pass_number=1, recipient_key="R#0000001", task_token="tok"
    )
    with pytest.raises(RuntimeError, match="AGENT_URL_SECRET"):
        dial(unsigned, message)
    recipient = ctx.recipients.get(batch_id, "R#0000001")
    assert recipient is not None and recipient.status.value == "pending"
    assert ctx.credits.balance(account_id) == 1_000_000 and not ctx.slots.holders(account_id)
    assert dial(ctx, message) == "dialed"  # the redelivery, with the secret
