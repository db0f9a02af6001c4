"""Events out, offline and over HTTP: the table's changes become events on the bus, in the
account's event log, and signed, retried webhook deliveries a receiver on 127.0.0.1 verifies
with the Standard Webhooks package and with Magpipe's header."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as StandardWebhook

from local.stack import OfflineStack, StackOptions
from tests.e2e.conftest import Client
from tests.helpers import wait_for
from tests.webhook_receiver import WebhookReceiver

# Last digit → the simulator's outcome: 0-4, 6 a person answers, 5 voicemail, 7 busy,
# 8 no answer, 9 carrier failure.
NUMBERS = [f"+1415555{3000 + n:04d}" for n in range(20)]
RETRY = {"on": ["busy", "no_answer"], "max_attempts": 2, "delay_minutes": 0}


@pytest.fixture(scope="module")
def stack_options() -> StackOptions:
    return StackOptions(
        port=0,
        tick_seconds=1,
        sim_env={"LOCAL_SIM_RING_SECONDS": "0.2", "LOCAL_SIM_TALK_SECONDS": "0.3"},
        # A retry schedule of seconds, not hours, for the flaky receiver.
        extra_env={
            "dial_task_timeout_override_seconds": "30",
            "next_pass_delay_seconds": "1",
            "webhook_retry_schedule_seconds": "0,1,1,1",
        },
        demo_calls_per_second=100,
    )


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as running:
        yield running


def add_webhook(client: Client, url: str, **fields: Any) -> dict[str, Any]:
    resp = client.session.post(f"{client.base}/account/webhooks", json={"url": url, **fields}, timeout=30)
    assert resp.status_code == 200, resp.text
    return dict(resp.json()["webhook"])


def deliveries(client: Client, webhook_id: str) -> list[dict[str, Any]]:
    resp = client.session.get(f"{client.base}/account/webhooks/{webhook_id}/deliveries", timeout=30)
    assert resp.status_code == 200, resp.text
    return list(resp.json()["deliveries"])


def events_of(received: list[Any], secret: str) -> dict[str, dict[str, Any]]:
    """Every delivery verified, de-duplicated on webhook-id (as a receiver must)."""
    by_id: dict[str, dict[str, Any]] = {}
    for item in received:
        body = item.verify(secret)
        assert item.headers["webhook-id"] == body["id"]
        by_id[body["id"]] = body
    return by_id


def test_a_campaign_with_mixed_outcomes_sends_one_call_completed_per_attempt_and_one_batch_completed(
    stack: OfflineStack, client: Client, other: Client, receiver: WebhookReceiver
) -> None:
    # Given an endpoint subscribed to everything, and another account's endpoint
    every = [
        "batch.status_changed",
        "batch.completed",
        "recipient.status_changed",
        "call.completed",
        "credits.low",
        "webhook.disabled",
    ]
    hook = add_webhook(client, receiver.url("/all"), events=every)
    assert hook["secret"].startswith("whsec_") and hook["status"] == "enabled"
    add_webhook(other, receiver.url("/other"))

    # When a batch of 20 with mixed outcomes and a retry policy runs to the end
    batch = client.create(
        name="Events",
        caller_id="+16045551234",
        recipients=[{"phone_number": n, "name": f"R{i}"} for i, n in enumerate(NUMBERS)],
        retry_policy=RETRY,
    )["batch"]
    done = wait_for(lambda: client.get(batch["id"])["batch"]["status"] == "completed", timeout=90)
    assert done
    view = client.get(batch["id"])
    attempts = sum(r["attempts"] for r in view["recipients"])

    # Then: exactly one call.completed per attempt, one batch.completed with get's counts
    def settled() -> bool:
        events = events_of(receiver.received("/all"), hook["secret"])
        kinds = Counter(e["type"] for e in events.values() if e["data"].get("batch_id") == batch["id"])
        return kinds["call.completed"] == attempts and kinds["batch.completed"] == 1

    assert wait_for(settled, timeout=30), Counter(
        e["type"] for e in events_of(receiver.received("/all"), hook["secret"]).values()
    )
    events = [
        e
        for e in events_of(receiver.received("/all"), hook["secret"]).values()
        if e["data"].get("batch_id") == batch["id"]
    ]
    [completed] = [e for e in events if e["type"] == "batch.completed"]
    assert completed["data"]["counts"] == view["batch"]["counts"]
    assert completed["event"] == "batch.completed" and completed["data"]["account_id"]
    calls = [e for e in events if e["type"] == "call.completed"]
    assert attempts > len(NUMBERS)  # the busy and unanswered ones were called twice
    outcomes = Counter(e["data"]["outcome"] for e in calls)
    assert outcomes["busy"] == 4 and outcomes["no_answer"] == 4 and outcomes["failed"] == 2
    assert {e["data"]["service_number"] for e in calls} == {"+16045551234"}
    assert {e["data"]["caller_number"] for e in calls} == set(NUMBERS)
    # Deliveries arrive in any order (several senders): the batch's story, in event time.
    changes = sorted((e for e in events if e["type"] == "batch.status_changed"), key=lambda e: e["timestamp"])
    statuses = [e["data"]["status"] for e in changes]
    assert statuses[0] == "running" and statuses[-1] == "completed"
    assert any(e["type"] == "recipient.status_changed" for e in events)
    # No event of this account reached the other account's endpoint.
    assert all(r.event["data"].get("batch_id") != batch["id"] for r in receiver.received("/other"))

    # And the account's event log lists the same events, oldest first.
    resp = client.session.get(
        f"{client.base}/account/events",
        params={"batch_id": batch["id"], "type": "call.completed", "limit": 500},
    )
    assert resp.status_code == 200, resp.text
    assert {e["id"] for e in resp.json()["events"]} == {e["id"] for e in calls}


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt_and_410_disables(
    client: Client, receiver: WebhookReceiver
) -> None:
    # Given an endpoint that answers 500 three times, then 200
    receiver.answer("/flaky", 500, 500, 500)
    hook = add_webhook(client, receiver.url("/flaky"))
    # When a test event is sent
    resp = client.session.post(f"{client.base}/account/webhooks/{hook['id']}/test", timeout=30)
    assert resp.status_code == 202, resp.text
    delivery_id = resp.json()["delivery_id"]

    # Then the fourth attempt delivers it, and the deliveries log shows four attempts
    def delivered() -> dict[str, Any] | None:
        found = [d for d in deliveries(client, hook["id"]) if d["id"] == delivery_id]
        return found[0] if found and found[0]["status"] == "delivered" else None

    delivery = wait_for(delivered, timeout=30)
    assert delivery, deliveries(client, hook["id"])
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 500, 200]
    posts = receiver.received("/flaky")
    assert len(posts) == 4 and len({p.headers["webhook-id"] for p in posts}) == 1
    posts[-1].verify(hook["secret"])

    # And an endpoint answering 410 Gone is disabled, with the reason
    receiver.answer("/gone", 410)
    gone = add_webhook(client, receiver.url("/gone"))
    client.session.post(f"{client.base}/account/webhooks/{gone['id']}/test", timeout=30)

    def disabled() -> dict[str, Any] | None:
        now = client.session.get(f"{client.base}/account/webhooks/{gone['id']}", timeout=30).json()["webhook"]
        return now if now["status"] == "disabled" else None

    endpoint = wait_for(disabled, timeout=30)
    assert endpoint and "410" in endpoint["disabled_reason"]

    def disabled_events() -> set[str]:
        log = client.session.get(f"{client.base}/account/events", params={"type": "webhook.disabled"}).json()
        return {e["data"]["webhook_id"] for e in log["events"]}

    assert wait_for(lambda: gone["id"] in disabled_events(), timeout=10)


def test_a_rotated_secret_signs_beside_the_old_one_and_only_create_and_rotate_show_it(
    client: Client, receiver: WebhookReceiver
) -> None:
    hook = add_webhook(client, receiver.url("/rotating"))
    shown = client.session.get(f"{client.base}/account/webhooks/{hook['id']}", timeout=30).json()["webhook"]
    assert "secret" not in shown
    rotated = client.session.post(
        f"{client.base}/account/webhooks/{hook['id']}/rotate-secret", timeout=30
    ).json()
    new_secret = rotated["webhook"]["secret"]
    assert new_secret != hook["secret"] and rotated["webhook"]["previous_secret_until"]
    client.session.post(f"{client.base}/account/webhooks/{hook['id']}/test", timeout=30)
    assert wait_for(lambda: receiver.received("/rotating"), timeout=30)
    [post] = receiver.received("/rotating")
    assert len(post.headers["webhook-signature"].split(" ")) == 2
    # Both secrets verify the Standard Webhooks signatures; Magpipe's header, with room for
    # one, keeps the old secret until the overlap ends (an unchanged receiver keeps working).
    post.verify(hook["secret"])
    StandardWebhook(new_secret).verify(post.body, post.headers)


def test_bad_endpoints_are_refused_with_the_field_named(client: Client) -> None:
    for body, words in [
        ({"url": "ftp://example.com/hook"}, "https"),
        ({"url": "https://example.com/hook", "events": ["call.exploded"]}, "events"),
        ({"url": "https://example.com/hook", "colour": "red"}, "colour"),
    ]:
        resp = client.session.post(f"{client.base}/account/webhooks", json=body, timeout=30)
        assert resp.status_code == 400, resp.text
        assert words in resp.text
    resp = client.session.get(f"{client.base}/account/webhooks/wh_nope", timeout=30)
    assert resp.status_code == 404
    resp = client.session.get(f"{client.base}/account/events", params={"since": "yesterday"}, timeout=30)
    assert resp.status_code == 400 and "since" in resp.text


def test_a_change_made_by_the_operator_cli_is_an_event_too(stack: OfflineStack, client: Client) -> None:
    # Given the demo account's balance, when the operator takes it under the alert threshold
    account = client.session.get(f"{client.base}/account", timeout=30).json()["account"]
    take = account["balance_micros"] / 1_000_000  # to zero: under the $1 default threshold
    assert stack.aws_endpoint is not None
    argv = ["--local", "--endpoint-url", stack.aws_endpoint, "add-credits", "--account", account["id"]]
    done = subprocess.run(
        [sys.executable, "-m", "batchcalls.admin", *argv, f"--amount=-{take:.6f}", "--note", "test"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
        check=False,
    )
    assert done.returncode == 0, done.stderr

    # Then a credits.low event is in the account's log
    def low() -> list[dict[str, Any]]:
        log = client.session.get(f"{client.base}/account/events", params={"type": "credits.low"}).json()
        return list(log["events"])

    events = wait_for(low, timeout=30)
    assert events and events[-1]["data"]["balance_micros"] < events[-1]["data"]["threshold_micros"]


def test_an_endpoint_is_changed_disabled_and_removed_by_its_owner_only(
    client: Client, other: Client, receiver: WebhookReceiver
) -> None:
    hook = add_webhook(client, receiver.url("/owned"), description="CRM")
    url = f"{client.base}/account/webhooks/{hook['id']}"
    # Another account can neither see nor change it
    assert other.session.get(url.replace(client.base, other.base), timeout=30).status_code == 404
    assert other.session.delete(url.replace(client.base, other.base), timeout=30).status_code == 404
    # Its owner narrows its events, then disables it: a webhook.disabled event says by whom
    resp = client.session.patch(url, json={"events": ["batch.completed"], "status": "disabled"}, timeout=30)
    assert resp.status_code == 200, resp.text
    changed = resp.json()["webhook"]
    assert changed["events"] == ["batch.completed"] and changed["status"] == "disabled"

    def reasons() -> dict[str, str]:
        log = client.session.get(f"{client.base}/account/events", params={"type": "webhook.disabled"}).json()
        return {e["data"]["webhook_id"]: e["data"]["reason"] for e in log["events"]}

    assert wait_for(lambda: reasons().get(hook["id"]), timeout=10) == "disabled through the API"
    assert client.session.patch(url, json={"status": "paused"}, timeout=30).status_code == 400
    assert client.session.delete(url, timeout=30).json() == {"deleted": hook["id"]}
    assert client.session.get(url, timeout=30).status_code == 404
