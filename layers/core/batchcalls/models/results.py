"""What the use cases answer, in domain words. Services return these (or the entities of
``models/domain.py``); ``api/`` — and the operator CLI — turn them into JSON, with the
response models and ``*_out`` functions of ``models/api.py``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from batchcalls.models.domain import Account, Agent, Batch, CallerNumber, Recipient

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, and the cursor of the next (None: this is the last)."""

    items: list[T]
    next_cursor: str | None


@dataclass(frozen=True)
class RecipientPage(Page[Recipient]):
    server_time: str  # the next poll's updated_since


class RecipientReport(BaseModel):
    """What became of a recipient list's rows (every one counted, the first ones of each kind
    listed): kept (``valid``), invalid, duplicates of an earlier row, on the do-not-call list."""

    total_rows: int
    valid: int
    invalid_rows: int
    invalid: list[dict[str, Any]] = Field(description="{row, column, reason} (the first 1,000; imports: 500)")
    duplicate_rows: int
    duplicates: list[dict[str, Any]] = Field(
        description="{row, phone_number, first_row} (the first 1,000; imports: 500)"
    )
    suppressed_rows: int
    suppressed: list[str] = Field(
        description="numbers on the do-not-call list, left out (the first 1,000; imports: 500)"
    )


class ImportSummary(RecipientReport):
    """An uploaded file's import, as kept beside its batch: its import_report."""

    error: str | None  # why nothing was imported (a bad file, invalid rows without skip_invalid…)


class ImportCheckpoint(BaseModel):
    """Where an import that ran out of time stopped: the next invocation counts these rows
    again without writing them."""

    started_at: str | None = None  # the import's import_started_at (a takeover starts anew)
    rows: int  # valid rows read (written or suppressed)
    valid: int
    suppressed_rows: int
    suppressed: list[str]


@dataclass(frozen=True)
class NewUpload:
    """A draft waiting for its recipient file, and where to PUT that file."""

    batch: Batch
    url: str  # presigned for a PUT with Content-Type ``content_type``
    content_type: str
    expires_at: str
    max_bytes: int


@dataclass(frozen=True)
class AccountView:
    """The account as its owner sees it."""

    account: Account
    timezone: str  # the account's, or the default in effect
    balance_micros: int
    dial_fee_micros: int
    caller_ids: list[CallerNumber]
    agents: list[Agent]


@dataclass(frozen=True)
class TopUp:
    balance_micros: int  # after the top-up
    resumed: list[str]  # batches paused for insufficient credits that it resumed
    applied: bool  # False: a top-up with the same ref was applied before


class SettleResult(BaseModel):
    """What a pass left the batch as: the settle task's output, which ends the execution."""

    status: str
    pending: int | None = None
    paused_reason: str | None = None
    in_call: int | None = None
