"""The seeded demo account that makes the README's curl work verbatim."""

from __future__ import annotations

from dataclasses import dataclass

from batchcalls.models.domain import Account, Agent, CallerNumber
from batchcalls.services.account import add_credits
from batchcalls.services.auth import hash_api_key
from batchcalls.services.context import get_context

DEMO_ACCOUNT_ID = "a1b2c3d4-0000-4000-8000-000000000001"
DEMO_CALLER_ID = "+16045551234"
DEMO_AGENT_ID = "agent-demo"
DEMO_CREDITS_MICROS = 100_000_000  # $100


@dataclass
class DemoAccount:
    account_id: str
    api_key: str
    caller_id: str
    agent_id: str


DEMO_RATE_MICROS = 10_000  # $0.01 per started minute


def seed_demo(api_key: str, calls_per_second: float = 1.0) -> DemoAccount:
    accounts = get_context().accounts
    accounts.put_account(
        Account(
            id=DEMO_ACCOUNT_ID,
            name="Demo",
            timezone=None,
            max_concurrency=20,
            per_minute_rate_micros=DEMO_RATE_MICROS,
            calls_per_second=calls_per_second,
        )
    )
    accounts.put_api_key(hash_api_key(api_key), DEMO_ACCOUNT_ID, label="local demo key")
    get_context().agents.put_agent(
        DEMO_ACCOUNT_ID,
        Agent(id=DEMO_AGENT_ID, name="Demo agent", description="answers the demo account's calls"),
        caller_ids=[DEMO_CALLER_ID],
    )
    accounts.put_caller_number(
        DEMO_ACCOUNT_ID, CallerNumber(phone_number=DEMO_CALLER_ID, active=True, agent_id=DEMO_AGENT_ID)
    )
    # Through the ledger, like any top-up: the balance always equals the sum of its entries.
    add_credits(get_context(), DEMO_ACCOUNT_ID, DEMO_CREDITS_MICROS, ref="demo-opening", note="demo account")
    return DemoAccount(DEMO_ACCOUNT_ID, api_key, DEMO_CALLER_ID, DEMO_AGENT_ID)
