"""``GET /batch-calls/{id}/export.csv``: one row per recipient, written page by page to a
spooled file (memory up to 8 MiB, then /tmp) and uploaded to S3; the answer is a presigned URL
to it. An API response cannot carry a big file (6 MB through Lambda), and the URL lets the
download run straight from S3."""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
from datetime import timedelta
from typing import Any

from batchcalls.domain.billing import dollars
from batchcalls.domain.clock import iso
from batchcalls.domain.csv_cells import spreadsheet_safe
from batchcalls.domain.errors import Conflict
from batchcalls.models.api import ExportResponse
from batchcalls.models.domain import Recipient
from batchcalls.services.access import get_owned_batch
from batchcalls.services.context import Context
from batchcalls.store.files import export_key

COLUMNS = (
    "phone_number",
    "name",
    "status",
    "error_message",
    "attempts",
    "answered_by",
    "duration_seconds",
    "cost",
    "cost_micros",
    "attempted_at",
    "answered_at",
    "completed_at",
    "next_attempt_at",
    "call_id",
    "timezone",
    "sort_order",
    "recipient_id",
    "variables",
)
_MODEL_COLUMNS = set(COLUMNS)  # built once: export_row runs per recipient
SPOOL_BYTES = 8 << 20


def export_row(recipient: Recipient) -> list[Any]:
    values: dict[str, Any] = {
        **recipient.model_dump(include=_MODEL_COLUMNS),
        "status": recipient.status.value,
        "cost": dollars(recipient.cost_micros),
        "recipient_id": recipient.id,
        # One column for every variable name a list may have: JSON, so nothing is lost.
        "variables": json.dumps(recipient.variables, ensure_ascii=False, sort_keys=True)
        if recipient.variables
        else "",
    }
    return [_cell(values.get(name)) for name in COLUMNS]


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    # Names and provider messages come from outside: none may run as a formula.
    return spreadsheet_safe(value) if isinstance(value, str) else value


def export_batch(ctx: Context, account_id: str, batch_id: str) -> ExportResponse:
    batch = get_owned_batch(ctx, account_id, batch_id)
    limit = ctx.settings.export_max_recipients
    if batch.total_recipients > limit:
        raise Conflict(
            f"Batch has {batch.total_recipients} recipients; export.csv serves up to {limit}. "
            "Page through GET /batch-calls/{id}/recipients instead"
        )
    now = ctx.clock()
    key = export_key(account_id, batch.id, now.strftime("%Y%m%dT%H%M%S%fZ"))
    rows = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        for recipient in ctx.recipients.in_batch(batch.id):
            writer.writerow(export_row(recipient))
            rows += 1
        text.flush()
        text.detach()  # keep the spool open for the upload
        spool.seek(0)
        ctx.files.upload(key, spool, "text/csv; charset=utf-8")
    expires = ctx.settings.export_url_expires_seconds
    filename = f"{_slug(batch.name)}-{batch.id[:8]}.csv"
    return ExportResponse(
        url=ctx.files.presign_get(key, filename, expires),
        expires_at=iso(now + timedelta(seconds=expires)),
        rows=rows,
    )


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()[:60] or "batch"
