"""The offline stack over HTTP: the account's do-not-call list — add (list and CSV), check,
page, remove — left out of new batches (reported) and never dialed by a running one."""

from __future__ import annotations

from urllib.parse import quote

from local.stack import OfflineStack
from tests.e2e.conftest import Client
from tests.helpers import wait_for


def suppression_url(client: Client, number: str = "") -> str:
    return f"{client.base}/account/suppression" + (f"/{quote(number)}" if number else "")


def test_add_check_page_and_remove_numbers(client: Client, other: Client) -> None:
    resp = client.session.post(
        suppression_url(client),
        json={"numbers": ["+14155554001", "(415) 555-4002", "+14155554001"], "reason": "asked to stop"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"added": 2, "invalid": [], "invalid_count": 0}
    csv_text = "Name,Mobile\nA,415-555-4003\nB,+1 415 555 4004\n"
    resp = client.session.post(suppression_url(client), json={"csv": csv_text}, timeout=10)
    assert resp.json()["added"] == 2

    assert client.session.get(suppression_url(client, "+14155554002"), timeout=10).status_code == 200
    assert other.session.get(suppression_url(other, "+14155554002"), timeout=10).status_code == 404

    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.session.get(suppression_url(client), params=params, timeout=10).json()
        seen += [n["phone_number"] for n in page["numbers"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {"+14155554001", "+14155554002", "+14155554003", "+14155554004"} <= set(seen)
    assert len(seen) == len(set(seen))

    resp = client.session.delete(suppression_url(client, "+14155554004"), timeout=10)
    assert resp.status_code == 200 and resp.json() == {"removed": "+14155554004"}
    resp = client.session.delete(suppression_url(client, "+14155554004"), timeout=10)
    assert resp.status_code == 404 and "+14155554004 is not on the suppression list" in resp.json()["error"]


def test_bad_numbers_are_named_and_nothing_is_added(client: Client) -> None:
    resp = client.session.post(suppression_url(client), json={"numbers": ["+14155554101", "12"]}, timeout=10)
    assert resp.status_code == 400
    assert resp.json()["details"][0]["field"] == "numbers[1]"
    assert client.session.get(suppression_url(client, "+14155554101"), timeout=10).status_code == 404
    resp = client.session.post(suppression_url(client), json={"reason": "nothing"}, timeout=10)
    assert resp.status_code == 400 and "numbers" in resp.json()["error"]


def test_a_suppressed_number_is_never_dialed(client: Client, stack: OfflineStack) -> None:
    listed, later, fine = "+14155554201", "+14155554202", "+14155554203"
    assert client.session.post(suppression_url(client), json={"numbers": [listed]}, timeout=10).ok

    # At create: left out and reported.
    created = client.action(
        "create",
        name="dnc",
        caller_id="+16045551234",
        status="draft",
        recipients=[{"phone_number": n} for n in (listed, later, fine)],
    )
    assert created.status_code == 200, created.text
    assert created.json()["suppressed"] == [listed]
    batch = created.json()["batch"]
    assert batch["total_recipients"] == 2 and batch["suppressed_dropped"] == 1

    # Suppressed after create: skipped right before its dial.
    assert client.session.post(suppression_url(client), json={"numbers": [later]}, timeout=10).ok
    assert client.action("start", batch_id=batch["id"]).status_code == 200
    done = wait_for(
        lambda: (v := client.get(batch["id"]))["batch"]["status"] == "completed" and v, timeout=90
    )
    by_number = {r["phone_number"]: r for r in done["recipients"]}
    assert set(by_number) == {later, fine}
    assert by_number[later]["status"] == "skipped" and by_number[later]["error_message"] == "suppressed"
    assert by_number[fine]["status"] == "completed"
    assert by_number[later]["attempts"] == 0
    dialed = {call.to for call in stack.simulator.calls}
    assert fine in dialed and listed not in dialed and later not in dialed
