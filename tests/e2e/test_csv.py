"""The offline stack over HTTP: the CSV template, creating a batch from a filled-in template,
and the report a messy file gets (preview, dry_run, create)."""

from __future__ import annotations

import csv
import io

import requests

from local.stack import OfflineStack
from tests.e2e.conftest import Client
from tests.helpers import wait_for


def test_download_the_template_fill_it_and_create_a_batch_from_it(
    client: Client, stack: OfflineStack
) -> None:
    resp = requests.get(
        f"{stack.api.url}/batch-calls/csv-template", headers=client.session.headers, timeout=10
    )
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/csv")
    assert 'filename="batch-calls-template.csv"' in resp.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(resp.text)))
    header = rows[0]
    assert {"name", "first_name", "last_name", "phone_number", "timezone", "company"} <= set(header)

    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    for n, name in enumerate(["Ada Lovelace", "Alan Turing, Jr."]):
        row = dict.fromkeys(header, "")
        row.update(name=name, phone_number=f"(415) 555-30{n}1", timezone="America/Los_Angeles")
        row["company"] = "Analytical Engines"
        writer.writerow([row[h] for h in header])
    created = client.action(
        "create", name="From CSV", caller_id="+16045551234", recipients_csv=out.getvalue()
    )
    assert created.status_code == 200, created.text
    batch = created.json()["batch"]
    assert batch["total_recipients"] == 2

    done = wait_for(
        lambda: (v := client.get(batch["id"]))["batch"]["status"] == "completed" and v, timeout=90
    )
    recipients = done["recipients"]
    assert [r["phone_number"] for r in recipients] == ["+14155553001", "+14155553011"]
    assert [r["name"] for r in recipients] == ["Ada Lovelace", "Alan Turing, Jr."]
    assert recipients[0]["timezone"] == "America/Los_Angeles"
    assert recipients[1]["variables"] == {"company": "Analytical Engines"}
    assert all(r["status"] == "completed" for r in recipients)


MESSY = (
    "\ufeffPhone Number;Name;Account ID\r\n"
    "+14155553101;Good One;A-1\r\n"
    "\r\n"
    "not a number;Bad One;A-2\r\n"
    "(415) 555-3101;Same As Row 2;A-3\r\n"
    "+14155553102;Good Two\r\n"
    "12;Too Short;A-5\r\n"
)


def test_a_messy_csv_gets_a_report_naming_its_bad_rows(client: Client) -> None:
    body = {"name": "messy", "caller_id": "+16045551234", "recipients_csv": MESSY}
    preview = client.action("preview", **body)
    assert preview.status_code == 200, preview.text
    report = preview.json()["preview"]
    assert report["valid"] == 2 and report["invalid_rows"] == 2 and report["duplicate_rows"] == 1
    assert [(e["row"], e["column"]) for e in report["invalid"]] == [(4, "Phone Number"), (7, "Phone Number")]
    assert report["duplicates"] == [{"row": 5, "phone_number": "+14155553101", "first_row": 2}]
    assert report["estimate"]["estimated_cost_micros"] == 2 * 5000
    assert report["would_create"] is False
    # dry_run on create is the same report, and nothing is created either way.
    assert client.action("create", dry_run=True, **body).json() == preview.json()

    refused = client.action("create", **body)
    assert refused.status_code == 400
    error = refused.json()
    assert "row 4" in error["error"] and "skip_invalid" in error["error"]
    assert [d["field"] for d in error["details"]] == [
        "recipients_csv row 4 column 'Phone Number'",
        "recipients_csv row 7 column 'Phone Number'",
    ]

    created = client.action("create", skip_invalid=True, **body)
    assert created.status_code == 200, created.text
    batch = created.json()["batch"]
    assert batch["total_recipients"] == 2 and batch["duplicates_dropped"] == 1
    view = client.get(batch["id"])
    assert view["recipients"][0]["variables"] == {"account_id": "A-1"}


def test_recipients_and_recipients_csv_are_one_or_the_other(client: Client) -> None:
    both = client.action(
        "create",
        name="x",
        caller_id="+16045551234",
        recipients=[{"phone_number": "+14155553201"}],
        recipients_csv="phone\n+14155553202\n",
    )
    assert both.status_code == 400 and "recipients_csv" in both.json()["error"]
    neither = client.action("create", name="x", caller_id="+16045551234")
    assert neither.status_code == 400
    no_phone = client.action("create", name="x", caller_id="+16045551234", recipients_csv="name\nAda\n")
    assert no_phone.status_code == 400 and no_phone.json()["details"][0]["field"] == "recipients_csv"
