"""The account's suppression (do-not-call) list: add numbers (a JSON list or a CSV file with
the recipient template's phone columns), remove one, page through them. Every number is
normalised to E.164 first, so "+1 (415) 555-0101" and "4155550101" are one entry."""

from __future__ import annotations

from urllib.parse import unquote

from batchcalls.domain.csv_import import MAX_REPORTED, CsvFileError, TooManyRows, parse_csv
from batchcalls.domain.errors import InvalidRequest, NotFound, invalid_cursor
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164
from batchcalls.models.api import (
    SuppressedNumberOut,
    SuppressionAdded,
    SuppressionAddRequest,
    SuppressionPage,
)
from batchcalls.services.context import Context

MAX_ROWS = 10_000  # per request, as create's list: written inside the API's 29 s


def add_numbers(ctx: Context, account_id: str, request: SuppressionAddRequest) -> SuppressionAdded:
    region = (request.default_country or ctx.settings.default_region).upper()
    numbers: list[str] = []
    invalid: list[dict[str, str]] = []
    for index, raw in enumerate(request.numbers or []):
        try:
            numbers.append(to_e164(raw, region))
        except InvalidPhoneNumber as exc:
            invalid.append({"field": f"numbers[{index}]", "message": str(exc)})
    if request.csv is not None:
        try:
            # Only the numbers count here: a long note or a bad time zone beside one must not
            # leave it off the do-not-call list.
            report = parse_csv(request.csv, region, MAX_REPORTED, max_rows=MAX_ROWS, phones_only=True)
        except TooManyRows as exc:
            message = f"{exc}; at most {MAX_ROWS} per request"
            raise InvalidRequest(f"csv {message}", [{"field": "csv", "message": message}]) from exc
        except (CsvFileError, ValueError) as exc:
            raise InvalidRequest(f"csv {exc}", [{"field": "csv", "message": str(exc)}]) from exc
        numbers.extend(row.phone_number for row in report.recipients)
        invalid.extend(
            {"field": f"csv row {e.row}" + (f" column '{e.column}'" if e.column else ""), "message": e.reason}
            for e in report.invalid
        )
    if invalid and not request.skip_invalid:
        first = invalid[0]
        more = f" (and {len(invalid) - 1} more)" if len(invalid) > 1 else ""
        raise InvalidRequest(
            f"{first['field']} {first['message']}{more}; nothing was added (send skip_invalid: true to add the rest)",
            invalid[:MAX_REPORTED],
        )
    unique = list(dict.fromkeys(numbers))
    ctx.suppression.add(account_id, unique, ctx.now_iso(), request.reason)
    return SuppressionAdded(added=len(unique), invalid=invalid[:MAX_REPORTED], invalid_count=len(invalid))


def remove_number(ctx: Context, account_id: str, raw: str) -> str:
    """Take the number off the list; the number as E.164 (404 if it was not on it)."""
    e164 = _number(ctx, raw)
    if not ctx.suppression.remove(account_id, e164):
        raise NotFound(f"{e164} is not on the suppression list")
    return e164


def get_number(ctx: Context, account_id: str, raw: str) -> str:
    """The number as E.164 if it is on the list (404 if not)."""
    e164 = _number(ctx, raw)
    if not ctx.suppression.suppressed(account_id, [e164]):
        raise NotFound(f"{e164} is not on the suppression list")
    return e164


def page(ctx: Context, account_id: str, limit: int, cursor: str | None) -> SuppressionPage:
    """A page of the list; an entry added without a reason has none (unset, so left out)."""
    try:
        entries, next_cursor = ctx.suppression.page(account_id, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise invalid_cursor(str(exc)) from exc
    return SuppressionPage(
        numbers=[SuppressedNumberOut.model_validate(entry) for entry in entries], next_cursor=next_cursor
    )


def _number(ctx: Context, raw: str) -> str:
    # The number arrives in the path, percent-encoded ("%2B1415…") or not.
    try:
        return to_e164(unquote(raw), ctx.settings.default_region)
    except InvalidPhoneNumber as exc:
        raise InvalidRequest(f"phone_number {exc}", [{"field": "phone_number", "message": str(exc)}]) from exc
