"""The offline stack over HTTP: the reference example end to end, concurrency, auth."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from batchcalls.domain.recipient_status import RecipientStatus
from local.stack import OfflineStack
from tests.e2e.conftest import Client
from tests.helpers import REFERENCE_EXAMPLE, wait_for

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "magpipe-create-batch-api.txt"

EXAMPLE = REFERENCE_EXAMPLE


def peak_calls(recipients: list[dict[str, Any]]) -> int:
    """Most calls in progress at once, from the recipients' own call times (an interval that
    ends exactly when another starts does not overlap it)."""
    events = []
    for r in recipients:
        events.append((datetime.fromisoformat(r["attempted_at"]), 1))
        events.append((datetime.fromisoformat(r["completed_at"]), -1))
    live = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        live += delta
        peak = max(peak, live)
    return peak


def _create(client: Client, body: dict[str, Any]) -> dict[str, Any]:
    return dict(client.create(**body)["batch"])


def test_two_hundred_recipients_never_exceed_five_calls(client: Client, stack: OfflineStack) -> None:
    numbers = [f"+1415555{n:04d}" for n in range(1000, 1200)]
    batch = _create(
        client,
        {
            "action": "create",
            "name": "Two hundred",
            "caller_id": "+16045551234",
            "reserved_concurrency": 15,  # 20 − 15 = 5 slots
            "recipients": [{"phone_number": n} for n in numbers],
        },
    )

    def done() -> dict[str, Any] | None:
        view = client.get(batch["id"])
        return view if view["batch"]["status"] == "completed" else None

    view = wait_for(done, timeout=240, interval=0.5)
    recipients = view["recipients"]
    assert len(recipients) == 200
    assert all(
        RecipientStatus(r["status"])
        in {
            RecipientStatus.COMPLETED,
            RecipientStatus.FAILED,
            RecipientStatus.BUSY,
            RecipientStatus.NO_ANSWER,
            RecipientStatus.SKIPPED,
        }
        for r in recipients
    )
    b = view["batch"]
    assert b["completed_count"] + b["failed_count"] + b["counts"]["skipped"] == b["total_recipients"] == 200
    # By the digit rule: 7 busy, 8 no answer, 9 failed → 60 failed, 140 completed.
    assert b["completed_count"] == 140 and b["failed_count"] == 60

    peak = peak_calls(recipients)
    assert 1 < peak <= 5, peak


def test_authorization_and_isolation(client: Client, other: Client, anonymous: Client) -> None:
    batch = _create(client, {**EXAMPLE, "status": "draft"})
    assert batch["status"] == "draft"

    resp = anonymous.action("get", batch_id=batch["id"])
    assert resp.status_code == 401 and resp.json() == {"error": "Unauthorized"}
    wrong = Client(client.base, "not-a-key")
    resp = wrong.action("list")
    assert resp.status_code == 401 and resp.json() == {"error": "Unauthorized"}

    resp = other.action("get", batch_id=batch["id"])
    assert resp.status_code == 404 and resp.json() == {"error": "Batch not found"}
    assert batch["id"] not in [b["id"] for b in other.action("list").json()["batches"]]
    assert batch["id"] in [b["id"] for b in client.action("list").json()["batches"]]

    # The other account cannot use this account's caller ID.
    resp = other.action(
        "create", name="x", caller_id="+16045551234", recipients=[{"phone_number": "+14155551234"}]
    )
    assert resp.status_code == 400 and "caller_id" in resp.json()["error"]


def test_list_filters_and_pages(client: Client) -> None:
    ids = [_create(client, {**EXAMPLE, "status": "draft", "name": f"page {i}"})["id"] for i in range(3)]
    drafts = client.action("list", status="draft", limit=2).json()["batches"]
    assert [b["id"] for b in drafts] == ids[::-1][:2]  # newest first
    assert all(b["status"] == "draft" for b in drafts)
    second = client.action("list", status="draft", limit=1, offset=2).json()["batches"]
    assert second[0]["id"] == ids[0]


def test_errors_are_json_4xx(client: Client, stack: OfflineStack) -> None:
    resp = client.action("teleport")
    assert resp.status_code == 400 and resp.json() == {"error": "Unknown action: teleport"}
    resp = client.session.post(f"{client.base}/batch-calls", data="{not json", timeout=10)
    assert resp.status_code == 400 and "JSON" in resp.json()["error"]
    resp = client.action("create", name="x", caller_id="+16045551234", recipients=[{"phone_number": "nope"}])
    assert resp.status_code == 400
    assert resp.json()["details"][0]["field"] == "recipients[0].phone_number"
    resp = client.action("get", batch_id="does-not-exist")
    assert resp.status_code == 404
    # The Magpipe path serves the same actions.
    resp = client.session.post(f"{client.base}/functions/v1/batch-calls", json={"action": "list"}, timeout=10)
    assert resp.status_code == 200 and "batches" in resp.json()


def test_health_and_cors_preflight(stack: OfflineStack) -> None:
    assert requests.get(f"{stack.api.url}/health", timeout=5).json() == {"status": "ok"}
    resp = requests.options(
        f"{stack.api.url}/batch-calls",
        headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        timeout=5,
    )
    assert resp.status_code == 200
    assert resp.headers["Access-Control-Allow-Origin"] == "*"
    assert "Idempotency-Key" in resp.headers["Access-Control-Allow-Headers"]


def test_forged_webhook_is_refused_over_http(client: Client, stack: OfflineStack) -> None:
    batch = _create(client, {**EXAMPLE, "status": "draft"})
    resp = requests.post(
        f"{stack.api.url}/webhooks/twilio/status?batch_id={batch['id']}&rk=R%230000001&ticket=1%3A1",
        data={"CallSid": "CA1", "CallStatus": "completed"},
        headers={"X-Twilio-Signature": "forged"},
        timeout=5,
    )
    assert resp.status_code == 403 and resp.json() == {"error": "Invalid signature"}
    assert client.get(batch["id"])["recipients"][0]["status"] == "pending"


def test_reference_file_is_the_example() -> None:
    # Keeps EXAMPLE honest: the reference's curl body carries the same recipients and caller ID.
    assert REFERENCE.exists(), f"The shared reference must sit beside the project: {REFERENCE} is missing"
    text = REFERENCE.read_text()
    assert '"caller_id": "+16045551234"' in text
    assert '"phone_number": "+14155551234"' in text and '"phone_number": "+12125559876"' in text


def test_three_batches_share_the_accounts_five_slots(client: Client) -> None:
    ids = []
    for b in range(3):
        numbers = [f"+1646555{b}{n:03d}" for n in range(12)]
        ids.append(
            _create(
                client,
                {
                    "action": "create",
                    "name": f"shared {b}",
                    "caller_id": "+16045551234",
                    "reserved_concurrency": 15,  # each batch alone could use 5; together too
                    "recipients": [{"phone_number": n} for n in numbers],
                },
            )["id"]
        )

    def all_done() -> list[dict[str, Any]] | None:
        views = [client.get(i) for i in ids]
        return views if all(v["batch"]["status"] == "completed" for v in views) else None

    try:
        views = wait_for(all_done, timeout=240, interval=0.5)
    except AssertionError:
        from batchcalls.services.context import get_context
        from local.seed import DEMO_ACCOUNT_ID

        states = [(v["batch"]["status"], v["batch"]["counts"]) for v in (client.get(i) for i in ids)]
        raise AssertionError(
            f"not done: {states}; slot holders {get_context().slots.holders(DEMO_ACCOUNT_ID)}"
        ) from None
    recipients = [r for view in views for r in view["recipients"]]
    assert all(r["attempts"] == 1 for r in recipients)
    peak = peak_calls(recipients)
    assert 1 < peak <= 5, peak
