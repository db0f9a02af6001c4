"""Recipient lists too big for a request: ``POST /batch-calls/uploads`` makes a draft batch and
a presigned S3 URL; the uploaded file's S3 event (through the import queue) streams it into the
batch — constant memory apart from the numbers seen for duplicates — which then starts, is
scheduled or stays a draft, as the upload request asked.

A file with invalid rows imports nothing unless the request said ``skip_invalid`` (a first
pass only validates; the second writes). Recipients get the keys of their place among the
valid rows, so an import run again (a redelivered event, a retry after a crash) writes the
same items: it is idempotent. The batch's ``import_status`` moves waiting_for_upload →
importing → completed | failed by conditional writes; the report is kept beside the batch.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote_plus

from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.csv_import import CsvFileError, CsvRecipient, RowResult, RowTally, iter_rows
from batchcalls.domain.errors import InvalidRequest
from batchcalls.domain.imports import ImportResult, ImportStatus
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.phone import region_code
from batchcalls.models.api import UploadBatchRequest
from batchcalls.models.domain import Batch, Recipient
from batchcalls.models.results import ImportCheckpoint, ImportSummary, NewUpload
from batchcalls.observability import metric
from batchcalls.services.batches import checked_account_and_caller, new_batch
from batchcalls.services.context import Context
from batchcalls.services.lifecycle import start_draft
from batchcalls.store.files import parse_upload_key, upload_key

logger = logging.getLogger(__name__)

CSV_CONTENT_TYPE = "text/csv"
# An import's report is one DynamoDB item (400 KB at most) beside the batch, so it lists fewer
# than a create's answer (csv_import.MAX_REPORTED); all are counted.
MAX_REPORTED_IN_IMPORT = 500
WRITE_CHUNK = 500  # recipients checked against the suppression list and written together
# Chunks of 25 written at once: a million rows are 40,000 BatchWriteItem calls, too slow for a
# 15-minute Lambda one after another.
WRITE_WORKERS = 8
# An import whose heartbeat (a progress write per chunk) stopped this long ago died with its
# Lambda: a new event for the file takes it over.
STALE_IMPORT = timedelta(minutes=16)
# An invocation with less time left than this hands the rest to a fresh one (a chunk of 500
# writes takes a second or two; this leaves room for a slow one).
CONTINUE_WHEN_SECONDS_LEFT = 60


def create_upload(ctx: Context, account_id: str, request: UploadBatchRequest) -> NewUpload:
    account, number = checked_account_and_caller(ctx, account_id, request)
    try:
        region = region_code(request.default_country or ctx.settings.default_region)
    except ValueError as exc:
        raise InvalidRequest(
            f"default_country {exc}", [{"field": "default_country", "message": str(exc)}]
        ) from exc
    batch = new_batch(ctx, request, account, number, batch_id=str(uuid.uuid4()), status=BatchStatus.DRAFT)
    batch = batch.model_copy(
        update={
            "import_status": ImportStatus.WAITING,
            "start_after_import": request.status != "draft",
            # Remembered for the import, which has no request to read them from.
            "import_options": {
                "default_country": region,
                "skip_invalid": request.skip_invalid,
            },
        }
    )
    ctx.batches.create(batch, [])
    expires = ctx.settings.upload_url_expires_seconds
    url = ctx.files.presign_put(upload_key(account_id, batch.id), CSV_CONTENT_TYPE, expires)
    return NewUpload(
        batch=batch,
        url=url,
        content_type=CSV_CONTENT_TYPE,
        expires_at=iso(ctx.clock() + timedelta(seconds=expires)),
        max_bytes=ctx.settings.max_upload_bytes,
    )


@dataclass
class ImportReport:
    """The file's problems (``RowTally``, as ``create`` counts them) and what became of its
    valid rows: written (``valid``) or left out as suppressed."""

    tally: RowTally = field(default_factory=lambda: RowTally(limit=MAX_REPORTED_IN_IMPORT))
    recipient_rows: int = 0  # valid rows read, written or suppressed
    valid: int = 0
    suppressed_rows: int = 0
    suppressed: list[str] = field(default_factory=list)
    error: str | None = None  # the whole file was unreadable (encoding, header, size)

    def add(self, result: RowResult) -> CsvRecipient | None:
        recipient = self.tally.add(result)
        if recipient is not None:
            self.recipient_rows += 1
        return recipient

    @property
    def invalid_rows(self) -> int:
        return self.tally.invalid_rows

    @property
    def total_rows(self) -> int:
        return self.recipient_rows + self.tally.invalid_rows + self.tally.duplicate_rows

    def summary(self) -> ImportSummary:
        return ImportSummary(
            total_rows=self.total_rows,
            valid=self.valid,
            invalid_rows=self.tally.invalid_rows,
            invalid=[{"row": e.row, "column": e.column, "reason": e.reason} for e in self.tally.invalid],
            duplicate_rows=self.tally.duplicate_rows,
            duplicates=[
                {"row": d.row, "phone_number": d.phone_number, "first_row": d.first_row}
                for d in self.tally.duplicates
            ],
            suppressed_rows=self.suppressed_rows,
            suppressed=self.suppressed,
            error=self.error,
        )


TimeLeft = Callable[[], float]  # seconds this invocation has left


def _forever() -> float:
    return float("inf")


def handle_s3_event(
    ctx: Context, event: dict[str, Any], time_left: TimeLeft = _forever, *, last_attempt: bool = False
) -> list[str]:
    """A message of the import queue: an S3 event notification (import every upload it names)
    or our own continuation of an import that ran out of time. ``last_attempt``: the queue
    will not deliver this message again, so an import that fails now is marked failed."""
    if "continue_import" in event:
        step = event["continue_import"]
        return [
            import_upload(
                ctx, step["key"], time_left, continuing=step["started_at"], last_attempt=last_attempt
            )
        ]
    outcomes = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated"):
            continue
        # S3 event keys are URL-encoded (with + for a space).
        key = unquote_plus(record["s3"]["object"]["key"])
        outcomes.append(import_upload(ctx, key, time_left, last_attempt=last_attempt))
    return outcomes


def import_upload(
    ctx: Context,
    key: str,
    time_left: TimeLeft = _forever,
    *,
    continuing: str | None = None,
    last_attempt: bool = False,
) -> str:
    """Import the file at ``key`` into its batch. An invocation about to run out of time saves
    a checkpoint (after a written chunk) and sends itself a continuation: the next one reads
    the file again from the top, counting the rows already written without writing them."""
    parsed = parse_upload_key(key)
    if parsed is None:
        return "not_an_upload"
    account_id, batch_id = parsed
    batch = _begin(ctx, account_id, batch_id, continuing)
    if batch is None:
        return "nothing_to_do"
    options = batch.import_options or {}
    skip_invalid = bool(options.get("skip_invalid"))
    try:
        report = _read(ctx, batch, key, time_left, continuing=continuing)
    except ImportAbandoned:
        _abandoned(ctx, batch)
        return "abandoned"
    except ImportContinues:
        return "continues"
    except Exception as exc:
        if not last_attempt:
            if continuing is None:
                _release(ctx, batch)  # waiting again: the redelivered event takes it anew
            raise  # the queue delivers the message again (a continuation resumes its checkpoint)
        logger.exception("import of batch %s failed for good", batch.id)
        report = ImportReport(
            error=f"the import failed ({type(exc).__name__}); upload the file again to a new batch"
        )
    if report.error is None and report.invalid_rows and not skip_invalid:
        report.error = (
            f"{report.invalid_rows} invalid rows (send skip_invalid: true to import the valid ones)"
        )
    if report.error is None and not report.valid:
        report.error = "the file has no valid recipient"
    return _finish(ctx, batch, report)


def _read(
    ctx: Context, batch: Batch, key: str, time_left: TimeLeft, *, continuing: str | None
) -> ImportReport:
    """Check the file (size, and every row unless ``skip_invalid``), then write its recipients;
    the report says what was found, with ``error`` for a file that cannot be imported."""
    options = batch.import_options or {}
    region = str(options.get("default_country") or ctx.settings.default_region)
    skip_invalid = bool(options.get("skip_invalid"))
    checkpoint = _checkpoint(ctx, batch) if continuing else None
    report = ImportReport()
    try:
        if checkpoint is None and ctx.files.size(key) > ctx.settings.max_upload_bytes:
            report.error = f"the file is larger than {ctx.settings.max_upload_bytes} bytes"
        elif checkpoint is None and not skip_invalid:
            report = _validate(ctx, key, region)
        if report.error is None and (skip_invalid or not report.invalid_rows):
            report = _write(ctx, batch, key, region, time_left, checkpoint)
    except CsvFileError as exc:
        report.error = str(exc)
    return report


def _begin(ctx: Context, account_id: str, batch_id: str, continuing: str | None) -> Batch | None:
    """Take the import (waiting → importing, or one whose heartbeat stopped over), or go on
    with ours (``continuing``: its ``import_started_at``); None when it is not ours to do: no
    such batch of that account, already imported, cancelled, or taken over."""
    batch = ctx.batches.get(batch_id)
    if batch is None or batch.account_id != account_id or batch.status is not BatchStatus.DRAFT:
        return None
    if continuing is not None:
        return (
            batch
            if batch.import_status is ImportStatus.IMPORTING and batch.import_started_at == continuing
            else None
        )
    now_iso = ctx.now_iso()
    heartbeat = batch.import_heartbeat_at or batch.import_started_at
    if batch.import_status is ImportStatus.WAITING:
        return ctx.batches.take_import(batch, now_iso, stale=False)
    if (
        batch.import_status is ImportStatus.IMPORTING
        and heartbeat
        and parse_iso(heartbeat) < ctx.clock() - STALE_IMPORT
    ):
        return ctx.batches.take_import(batch, now_iso, stale=True)
    return None  # done, failed, or another import of this file is running now


def _checkpoint(ctx: Context, batch: Batch) -> ImportCheckpoint | None:
    stored = ctx.batches.import_checkpoint(batch.id)
    checkpoint = ImportCheckpoint.model_validate(stored) if stored else None
    # Only a checkpoint of this very import (a takeover starts from nothing).
    return checkpoint if checkpoint and checkpoint.started_at == batch.import_started_at else None


def _validate(ctx: Context, key: str, region: str) -> ImportReport:
    report = ImportReport()
    for result in iter_rows(ctx.files.chunks(key), region):
        if report.add(result) is not None:
            report.valid += 1
    return report


def _write(
    ctx: Context,
    batch: Batch,
    key: str,
    region: str,
    time_left: TimeLeft = _forever,
    checkpoint: ImportCheckpoint | None = None,
) -> ImportReport:
    report = ImportReport()
    done_before = 0
    if checkpoint:
        # Rows an earlier invocation wrote are counted again below, not written again.
        done_before = checkpoint.rows
        report.valid = checkpoint.valid
        report.suppressed_rows = checkpoint.suppressed_rows
        report.suppressed = list(checkpoint.suppressed)
    pending: list[CsvRecipient] = []
    has_list = ctx.suppression.any(batch.account_id)  # most accounts: no lookups at all

    def flush() -> None:
        numbers = (r.phone_number for r in pending)
        suppressed = ctx.suppression.suppressed(batch.account_id, numbers) if has_list else set()
        recipients = []
        for row in pending:
            if row.phone_number in suppressed:
                report.suppressed_rows += 1
                if len(report.suppressed) < MAX_REPORTED_IN_IMPORT:
                    report.suppressed.append(row.phone_number)
                continue
            report.valid += 1
            recipients.append(_recipient(batch.id, report.valid, row))
        ctx.batches.put_recipients(recipients, workers=WRITE_WORKERS)
        pending.clear()
        _progress(ctx, batch, report.total_rows)

    for result in iter_rows(ctx.files.chunks(key), region):
        row = report.add(result)
        if row is None or report.recipient_rows <= done_before:
            continue
        pending.append(row)
        if len(pending) >= WRITE_CHUNK:
            flush()
            if time_left() < CONTINUE_WHEN_SECONDS_LEFT:
                _continue_later(ctx, batch, key, report)
    flush()
    return report


class ImportContinues(Exception):
    """This invocation saved a checkpoint and handed the rest of the import to the next."""


def _continue_later(ctx: Context, batch: Batch, key: str, report: ImportReport) -> None:
    checkpoint = ImportCheckpoint(
        started_at=batch.import_started_at,
        rows=report.recipient_rows,
        valid=report.valid,
        suppressed_rows=report.suppressed_rows,
        suppressed=report.suppressed,
    )
    # The store keeps documents: the model's fields, as they are.
    ctx.batches.put_import_checkpoint(batch.id, checkpoint.model_dump())
    ctx.import_queue.send_continuation(key, str(batch.import_started_at))
    raise ImportContinues(batch.id)


def _recipient(batch_id: str, seq: int, row: CsvRecipient) -> Recipient:
    # The id is derived from the batch and the place, so an import run again writes the
    # very same item.
    return Recipient(
        batch_id=batch_id,
        seq=seq,
        id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"batchcalls:{batch_id}:{seq}")),
        phone_number=row.phone_number,
        name=row.name,
        sort_order=seq - 1,
        timezone=row.timezone,
        variables=dict(row.variables),
    )


class ImportAbandoned(Exception):
    """The batch was cancelled (or its import taken over) while the file was being read."""


def _release(ctx: Context, batch: Batch) -> None:
    ctx.batches.hand_back_import(batch)


def _abandoned(ctx: Context, batch: Batch) -> None:
    """Cancelled while importing: the import is over (failed), and the chunk written after the
    cancel's own skipping is skipped by the scheduler (the batch is made due)."""
    ctx.batches.fail_cancelled_import(batch, ctx.now_iso())


def _progress(ctx: Context, batch: Batch, rows_read: int) -> None:
    if ctx.batches.record_import_progress(batch, rows_read, ctx.now_iso()) is None:
        raise ImportAbandoned(batch.id)


def _finish(ctx: Context, batch: Batch, report: ImportReport) -> str:
    ctx.batches.put_import_report(batch.id, report.summary().model_dump())
    result = (
        ImportResult(ImportStatus.FAILED)
        if report.error
        else ImportResult(
            ImportStatus.COMPLETED,
            total_recipients=report.valid,
            duplicates_dropped=report.tally.duplicate_rows,
            suppressed_dropped=report.suppressed_rows,
            rows_read=report.total_rows,
        )
    )
    done = ctx.batches.finish_import(batch, result, ctx.now_iso())
    if done is None:
        return "abandoned"
    if report.error:
        metric("ImportsFailed")
        logger.info("import of batch %s failed: %s", batch.id, report.error)
        return ImportStatus.FAILED.value
    metric("ImportRows", report.total_rows)
    if done.start_after_import:
        start_draft(ctx, done)
    return ImportStatus.COMPLETED.value
