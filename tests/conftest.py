from __future__ import annotations

from collections.abc import Iterator

import pytest

from local.stack import OfflineStack, StackOptions


@pytest.fixture(scope="module")
def quiet_stack() -> Iterator[OfflineStack]:
    """The offline AWS resources (from template.yaml) with no schedule firing by itself."""
    stack = OfflineStack(StackOptions(port=0, tick_seconds=3600, demo_calls_per_second=1000)).start()
    try:
        yield stack
    finally:
        stack.stop()
