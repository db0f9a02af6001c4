"""The offline stack over HTTP: a recipient file uploaded to a presigned S3 URL is imported by
the S3-triggered importer (draft with progress → started), a bad file gets its report and
never starts, and a batch exports as CSV through a presigned URL."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import requests

from local.stack import OfflineStack
from tests.e2e.conftest import Client
from tests.helpers import wait_for


def create_upload(client: Client, **params: Any) -> dict[str, Any]:
    resp = client.session.post(
        f"{client.base}/batch-calls/uploads",
        json={"name": "Uploaded", "caller_id": "+16045551234", **params},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def put_file(upload: dict[str, Any], text: str) -> None:
    resp = requests.put(upload["url"], data=text.encode(), headers=upload["headers"], timeout=10)
    assert resp.status_code == 200, resp.text


def batch_view(client: Client, batch_id: str) -> dict[str, Any]:
    resp = client.session.get(f"{client.base}/batch-calls/{batch_id}", timeout=10)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_an_uploaded_file_is_imported_then_the_batch_runs_and_exports(
    client: Client, stack: OfflineStack
) -> None:
    created = create_upload(client, purpose="reminder")
    batch = created["batch"]
    assert batch["status"] == "draft" and batch["import_status"] == "waiting_for_upload"
    assert created["upload"]["method"] == "PUT" and created["upload"]["url"].startswith(
        stack.aws_endpoint or ""
    )
    # Not startable before its file is in.
    resp = client.action("start", batch_id=batch["id"])
    assert resp.status_code == 409 and "waiting_for_upload" in resp.json()["error"]

    rows = ["Phone Number,First Name,Last Name,Plan"]
    rows += [f"+1415555{5000 + n},Ann,Lee {n},gold" for n in range(30)]
    rows += ["+14155555000,Ann,Again,gold", "nope,Bad,Row,x"]
    put_file(created["upload"], "\n".join(rows) + "\n")
    # skip_invalid was not asked for: the bad row fails the import, nothing is written.
    failed = wait_for(
        lambda: (v := batch_view(client, batch["id"]))["batch"]["import_status"] == "failed" and v
    )
    assert failed["batch"]["status"] == "draft" and failed["batch"]["total_recipients"] == 0
    report = failed["import_report"]
    assert report["invalid_rows"] == 1 and report["invalid"][0]["row"] == 33
    assert report["invalid"][0]["column"] == "Phone Number"  # as the file names it
    assert report["duplicate_rows"] == 1 and report["duplicates"][0] == {
        "row": 32,
        "phone_number": "+14155555000",
        "first_row": 2,
    }
    assert "1 invalid rows" in report["error"]

    again = create_upload(client, skip_invalid=True)
    put_file(again["upload"], "\n".join(rows) + "\n")
    done = wait_for(
        lambda: (v := batch_view(client, again["batch"]["id"]))["batch"]["status"] == "completed" and v,
        timeout=90,
    )
    assert done["batch"]["import_status"] == "completed"
    assert done["batch"]["total_recipients"] == 30 and done["batch"]["duplicates_dropped"] == 1
    assert done["batch"]["import_rows_read"] == 32
    # The simulator's rule: numbers ending in 7, 8, 9 are busy, unanswered, failed.
    assert done["batch"]["completed_count"] == 21 and done["batch"]["failed_count"] == 9

    resp = client.session.get(
        f"{client.base}/batch-calls/{again['batch']['id']}/export.csv", timeout=30, allow_redirects=False
    )
    assert resp.status_code == 303, resp.text
    assert resp.headers["Location"] == resp.json()["url"] and resp.json()["rows"] == 30
    download = requests.get(resp.headers["Location"], timeout=30)
    assert download.status_code == 200
    assert "attachment" in download.headers["Content-Disposition"]
    exported = list(csv.DictReader(io.StringIO(download.text)))
    assert len(exported) == 30
    first = exported[0]
    assert first["phone_number"] == "+14155555000" and first["name"] == "Ann Lee 0"
    assert first["status"] == "completed" and first["attempts"] == "1"
    assert int(first["duration_seconds"]) >= 0 and first["answered_by"] == "human"
    assert json.loads(first["variables"]) == {"plan": "gold"}
    assert first["attempted_at"] and first["completed_at"] and first["cost_micros"]


def test_export_of_another_accounts_batch_is_not_found(client: Client, other: Client) -> None:
    created = client.action(
        "create",
        name="mine",
        caller_id="+16045551234",
        status="draft",
        recipients=[{"phone_number": "+14155556001"}],
    )
    resp = other.session.get(
        f"{other.base}/batch-calls/{created.json()['batch']['id']}/export.csv", timeout=10
    )
    assert resp.status_code == 404


def test_an_upload_request_with_recipients_is_refused(client: Client) -> None:
    resp = client.session.post(
        f"{client.base}/batch-calls/uploads",
        json={"name": "x", "caller_id": "+16045551234", "recipients": [{"phone_number": "+14155556002"}]},
        timeout=10,
    )
    assert resp.status_code == 400 and "uploaded file" in resp.json()["error"]


def test_get_lists_the_first_thousand_recipients_and_pages_the_rest(client: Client) -> None:
    numbers = [f"+1212555{n:04d}" for n in range(1005)]
    created = client.action(
        "create",
        name="big",
        caller_id="+16045551234",
        status="draft",
        recipients=[{"phone_number": n} for n in numbers],
    )
    assert created.status_code == 200, created.text
    batch_id = created.json()["batch"]["id"]
    view = client.get(batch_id)
    assert len(view["recipients"]) == 1000 and view["batch"]["counts"]["pending"] == 1005
    rest = client.session.get(
        f"{client.base}/batch-calls/{batch_id}/recipients",
        params={"cursor": view["recipients_next_cursor"]},
        timeout=10,
    ).json()
    assert [r["phone_number"] for r in view["recipients"] + rest["recipients"]] == numbers


def test_export_cells_a_spreadsheet_would_run_are_neutralised(client: Client) -> None:
    link = '=HYPERLINK("http://x","y")'
    created = client.action(
        "create",
        name="formulas",
        caller_id="+16045551234",
        status="draft",
        recipients=[
            {"phone_number": "+14155556101", "name": link, "variables": {"note": "@SUM(A1)"}},
            {"phone_number": "+14155556102", "name": "-2+3"},
        ],
    )
    assert created.status_code == 200, created.text
    resp = client.session.get(
        f"{client.base}/batch-calls/{created.json()['batch']['id']}/export.csv",
        timeout=30,
        allow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    exported = list(csv.DictReader(io.StringIO(requests.get(resp.headers["Location"], timeout=30).text)))
    assert [r["name"] for r in exported] == ["'" + link, "'-2+3"]
    assert [r["phone_number"] for r in exported] == ["+14155556101", "+14155556102"]  # E.164 kept
    assert json.loads(exported[0]["variables"]) == {"note": "@SUM(A1)"}  # inside a JSON cell
