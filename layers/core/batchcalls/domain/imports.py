"""An uploaded recipient file's import, as the batch records it (pure, no AWS)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ImportStatus(StrEnum):
    """``import_status`` of a batch made by ``POST /batch-calls/uploads``."""

    WAITING = "waiting_for_upload"  # the presigned PUT has not come (or an attempt gave it back)
    IMPORTING = "importing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """How an import ended: failed, or completed with these counts for the batch."""

    status: ImportStatus
    total_recipients: int = 0
    duplicates_dropped: int = 0
    suppressed_dropped: int = 0
    rows_read: int = 0
