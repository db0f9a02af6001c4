"""Fixtures the integration modules share. ``ctx`` is a context on the module's offline stack,
built by ``tests.helpers.make_context``; a module whose tests need another clock, other settings
or another executions adapter overrides the fixture of that name (pytest lets a module redefine
a fixture), and says why."""

from __future__ import annotations

from typing import Any

import pytest

from batchcalls.services.context import Context
from batchcalls.store.executions import ExecutionStore
from local.stack import OfflineStack
from tests.helpers import Clock, make_context


@pytest.fixture
def clock() -> Clock | None:
    """The context's clock: None is the system's; a module that sets the time returns a Clock."""
    return None


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Settings of this module's context that differ from the stack's."""
    return {}


@pytest.fixture
def executions() -> ExecutionStore | None:
    """The context's executions adapter: None is make_context's ExecutionsSpy."""
    return None


@pytest.fixture
def ctx(
    quiet_stack: OfflineStack,
    clock: Clock | None,
    settings_overrides: dict[str, Any],
    executions: ExecutionStore | None,
) -> Context:
    return make_context(clock=clock, executions=executions, **settings_overrides)


@pytest.fixture(scope="module")
def importer_stopped(quiet_stack: OfflineStack) -> OfflineStack:
    """The module's stack without its importer, for tests that run the import themselves (the
    stack's would race them)."""
    quiet_stack.stop_poller("ImporterFunction")
    return quiet_stack
