"""Idempotency-Key on create, over HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.e2e.conftest import Client

BODY: dict[str, Any] = {
    "action": "create",
    "name": "once",
    "caller_id": "+16045551234",
    "status": "draft",
    "recipients": [{"phone_number": "+14155551234"}],
}


def post(client: Client, body: dict[str, Any], key: str) -> Any:
    return client.session.post(
        f"{client.base}/batch-calls", json=body, headers={"Idempotency-Key": key}, timeout=30
    )


def drafts_named(client: Client, name: str) -> list[str]:
    batches = client.action("list", status="draft", limit=200).json()["batches"]
    return [b["id"] for b in batches if b["name"] == name]


def test_same_key_same_body_creates_one_batch(client: Client) -> None:
    first = post(client, {**BODY, "name": "once-a"}, "key-a")
    again = post(client, {**BODY, "name": "once-a"}, "key-a")
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert drafts_named(client, "once-a") == [first.json()["batch"]["id"]]


def test_same_key_other_body_is_a_conflict(client: Client) -> None:
    assert post(client, {**BODY, "name": "once-b"}, "key-b").status_code == 200
    resp = post(client, {**BODY, "name": "once-b-changed"}, "key-b")
    assert resp.status_code == 409 and "different request body" in resp.json()["error"]
    assert drafts_named(client, "once-b-changed") == []


def test_concurrent_retries_create_one_batch(client: Client) -> None:
    body = {**BODY, "name": "once-c"}
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: post(client, body, "key-c"), range(6)))
    assert {r.status_code for r in responses} <= {200, 409}
    assert len(drafts_named(client, "once-c")) == 1


def test_keys_are_per_account(client: Client, other: Client) -> None:
    assert post(client, {**BODY, "name": "once-d"}, "shared-key").status_code == 200
    mine = {**BODY, "name": "once-d", "caller_id": "+16045550000"}
    resp = post(other, mine, "shared-key")
    assert resp.status_code == 200 and drafts_named(other, "once-d")


def test_a_failed_create_can_be_retried_with_the_same_key(client: Client) -> None:
    bad = {**BODY, "name": "once-e", "caller_id": "+16045559999"}
    assert post(client, bad, "key-e").status_code == 400
    assert post(client, bad, "key-e").status_code == 400  # not a stored response: evaluated again
    assert post(client, {**bad, "caller_id": "+16045551234"}, "key-e").status_code == 200


def test_reserved_concurrency_must_leave_a_slot(client: Client) -> None:
    resp = client.action(**{**BODY, "reserved_concurrency": 20})
    assert resp.status_code == 400
    assert resp.json()["details"][0]["field"] == "reserved_concurrency"
