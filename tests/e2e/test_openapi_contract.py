"""schemathesis against the offline stack's own /openapi.json: no 5xx, no response that breaks
its own schema (a bounded number of generated cases per operation)."""

from __future__ import annotations

from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import positive_data_acceptance

from local.stack import OfflineStack, StackOptions

KEY = {"Authorization": "Bearer local-dev-key"}


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    # The document is the subject, not the engine: no scheduler ticks, short calls.
    return StackOptions(
        port=0, tick_seconds=3600, sim_env={"LOCAL_SIM_RING_SECONDS": "0.1", "LOCAL_SIM_TALK_SECONDS": "0.1"}
    )


def test_every_operation_keeps_its_contract(stack: OfflineStack) -> None:
    # The schemathesis pytest plugin does not load under pytest 9, so each operation's
    # strategy is run with hypothesis directly; the checks are schemathesis' defaults but
    # positive_data_acceptance: a schema cannot say "a dialable number" or "an active caller
    # ID of this account", so schema-valid bodies may rightly get a 400 naming the problem.
    schema = schemathesis.openapi.from_url(f"{stack.api.url}/openapi.json")
    operations = []
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), result.err()  # the document itself is broken
        operations.append(result.ok())
    assert len(operations) >= 5

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def keeps_contract(case: Any) -> None:
            case.call_and_validate(
                base_url=stack.api.url, headers=KEY, excluded_checks=[positive_data_acceptance]
            )

        keeps_contract()


def test_the_document_describes_every_action(stack: OfflineStack) -> None:
    doc = requests.get(f"{stack.api.url}/openapi.json", timeout=10).json()
    body = doc["paths"]["/batch-calls"]["post"]["requestBody"]["content"]["application/json"]
    mapping = body["schema"]["discriminator"]["mapping"]
    assert set(mapping) == {
        "create",
        "preview",
        "get",
        "list",
        "list_runs",
        "update",
        "start",
        "cancel",
        "pause",
        "resume",
        "pause_series",
        "resume_series",
    }
    assert {"create", "get", "start", "cancel"} <= set(body["examples"])
    responses = doc["paths"]["/batch-calls"]["post"]["responses"]
    assert {"200", "400", "401", "404", "409"} <= set(responses)
