"""A batch's recipient list from the request — the JSON list or CSV text — as recipients plus
a report: invalid entries (row, column, reason), duplicates dropped, and the totals."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from batchcalls.domain.csv_import import MAX_REPORTED, CsvFileError, TooManyRows, parse_csv
from batchcalls.domain.errors import InvalidRequest
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164
from batchcalls.models.api import BatchSpec
from batchcalls.models.domain import Recipient
from batchcalls.models.results import RecipientReport


@dataclass
class RecipientList:
    recipients: list[Recipient]
    total_rows: int
    invalid_rows: int = 0
    invalid: list[dict[str, Any]] = field(default_factory=list)  # {row, column, reason}
    duplicates: list[dict[str, Any]] = field(default_factory=list)  # {row, phone_number, first_row}
    duplicate_rows: int = 0
    suppressed: list[str] = field(default_factory=list)  # numbers on the do-not-call list

    def leave_out_suppressed(self, numbers: set[str]) -> None:
        """Drop recipients whose number is on the account's do-not-call list (reported);
        the rest are numbered again so their keys stay dense."""
        if not numbers:
            return
        kept = [r for r in self.recipients if r.phone_number not in numbers]
        self.suppressed = [r.phone_number for r in self.recipients if r.phone_number in numbers]
        self.recipients = [r.model_copy(update={"seq": seq}) for seq, r in enumerate(kept, start=1)]

    def report(self) -> RecipientReport:
        return RecipientReport(
            total_rows=self.total_rows,
            valid=len(self.recipients),
            invalid_rows=self.invalid_rows,
            invalid=self.invalid,
            duplicate_rows=self.duplicate_rows,
            duplicates=self.duplicates,
            suppressed_rows=len(self.suppressed),
            suppressed=self.suppressed[:MAX_REPORTED],
        )

    def require_valid(self, skip_invalid: bool) -> None:
        """400 with the report's problems, unless the client asked to leave bad rows out."""
        if not self.recipients:
            left_out = [
                f"{count} {what}"
                for count, what in ((self.invalid_rows, "invalid"), (len(self.suppressed), "suppressed"))
                if count
            ]
            message = "has no valid recipient" + (f" ({', '.join(left_out)})" if left_out else "")
            raise InvalidRequest(
                f"recipients {message}",
                _details(self.invalid) or [{"field": "recipients", "message": message}],
            )
        if self.invalid_rows and not skip_invalid:
            first = self.invalid[0]
            more = f" (and {self.invalid_rows - 1} more invalid)" if self.invalid_rows > 1 else ""
            raise InvalidRequest(
                f"{_field(first)} {first['reason']}{more}; send skip_invalid: true to create without them",
                _details(self.invalid),
            )


def _field(problem: dict[str, Any]) -> str:
    if "field" in problem:
        return str(problem["field"])
    return f"recipients_csv row {problem['row']}" + (
        f" column '{problem['column']}'" if problem["column"] else ""
    )


def _details(invalid: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"field": _field(p), "message": p["reason"]} for p in invalid]


def recipient_list(
    request: BatchSpec, batch_id: str, now_iso: str, default_region: str, *, max_csv_rows: int
) -> RecipientList:
    """``max_csv_rows``: ``recipients_csv`` is refused (400) at its first data row past this,
    before the rest is read (settings.max_recipients_per_request)."""
    region = (request.default_country or default_region).upper()
    if request.recipients_csv is not None:
        return _from_csv(request.recipients_csv, batch_id, now_iso, region, max_csv_rows)
    return _from_json(request, batch_id, now_iso, region)


def _recipient(batch_id: str, seq: int, now_iso: str, **fields: Any) -> Recipient:
    return Recipient(batch_id=batch_id, seq=seq, id=str(uuid.uuid4()), updated_at=now_iso, **fields)


def _from_json(request: BatchSpec, batch_id: str, now_iso: str, region: str) -> RecipientList:
    out = RecipientList(recipients=[], total_rows=len(request.recipients or []))
    first_seen: dict[str, int] = {}
    for index, given in enumerate(request.recipients or []):
        try:
            e164 = to_e164(given.phone_number, region)
        except InvalidPhoneNumber as exc:
            out.invalid_rows += 1
            if len(out.invalid) < MAX_REPORTED:
                out.invalid.append(
                    {
                        "row": index,
                        "column": "phone_number",
                        "reason": str(exc),
                        "field": f"recipients[{index}].phone_number",
                    }
                )
            continue
        if e164 in first_seen:
            out.duplicate_rows += 1
            if len(out.duplicates) < MAX_REPORTED:
                out.duplicates.append({"row": index, "phone_number": e164, "first_row": first_seen[e164]})
            continue
        first_seen[e164] = index
        out.recipients.append(
            _recipient(
                batch_id,
                len(out.recipients) + 1,
                now_iso,
                phone_number=e164,
                name=given.name,
                sort_order=given.sort_order if given.sort_order is not None else index,
                timezone=given.timezone,
                variables=given.variables or {},
            )
        )
    return out


def _from_csv(text: str, batch_id: str, now_iso: str, region: str, max_rows: int) -> RecipientList:
    try:
        report = parse_csv(text, default_region=region, limit_errors=MAX_REPORTED, max_rows=max_rows)
    except TooManyRows as exc:
        message = f"{exc}; upload bigger lists with POST /batch-calls/uploads"
        raise InvalidRequest(
            f"recipients_csv {message}", [{"field": "recipients_csv", "message": message}]
        ) from exc
    except CsvFileError as exc:
        raise InvalidRequest(
            f"recipients_csv {exc}", [{"field": "recipients_csv", "message": str(exc)}]
        ) from exc
    except ValueError as exc:  # an unknown default_country
        raise InvalidRequest(
            f"default_country {exc}", [{"field": "default_country", "message": str(exc)}]
        ) from exc
    return RecipientList(
        recipients=[
            _recipient(
                batch_id,
                seq,
                now_iso,
                phone_number=row.phone_number,
                name=row.name,
                sort_order=seq - 1,
                timezone=row.timezone,
                variables=dict(row.variables),
            )
            for seq, row in enumerate(report.recipients, start=1)
        ],
        total_rows=report.total_rows,
        invalid_rows=report.invalid_rows,
        invalid=[{"row": e.row, "column": e.column, "reason": e.reason} for e in report.invalid],
        duplicates=[
            {"row": d.row, "phone_number": d.phone_number, "first_row": d.first_row}
            for d in report.duplicates
        ],
        duplicate_rows=report.duplicate_rows,
    )
