"""What an operator reads: each function's JSON log lines in its own file (as CloudWatch keeps
a log group per function), with the batch's id on its lines, and EMF metrics that add up."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.stack import OfflineStack, StackOptions
from tests.e2e.conftest import Client
from tests.helpers import wait_for

# Last digit → the simulator's outcome: 1, 2, 3 answered by a person, 5 by a machine, 7 busy,
# 8 unanswered, 9 a carrier failure.
NUMBERS = [
    "+14155552001",
    "+14155552002",
    "+14155552003",
    "+14155552005",
    "+14155552007",
    "+14155552008",
    "+14155552009",
]


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="module")
def stack_options(log_dir: Path) -> StackOptions:
    return StackOptions(
        port=0,
        tick_seconds=1,
        sim_env={"LOCAL_SIM_RING_SECONDS": "0.2", "LOCAL_SIM_TALK_SECONDS": "0.3"},
        extra_env={"dial_task_timeout_override_seconds": "30"},
        demo_calls_per_second=100,
        log_dir=log_dir,
    )


@pytest.fixture(scope="module")
def stack(stack_options: StackOptions) -> Iterator[OfflineStack]:
    with OfflineStack(stack_options) as running:
        yield running


def lines(log_dir: Path, function: str) -> list[dict[str, Any]]:
    path = log_dir / f"{function}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def emf_totals(log_dir: Path) -> Counter[tuple[str, tuple[tuple[str, str], ...]]]:
    """Every EMF blob of every function: metric name and dimensions → total."""
    totals: Counter[tuple[str, tuple[tuple[str, str], ...]]] = Counter()
    for path in log_dir.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            blob = json.loads(line)
            if "_aws" not in blob:
                continue
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                dimensions = tuple((d, blob[d]) for d in directive["Dimensions"][0] if d != "service")
                for declared in directive["Metrics"]:
                    totals[(declared["Name"], dimensions)] += sum(blob[declared["Name"]])
    return totals


def samples(log_dir: Path, metric: str) -> list[float]:
    """Every value of one EMF metric, across functions."""
    values: list[float] = []
    for path in log_dir.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            blob = json.loads(line)
            if "_aws" in blob and metric in blob:
                values.extend(blob[metric])
    return values


def test_a_batch_leaves_json_lines_with_its_id_and_metrics_that_add_up_to_its_counts(
    stack: OfflineStack, log_dir: Path
) -> None:
    client = Client(stack.api.url, stack.options.api_key)
    # Given a batch of seven numbers with mixed outcomes, when it runs to the end
    batch = client.create(
        name="Observed",
        caller_id="+16045551234",
        recipients=[{"phone_number": n} for n in NUMBERS],
        max_concurrency=3,
    )["batch"]
    wait_for(lambda: client.get(batch["id"])["batch"]["status"] == "completed", timeout=60)
    view = client.get(batch["id"])

    # Then the dialer's lines are JSON, carry the batch's id, and never a whole phone number
    dialer = [line for line in lines(log_dir, "DialerFunction") if "message" in line]
    mine = [line for line in dialer if line.get("batch_id") == batch["id"]]
    assert {line["message"] for line in mine} >= {"call placed"}
    placed = [line for line in mine if line["message"] == "call placed"]
    assert len(placed) == len(NUMBERS)
    assert all(line["phone_number"].startswith("+******") for line in placed)
    assert all(
        line["level"] and line["function_name"] == "DialerFunction" and line["call_sid"] for line in placed
    )
    assert all(not any(n in json.dumps(line) for n in NUMBERS) for line in dialer)
    api = lines(log_dir, "ApiFunction")
    assert all("correlation_id" in line for line in api if "message" in line)

    # And the EMF metrics of calls placed and answered add up to the batch's own counts
    def metrics() -> Counter[tuple[str, tuple[tuple[str, str], ...]]] | None:
        totals = emf_totals(log_dir)
        return totals if totals[("CallsEnded", (("outcome", "busy"),))] == 1 else None

    totals = wait_for(metrics, timeout=10)
    answered = [r for r in view["recipients"] if r["answered_at"]]
    assert totals[("CallsPlaced", ())] == sum(r["attempts"] for r in view["recipients"]) == len(NUMBERS)
    assert totals[("CallsAnswered", (("answered_by", "human"),))] == 3
    assert totals[("CallsAnswered", (("answered_by", "machine"),))] == 1 == len(answered) - 3
    ended = {dims[0][1]: n for (name, dims), n in totals.items() if name == "CallsEnded"}
    assert ended == {s: n for s, n in view["batch"]["counts"].items() if n}

    # And each dial that took the place of an ended call (all but the first three) measured
    # how long that place stood empty
    turnaround = samples(log_dir, "EndToNextDialSeconds")
    assert len(turnaround) == len(NUMBERS) - 3
    assert all(0 <= seconds < 30 for seconds in turnaround)
