"""The lifecycle of the contract over HTTP on the offline stack: cancel in the middle, re-run,
re-run only failures, pause/resume, update, 409s, isolation of every action."""

from __future__ import annotations

import time
from typing import Any

import pytest

from local.stack import OfflineStack
from tests.e2e.conftest import Client
from tests.helpers import wait_for

FINAL = {"completed", "failed", "busy", "no_answer", "skipped"}


def create(client: Client, n: int, **extra: Any) -> dict[str, Any]:
    numbers = [f"+1212555{1000 + i:04d}" for i in range(n)]
    recipients = [{"phone_number": p} for p in numbers]
    answer = client.create(name=f"lifecycle {n}", caller_id="+16045551234", recipients=recipients, **extra)
    return dict(answer["batch"])


def settled(client: Client, batch_id: str, status: str) -> dict[str, Any] | None:
    view = client.get(batch_id)
    if view["batch"]["status"] != status:
        return None
    if any(r["status"] not in FINAL for r in view["recipients"]):
        return None
    return view


def test_cancel_midway_then_rerun_then_rerun_failures(client: Client, stack: OfflineStack) -> None:
    batch = create(client, 100, reserved_concurrency=15)  # 5 slots
    wait_for(lambda: sum(r["attempts"] for r in client.get(batch["id"])["recipients"]) >= 10, timeout=60)
    resp = client.action("cancel", batch_id=batch["id"])
    cancelled_at = time.time()
    assert resp.status_code == 200 and resp.json()["success"] is True
    assert resp.json()["skipped"] > 50

    # Calls already connected finish and report; then every recipient is final.
    view = wait_for(lambda: settled(client, batch["id"], "cancelled"), timeout=60)
    b = view["batch"]
    assert b["completed_count"] + b["failed_count"] + b["skipped_count"] == b["total_recipients"] == 100
    assert b["counts"]["skipped"] == b["skipped_count"]
    # No dial started after the cancel: the simulator saw no call created after it.
    assert all(call.created_at <= cancelled_at for call in stack.simulator.calls)
    dialed_before = sum(1 for r in view["recipients"] if r["attempts"] == 1)
    assert dialed_before == 100 - b["skipped_count"]
    attempts_run1 = {r["id"]: r["attempts"] for r in view["recipients"]}

    # Re-run: every recipient back to pending, counters to 0, all dialed again.
    resp = client.action("start", batch_id=batch["id"])
    assert resp.json() == {"success": True, "message": "Batch re-started"}
    view = wait_for(lambda: settled(client, batch["id"], "completed"), timeout=120)
    b = view["batch"]
    assert b["run_number"] == 2
    assert b["completed_count"] == 70 and b["failed_count"] == 30  # by the last-digit rule
    assert all(r["attempts"] == attempts_run1[r["id"]] + 1 for r in view["recipients"])  # everyone again
    attempts_before = {r["id"]: r["attempts"] for r in view["recipients"]}

    # Re-run only the failures: only those are dialed.
    resp = client.action("start", batch_id=batch["id"], only_statuses=["failed", "busy", "no_answer"])
    assert resp.status_code == 200
    view = wait_for(lambda: settled(client, batch["id"], "completed"), timeout=60)
    redialed = {r["id"] for r in view["recipients"] if r["attempts"] > attempts_before[r["id"]]}
    failed_before = {r["id"] for r in view["recipients"] if r["status"] in {"failed", "busy", "no_answer"}}
    assert redialed == failed_before and len(redialed) == 30
    assert view["batch"]["completed_count"] == 70 and view["batch"]["failed_count"] == 30


def test_pause_and_resume(client: Client) -> None:
    batch = create(client, 30, reserved_concurrency=18)  # 2 slots
    wait_for(lambda: client.get(batch["id"])["batch"]["counts"]["pending"] < 30, timeout=90)
    resp = client.action("pause", batch_id=batch["id"])
    assert resp.status_code == 200
    view = client.get(batch["id"])
    assert view["batch"]["status"] == "paused" and view["batch"]["paused_reason"] == "manual"
    time.sleep(2.5)  # in-flight calls finish; nothing new starts
    frozen = client.get(batch["id"])["batch"]["counts"]
    time.sleep(1.5)
    assert client.get(batch["id"])["batch"]["counts"]["pending"] == frozen["pending"] > 0
    assert client.action("resume", batch_id=batch["id"]).status_code == 200
    view = wait_for(lambda: settled(client, batch["id"], "completed"), timeout=90)
    assert view["batch"]["counts"]["pending"] == 0
    assert view["batch"]["paused_reason"] is None


def test_illegal_actions_are_409_naming_the_status(client: Client) -> None:
    draft = create(client, 1, status="draft")
    resp = client.action("pause", batch_id=draft["id"])
    assert resp.status_code == 409 and resp.json()["error"] == "Cannot pause a batch that is draft"
    resp = client.action("resume", batch_id=draft["id"])
    assert resp.status_code == 409 and "draft" in resp.json()["error"]
    running = create(client, 1)
    resp = client.action("update", batch_id=running["id"], name="renamed")
    assert resp.status_code == 409 and "running" in resp.json()["error"]
    wait_for(lambda: settled(client, running["id"], "completed"), timeout=90)
    resp = client.action("resume", batch_id=running["id"])
    assert resp.status_code == 409 and resp.json()["error"] == "Cannot resume a batch that is completed"
    resp = client.action("cancel", batch_id=running["id"])
    assert resp.status_code == 409


def test_update_a_draft_then_start_it(client: Client) -> None:
    draft = create(client, 2, status="draft")
    resp = client.action(
        "update", batch_id=draft["id"], name="Renamed", window_days=[0, 1, 2, 3, 4, 5, 6], purpose="remind"
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["batch"]["name"] == "Renamed" and resp.json()["batch"]["purpose"] == "remind"
    resp = client.action("update", batch_id=draft["id"], window_days=[1, 1])
    assert resp.status_code == 400 and resp.json()["details"][0]["field"] == "window_days"
    resp = client.action("update", batch_id=draft["id"], caller_id="+16045550000")
    assert resp.status_code == 400 and "caller_id" in resp.json()["error"]
    policy = {"on": ["busy"], "max_attempts": 3, "delay_minutes": 5}
    resp = client.action("update", batch_id=draft["id"], window_timezone="recipient", retry_policy=policy)
    assert resp.status_code == 200, resp.text
    assert resp.json()["batch"]["window_timezone"] == "recipient"
    assert resp.json()["batch"]["retry_policy"] == policy
    resp = client.action("update", batch_id=draft["id"], retry_policy={"on": ["voicemail"]})
    assert resp.status_code == 400 and resp.json()["details"][0]["field"].startswith("retry_policy")
    resp = client.action("update", batch_id=draft["id"], window_timezone="batch", retry_policy=None)
    assert resp.json()["batch"]["window_timezone"] == "batch" and resp.json()["batch"]["retry_policy"] is None
    assert client.action("start", batch_id=draft["id"]).json() == {
        "success": True,
        "message": "Batch started",
    }
    wait_for(lambda: settled(client, draft["id"], "completed"), timeout=90)


def test_scheduled_draft_start_waits_for_its_time(client: Client) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 3600))
    draft = create(client, 1, status="draft", send_now=False, scheduled_at=at)
    resp = client.action("start", batch_id=draft["id"])
    assert resp.status_code == 200 and "scheduled" in resp.json()["message"]
    assert client.get(draft["id"])["batch"]["status"] == "scheduled"
    assert client.action("cancel", batch_id=draft["id"]).status_code == 200
    assert client.get(draft["id"])["batch"]["status"] == "cancelled"


ACTIONS: list[tuple[str, dict[str, Any]]] = [
    ("get", {}),
    ("update", {"name": "stolen"}),
    ("start", {}),
    ("cancel", {}),
    ("pause", {}),
    ("resume", {}),
    ("list_runs", {}),
]


@pytest.mark.parametrize(("action", "params"), ACTIONS)
def test_every_action_on_another_accounts_batch_is_404(
    client: Client, other: Client, action: str, params: dict[str, Any]
) -> None:
    draft = create(client, 1, status="draft")
    key = "parent_batch_id" if action == "list_runs" else "batch_id"
    resp = other.action(action, **{key: draft["id"]}, **params)
    assert resp.status_code == 404 and resp.json() == {"error": "Batch not found"}
    after = client.get(draft["id"])["batch"]
    assert (
        after["status"] == "draft"
        and after["name"] == draft["name"]
        and after["updated_at"] == draft["updated_at"]
    )
    resp = other.session.get(f"{other.base}/batch-calls/{draft['id']}/recipients", timeout=10)
    assert resp.status_code == 404


def test_list_cursor_and_recipient_pages(client: Client) -> None:
    ids = [create(client, 3, status="draft")["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"status": "draft", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.action("list", **params).json()
        seen += [b["id"] for b in page["batches"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen[:0] == [] and [i for i in seen if i in ids] == ids[::-1]
    assert len(seen) == len(set(seen))
    assert client.action("list", cursor="garbage!").status_code == 400

    batch_id = ids[0]
    url = f"{client.base}/batch-calls/{batch_id}/recipients"
    first = client.session.get(url, params={"limit": 2}, timeout=10).json()
    assert len(first["recipients"]) == 2 and first["next_cursor"]
    rest = client.session.get(url, params={"limit": 2, "cursor": first["next_cursor"]}, timeout=10).json()
    assert len(rest["recipients"]) == 1 and rest["next_cursor"] is None
    pending = client.session.get(url, params={"status": "pending"}, timeout=10).json()
    assert len(pending["recipients"]) == 3
    later = client.session.get(url, params={"updated_since": first["server_time"]}, timeout=10).json()
    assert later["recipients"] == []
    bad = client.session.get(url, params={"status": "sleeping"}, timeout=10)
    assert bad.status_code == 400 and bad.json()["details"][0]["field"] == "status"
