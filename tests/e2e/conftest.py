from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from batchcalls.models.domain import Account, CallerNumber
from batchcalls.services.auth import hash_api_key
from batchcalls.services.context import get_context
from local.stack import OfflineStack, StackOptions

OTHER_KEY = "other-account-key"


class Client:
    def __init__(self, base: str, key: str | None) -> None:
        self.base = base
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def action(self, action: str, **params: Any) -> requests.Response:
        return self.session.post(f"{self.base}/batch-calls", json={"action": action, **params}, timeout=30)

    def get(self, batch_id: str) -> dict[str, Any]:
        resp = self.action("get", batch_id=batch_id)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())

    def create(self, **body: Any) -> dict[str, Any]:
        """The create action's answer (``{"batch": …}``), which must be a 200."""
        resp = self.session.post(f"{self.base}/batch-calls", json={"action": "create", **body}, timeout=30)
        assert resp.status_code == 200, resp.text
        return dict(resp.json())


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    """The offline stack a module's tests run on; a module that needs other timings overrides it."""
    return StackOptions(
        port=0,
        tick_seconds=1,
        sim_env={"LOCAL_SIM_RING_SECONDS": "0.3", "LOCAL_SIM_TALK_SECONDS": "0.6"},
        # Calls last about a second here: a final status that never arrives is reconciled with
        # the provider after 30 s (the lost-call path) instead of the production hour.
        extra_env={"dial_task_timeout_override_seconds": "30", "next_pass_delay_seconds": "2"},
        demo_calls_per_second=100,  # pacing has its own test; these dial hundreds of numbers
    )


@pytest.fixture(scope="module")
def stack(stack_options: StackOptions) -> Iterator[OfflineStack]:
    """The module's stack, with a second account (``OTHER_KEY``) beside the demo one."""
    with OfflineStack(stack_options) as running:
        accounts = get_context().accounts
        accounts.put_account(Account(id="other-account", name="Other"))
        accounts.put_api_key(hash_api_key(OTHER_KEY), "other-account")
        accounts.put_caller_number("other-account", CallerNumber(phone_number="+16045550000", agent_id="a2"))
        yield running


@pytest.fixture
def client(stack: OfflineStack) -> Client:
    return Client(stack.api.url, stack.options.api_key)


@pytest.fixture
def other(stack: OfflineStack) -> Client:
    return Client(stack.api.url, OTHER_KEY)


@pytest.fixture
def anonymous(stack: OfflineStack) -> Client:
    return Client(stack.api.url, None)
