"""The README's first experience: the reference create example, watched status by status."""

from __future__ import annotations

import time
from typing import Any

import pytest

from batchcalls.domain.recipient_status import RANK, RecipientStatus
from local.stack import StackOptions
from tests.e2e.conftest import Client
from tests.helpers import REFERENCE_EXAMPLE as EXAMPLE


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    # Slow enough calls that a poll sees every status even on a busy 2-core machine.
    return StackOptions(
        port=0, tick_seconds=1, sim_env={"LOCAL_SIM_RING_SECONDS": "1.5", "LOCAL_SIM_TALK_SECONDS": "1.5"}
    )


def test_reference_example_runs_to_completion(client: Client) -> None:
    batch = client.create(**EXAMPLE)["batch"]
    assert batch["status"] == "running"
    assert batch["total_recipients"] == 2
    assert {"id", "user_id", "caller_id", "completed_count", "failed_count", "created_at"} <= set(batch)

    seen: dict[str, list[str]] = {}
    deadline = time.monotonic() + 30
    view: dict[str, Any] = {}
    while time.monotonic() < deadline:
        view = client.get(batch["id"])
        for r in view["recipients"]:
            history = seen.setdefault(r["phone_number"], [])
            if not history or history[-1] != r["status"]:
                history.append(r["status"])
        if view["batch"]["status"] == "completed":
            break
        time.sleep(0.05)
    assert view["batch"]["status"] == "completed", view["batch"]
    assert view["batch"]["completed_count"] == 2 and view["batch"]["failed_count"] == 0
    assert view["batch"]["counts"]["completed"] == 2
    for history in seen.values():
        ranks = [RANK[RecipientStatus(s)] for s in history]
        assert ranks == sorted(ranks), history  # statuses only moved forward
        assert history[0] == "pending" and history[-1] == "completed"
        assert {"ringing", "in_progress"} <= set(history), history
    for r in view["recipients"]:
        assert r["call_id"].startswith("CA")
        assert r["attempts"] == 1
        assert r["answered_by"] == "human"
        assert r["duration_seconds"] >= 1
        assert r["attempted_at"] <= r["answered_at"] <= r["completed_at"]
        assert r["status_label"] == "Hungup"
