"""The import of an uploaded recipient file (real S3 and DynamoDB semantics from moto): the
import is idempotent, a stale import is taken over, a cancelled batch stops its import, and
suppressed numbers are left out and reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest

from batchcalls import aws
from batchcalls.domain.errors import Conflict
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.services import uploads
from batchcalls.services.context import Context
from batchcalls.services.export import export_batch
from batchcalls.services.lifecycle import cancel
from batchcalls.services.tick import tick
from batchcalls.store.files import parse_upload_key, upload_key
from local.seed import DEMO_ACCOUNT_ID
from tests.helpers import Clock, draft_upload, make_context, set_batch_fields

pytestmark = pytest.mark.usefixtures("importer_stopped")  # these tests run the import themselves


ROWS = "phone,name\n" + "".join(f"+1415555{7100 + n},R{n}\n" for n in range(1200))


def test_an_import_run_twice_writes_the_same_recipients_once(ctx: Context) -> None:
    batch_id = draft_upload(ctx, ROWS)
    key = upload_key(DEMO_ACCOUNT_ID, batch_id)
    assert uploads.import_upload(ctx, key) == "completed"
    first = [(r.sk, r.id, r.phone_number) for r in ctx.recipients.in_batch(batch_id)]
    assert uploads.import_upload(ctx, key) == "nothing_to_do"  # a redelivered event

    batch = ctx.batches.get(batch_id)
    assert batch is not None and batch.status is BatchStatus.DRAFT  # status "draft" was asked
    assert batch.total_recipients == 1200 and batch.import_rows_read == 1200
    assert len(first) == 1200 and first[0][2] == "+14155557100" and first[-1][2] == "+14155558299"

    # A crashed import (still "importing", no heartbeat for long) is taken over and redone:
    # the same keys and ids, nothing added.
    set_batch_fields(
        ctx,
        batch_id,
        import_status="importing",
        import_started_at="2000-01-01T00:00:00.000Z",
        import_heartbeat_at="2000-01-01T00:10:00.000Z",
    )
    assert uploads.import_upload(ctx, key) == "completed"
    assert [(r.sk, r.id, r.phone_number) for r in ctx.recipients.in_batch(batch_id)] == first


def test_an_import_running_now_is_not_started_twice(ctx: Context) -> None:
    clock = Clock(ctx.clock())
    ctx.clock = clock
    batch_id = draft_upload(ctx, ROWS)
    set_batch_fields(ctx, batch_id, import_status="importing", import_started_at=ctx.now_iso())
    clock.now += timedelta(minutes=5)
    assert uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, batch_id)) == "nothing_to_do"


def test_a_batch_cancelled_during_its_import_stops_it(ctx: Context, monkeypatch: pytest.MonkeyPatch) -> None:
    batch_id = draft_upload(ctx, ROWS)
    real_put = ctx.batches.put_recipients
    calls = 0

    def cancel_after_first_chunk(recipients: object, workers: int = 1) -> None:
        nonlocal calls
        calls += 1
        real_put(recipients, workers)  # type: ignore[arg-type]
        if calls == 1:
            cancel(ctx, DEMO_ACCOUNT_ID, batch_id)

    monkeypatch.setattr(ctx.batches, "put_recipients", cancel_after_first_chunk)
    assert uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, batch_id)) == "abandoned"
    batch = ctx.batches.get(batch_id)
    assert batch is not None and batch.status is BatchStatus.CANCELLED
    assert calls == 1  # no chunk after the cancel
    # The chunk written after the cancel's own skipping is left to the scheduler.
    assert batch.import_status == "failed" and batch.due_at
    tick(ctx)
    assert ctx.recipients.status_counts(batch_id)["pending"] == 0


def test_suppressed_numbers_are_left_out_and_reported(ctx: Context) -> None:
    ctx.suppression.add(DEMO_ACCOUNT_ID, ["+14155557105", "+14155558000"], ctx.now_iso())
    batch_id = draft_upload(ctx, ROWS)
    assert uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, batch_id)) == "completed"
    batch = ctx.batches.get(batch_id)
    assert batch is not None and batch.total_recipients == 1198 and batch.suppressed_dropped == 2
    numbers = [r.phone_number for r in ctx.recipients.in_batch(batch_id)]
    assert "+14155557105" not in numbers and "+14155558000" not in numbers
    assert [r.seq for r in ctx.recipients.in_batch(batch_id)] == list(range(1, 1199))  # dense keys
    report = ctx.batches.import_report(batch_id)
    assert report is not None and report["suppressed"] == ["+14155557105", "+14155558000"]
    ctx.suppression.remove(DEMO_ACCOUNT_ID, "+14155557105")
    ctx.suppression.remove(DEMO_ACCOUNT_ID, "+14155558000")


def test_an_unreadable_file_fails_the_import_with_the_reason(ctx: Context) -> None:
    batch_id = draft_upload(ctx, "name,account\nA,1\n")
    assert uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, batch_id)) == "failed"
    batch = ctx.batches.get(batch_id)
    report = ctx.batches.import_report(batch_id)
    assert batch is not None and batch.import_status == "failed" and batch.total_recipients == 0
    assert report is not None and "phone" in report["error"]


def test_upload_keys_name_their_account_and_batch() -> None:
    assert parse_upload_key(upload_key("acct-1", "b-2")) == ("acct-1", "b-2")
    for other in ("exports/acct/b.csv", "uploads/acct/b.txt", "uploads/b.csv", "uploads//b.csv"):
        assert parse_upload_key(other) is None


def test_an_import_out_of_time_goes_on_in_fresh_invocations(ctx: Context) -> None:
    text = ROWS + "not a number,Bad\n+14155557100,Again\n"  # 1,200 good, 1 invalid, 1 duplicate
    batch_id = draft_upload(ctx, text, skip_invalid=True)
    key = upload_key(DEMO_ACCOUNT_ID, batch_id)
    sqs = aws.client("sqs")  # the queue as the importer sees it
    url = ctx.settings.import_queue_url
    sqs.purge_queue(QueueUrl=url)  # the S3 events of the uploads (no importer runs here)

    def out_of_time() -> float:
        return 1.0  # less than CONTINUE_WHEN_SECONDS_LEFT: hand over after every chunk

    outcome = uploads.import_upload(ctx, key, out_of_time)
    steps = 1
    while outcome == "continues":
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        assert len(messages) == 1  # exactly one continuation per step
        sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
        batch = ctx.batches.get(batch_id)
        assert batch is not None and batch.import_status == "importing"
        assert batch.import_rows_read == 500 * steps  # progress so far
        outcome = uploads.handle_s3_event(ctx, json.loads(messages[0]["Body"]), out_of_time)[0]
        steps += 1
    assert outcome == "completed" and steps == 3  # 500 + 500 + 200 rows

    recipients = list(ctx.recipients.in_batch(batch_id))
    assert [r.seq for r in recipients] == list(range(1, 1201))
    assert [r.phone_number for r in recipients] == [f"+1415555{7100 + n}" for n in range(1200)]
    batch = ctx.batches.get(batch_id)
    report = ctx.batches.import_report(batch_id)
    assert batch is not None and batch.total_recipients == 1200 and batch.duplicates_dropped == 1
    assert report is not None and report["total_rows"] == 1202
    assert report["invalid_rows"] == 1 and report["duplicate_rows"] == 1 and "checkpoint" not in report
    # A stray continuation of a finished import changes nothing.
    stray = {"continue_import": {"key": key, "started_at": batch.import_started_at}}
    assert uploads.handle_s3_event(ctx, stray) == ["nothing_to_do"]


def test_export_of_a_batch_over_the_limit_is_refused_with_the_reason(ctx: Context) -> None:
    batch_id = draft_upload(ctx, ROWS)
    uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, batch_id))
    small = make_context(export_max_recipients=1000)
    with pytest.raises(Conflict, match=r"1200 recipients; export\.csv serves up to 1000"):
        export_batch(small, DEMO_ACCOUNT_ID, batch_id)


def test_a_failed_attempt_is_retried_and_the_last_one_marks_the_import_failed(
    ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_chunks = ctx.files.chunks
    failures_left = [1]

    def flaky(key: str) -> Iterator[bytes]:
        if failures_left[0] > 0:
            failures_left[0] -= 1
            raise RuntimeError("S3 read timed out")
        return real_chunks(key)

    monkeypatch.setattr(ctx.files, "chunks", flaky)
    batch_id = draft_upload(ctx, ROWS)
    key = upload_key(DEMO_ACCOUNT_ID, batch_id)
    with pytest.raises(RuntimeError):
        uploads.import_upload(ctx, key)  # the queue will deliver the event again
    waiting = ctx.batches.get(batch_id)
    assert waiting is not None and waiting.import_status == "waiting_for_upload"
    assert uploads.import_upload(ctx, key) == "completed"  # the redelivery

    doomed = draft_upload(ctx, ROWS)  # fails on every attempt; the last one gives up
    failures_left[0] = 99
    assert uploads.import_upload(ctx, upload_key(DEMO_ACCOUNT_ID, doomed), last_attempt=True) == "failed"
    batch = ctx.batches.get(doomed)
    report = ctx.batches.import_report(doomed)
    assert batch is not None and batch.import_status == "failed"
    assert report is not None and "RuntimeError" in report["error"]
