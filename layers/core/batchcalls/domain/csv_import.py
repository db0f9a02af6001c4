"""Recipient lists uploaded as CSV: parse, validate and normalise them (pure, no I/O).

The file
    UTF-8, with or without a byte-order mark, given as ``bytes`` (or chunks of bytes) or as
    ``str`` (or lines of text). The delimiter is a comma, a semicolon or a tab, whichever
    occurs most often outside quotes in the header row (a comma when there is a tie or none).
    Fields may be quoted, with the delimiter, ``""`` and line breaks inside the quotes. Line
    endings may be CRLF, LF or CR. Blank lines, and rows of nothing but delimiters and
    whitespace, are ignored.

The header row
    Its names are compared case-insensitively with surrounding whitespace stripped, and runs
    of spaces, hyphens and underscores read as one ``_``: "Phone Number", " PHONE_NUMBER " and
    "phone-number" all mean ``phone_number``. The columns it recognises:

    * phone: the first non-empty of ``phone_number``, ``phone``, ``mobile``, ``cell``,
      ``telephone``, ``phonenumber``, ``mobile_number``, ``cell_phone`` (``PHONE_COLUMNS``, in
      that order). A non-empty but invalid value is an error, even if a later column has a
      good number. ``number`` alone is not accepted: it is as likely an account or house
      number, which would silently be dialed instead of becoming a variable.
    * name: the first non-empty of ``name``, ``full_name``; else the first non-empty of
      ``first_name``, ``firstname``, ``given_name`` and of ``last_name``, ``lastname``,
      ``surname``, ``family_name``, joined with a space.
    * timezone: ``timezone``, ``time_zone`` or ``tz``: an IANA zone (``America/New_York``),
      matched case-insensitively and returned as spelled by the tz database.

    Every other named column becomes a recipient variable, keyed by its normalised name (so
    "Account ID" is ``account_id``); empty values are left out. The columns above are never
    variables (not even ``first_name`` when ``name`` is used). A column with an empty header
    cell is ignored. No phone column, or two columns with the same normalised name, is a
    ``CsvFileError``; so is an encoding error, a quote that is never closed, or a field over
    the ``csv`` module's limit of 128 KiB (which usually is an unclosed quote too).

Rows
    ``row`` is the row number a spreadsheet shows for the record: the header is row 1 and
    the first data row is row 2 (blank lines count, as the empty rows a spreadsheet shows; a
    record with line breaks inside quotes is one row). Every value is stripped of surrounding
    whitespace. A row with fewer fields than the header has the missing ones empty; one with
    more non-empty fields than the header is an error (trailing empty fields are ignored).
    Numbers are normalised to E.164 by ``batchcalls.domain.phone.to_e164``; a number already
    accepted on an earlier row is a duplicate, even when written differently.

Streaming
    ``iter_rows`` reads lines lazily and yields one result per row (several ``RowError`` for a
    row with several problems), so memory stays constant apart from the numbers seen (for the
    duplicates). ``parse_csv`` collects the results into a ``CsvReport``.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from batchcalls.domain.phone import InvalidPhoneNumber, region_code, to_e164

PHONE_COLUMNS = (
    "phone_number",
    "phone",
    "mobile",
    "cell",
    "telephone",
    "phonenumber",
    "mobile_number",
    "cell_phone",
)
NAME_COLUMNS = ("name", "full_name")
FIRST_NAME_COLUMNS = ("first_name", "firstname", "given_name")
LAST_NAME_COLUMNS = ("last_name", "lastname", "surname", "family_name")
TIMEZONE_COLUMNS = ("timezone", "time_zone", "tz")

TEMPLATE_COLUMNS = ("name", "first_name", "last_name", "phone_number", "timezone", "company")
TEMPLATE_EXAMPLE = ("Jane Doe", "Jane", "Doe", "+14155550123", "America/Los_Angeles", "Acme Inc")

DELIMITERS = (",", ";", "\t")  # in order of preference on a tie
CHUNK_BYTES = 64 * 1024
_HEADER_SCAN_LIMIT = 1 << 20  # characters read looking for the end of a header row
_BLANK_CHARS = ' \t\r\n,;"\ufeff'  # a line or row of only these is blank
_SEPARATORS = re.compile(r"[\s_\-]+")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)")
_DIGITS = re.compile(r"\d")


class CsvFileError(ValueError):
    """The file as a whole cannot be read as a recipient list (no row can be trusted)."""


@dataclass(frozen=True, slots=True)
class CsvRecipient:
    row: int
    phone_number: str  # E.164
    name: str | None = None
    variables: dict[str, str] = field(default_factory=dict)
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str  # the header as written in the file (stripped); "" for the row as a whole
    reason: str


@dataclass(frozen=True, slots=True)
class DuplicateRow:
    row: int
    phone_number: str  # E.164
    first_row: int  # the row that was kept


@dataclass(frozen=True, slots=True)
class CsvReport:
    """``invalid`` and ``duplicates`` hold at most ``limit_errors`` entries each (in file
    order); ``invalid_rows`` and ``duplicate_rows`` count them all, so
    ``total_rows == len(recipients) + invalid_rows + duplicate_rows``."""

    recipients: list[CsvRecipient]
    invalid: list[RowError]
    duplicates: list[DuplicateRow]
    total_rows: int  # data rows that are not blank
    invalid_rows: int
    duplicate_rows: int
    truncated: bool = False  # some errors or duplicates were left out of the lists


RowResult = CsvRecipient | RowError | DuplicateRow


def normalize_header(text: str) -> str:
    """``" Phone-Number "`` → ``phone_number``."""
    return _SEPARATORS.sub("_", text.strip().lower())


def template_csv() -> str:
    """The downloadable template: the header and one example row (CRLF, as RFC 4180)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(TEMPLATE_COLUMNS)
    writer.writerow(TEMPLATE_EXAMPLE)
    return out.getvalue()


@dataclass(slots=True)
class RowTally:
    """Counts a file's problems as ``iter_rows`` yields them: a row with several errors is one
    invalid row; ``invalid`` and ``duplicates`` keep the first ``limit`` of each (all are
    counted), ``truncated`` says some were left out."""

    limit: int | None = 1000
    invalid: list[RowError] = field(default_factory=list)
    duplicates: list[DuplicateRow] = field(default_factory=list)
    invalid_rows: int = 0
    duplicate_rows: int = 0
    truncated: bool = False
    _last_invalid_row: int = 0

    def add(self, result: RowResult) -> CsvRecipient | None:
        """Tally ``result``; the recipient if it is one."""
        if type(result) is CsvRecipient:
            return result
        if type(result) is RowError:
            if result.row != self._last_invalid_row:
                self.invalid_rows += 1
                self._last_invalid_row = result.row
            self._keep(self.invalid, result)
        elif type(result) is DuplicateRow:
            self.duplicate_rows += 1
            self._keep(self.duplicates, result)
        return None

    def _keep(self, kept: list[Any], result: Any) -> None:
        if self.limit is None or len(kept) < self.limit:
            kept.append(result)
        else:
            self.truncated = True


def parse_csv(
    data: str | bytes | Iterable[str] | Iterable[bytes],
    default_region: str = "US",
    limit_errors: int | None = 1000,
) -> CsvReport:
    """Read a whole recipient list (see the module docstring); raises ``CsvFileError``."""
    recipients: list[CsvRecipient] = []
    tally = RowTally(limit=limit_errors)
    for result in iter_rows(data, default_region):
        if (recipient := tally.add(result)) is not None:
            recipients.append(recipient)
    return CsvReport(
        recipients=recipients,
        invalid=tally.invalid,
        duplicates=tally.duplicates,
        total_rows=len(recipients) + tally.invalid_rows + tally.duplicate_rows,
        invalid_rows=tally.invalid_rows,
        duplicate_rows=tally.duplicate_rows,
        truncated=tally.truncated,
    )


def iter_rows(
    source: str | bytes | Iterable[str] | Iterable[bytes], default_region: str = "US"
) -> Iterator[RowResult]:
    """Yield, row by row in file order, a ``CsvRecipient``, a ``DuplicateRow`` or one
    ``RowError`` per problem of the row. ``source`` is the whole text or bytes, lines of text
    with their line endings (a file opened with ``newline=""``; without the endings, line
    breaks inside quoted fields are lost), or chunks of bytes of any size (a binary file, an
    S3 body's ``iter_chunks()``). Raises ``CsvFileError`` (on the first ``next`` for problems
    of the header, later for an encoding error or an unclosed quote further on) and
    ``ValueError`` at once for an unknown ``default_region``."""
    return _results(_text_lines(source), region_code(default_region))


def decode_lines(chunks: Iterable[bytes | bytearray | memoryview]) -> Iterator[str]:
    """UTF-8 bytes (a BOM is dropped) in chunks of any size → lines with their endings.
    Raises ``CsvFileError`` naming the byte offset (from 0) and the line of the first byte
    that is not UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes given to the decoder so far
    lines = 0  # line breaks yielded so far
    pending = ""  # text after the last line break
    started = False  # a BOM can only be the first character
    for chunk in chunks:
        if not chunk:
            continue
        held = decoder.getstate()[0]  # bytes of a character split across chunks
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise _decode_error(exc, offset - len(held), held + bytes(chunk), pending, lines) from None
        offset += len(chunk)
        if not started and text:
            started = True
            if text[0] == "\ufeff":
                text = text[1:]
        buffer = pending + text
        # A final CR may be the first half of a CRLF: keep it for the next chunk.
        cut = len(buffer) - 1 if buffer.endswith("\r") else len(buffer)
        end = 0
        for match in _LINE.finditer(buffer, 0, cut):
            end = match.end()
            lines += 1
            yield match.group()
        pending = buffer[end:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        held = decoder.getstate()[0]
        raise _decode_error(exc, offset - len(held), held, pending, lines) from None
    if pending:
        yield pending


def _decode_error(exc: UnicodeDecodeError, base: int, data: bytes, pending: str, lines: int) -> CsvFileError:
    before = pending + data[: exc.start].decode("utf-8", "replace")
    line = lines + before.count("\n") + before.count("\r") - before.count("\r\n") + 1
    bad = data[exc.start : exc.start + 1].hex().upper()
    return CsvFileError(
        f"the file is not UTF-8: byte 0x{bad} at offset {base + exc.start} (line {line}); "
        "save it as 'CSV UTF-8'"
    )


def _text_lines(source: str | bytes | Iterable[str] | Iterable[bytes]) -> Iterator[str]:
    if isinstance(source, str):
        return _str_lines(source)
    if isinstance(source, bytes | bytearray | memoryview):
        data = memoryview(source)
        return decode_lines(data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES))
    items: Iterator[Any] = iter(source)  # of str or of bytes, as the first one shows
    first = next(items, None)
    if first is None:
        return iter(())
    if isinstance(first, bytes | bytearray | memoryview):
        return decode_lines(chain([first], items))
    if not isinstance(first, str):
        raise TypeError(f"expected lines of text or chunks of bytes, got {type(first).__name__}")
    return chain([first.removeprefix("\ufeff")], items)


def _str_lines(text: str) -> Iterator[str]:
    end = 1 if text.startswith("\ufeff") else 0
    for match in _LINE.finditer(text, end):
        end = match.end()
        yield match.group()
    if end < len(text):
        yield text[end:]


def detect_delimiter(header_line: str) -> str:
    """The most frequent of comma, semicolon and tab outside quotes (comma on a tie)."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    return max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first of equals


@lru_cache(maxsize=1024)
def canonical_timezone(text: str) -> str | None:
    """``text`` as an IANA zone name, matched case-insensitively; None if it is not one."""
    try:
        ZoneInfo(text)
        return text
    except (ZoneInfoNotFoundError, ValueError):
        pass
    return _zones_by_lower_name().get(text.lower())


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones()}


@dataclass(slots=True)
class _Header:
    width: int
    phone: list[tuple[int, str]]  # (index, header as written), in PHONE_COLUMNS order
    name: list[int]
    first_name: list[int]
    last_name: list[int]
    timezone: tuple[int, str] | None
    variables: list[tuple[int, str]]  # (index, normalised name)


def _results(lines: Iterator[str], region: str) -> Iterator[RowResult]:
    # Find the header row's text (up to its closing quote) to choose the delimiter.
    scanned: list[str] = []
    header_text = ""
    for line in lines:
        scanned.append(line)
        if not header_text and not line.strip(_BLANK_CHARS).strip():
            continue
        header_text += line
        if header_text.count('"') % 2 == 0 or len(header_text) > _HEADER_SCAN_LIMIT:
            break
    if not header_text:
        raise CsvFileError("the file is empty: the first row must be the header (download the template)")
    delimiter = detect_delimiter(header_text)

    exhausted = False  # the reader asked for a line after the last one

    def feed(lines: Iterator[str]) -> Iterator[str]:
        nonlocal exhausted
        yield from lines
        exhausted = True

    reader = csv.reader(feed(chain(scanned, lines)), delimiter=delimiter, skipinitialspace=True)
    header: _Header | None = None
    seen: dict[int, int] = {}  # E.164 digits → first row (an int is smaller than a str)
    row = 0
    last_line = 0
    try:
        for fields in reader:
            row += 1
            if exhausted:  # so this record was ended by the end of the file, inside quotes
                raise CsvFileError(f'row {row}: the quote (") opened on line {last_line + 1} is never closed')
            last_line = reader.line_num
            if not "".join(fields).strip(_BLANK_CHARS).strip():
                continue
            if header is None:
                header = _read_header(fields)
            else:
                result = _row(fields, row, header, region, seen)
                if isinstance(result, list):
                    yield from result
                else:
                    yield result
    except csv.Error as exc:
        raise CsvFileError(
            f'line {reader.line_num}: {exc} (is a quote (") left open on line {last_line + 1}?)'
        ) from None


def _read_header(fields: list[str]) -> _Header:
    written = [f.strip() for f in fields]
    names = [normalize_header(f) for f in fields]
    by_name: dict[str, int] = {}
    duplicates: list[str] = []
    for index, name in enumerate(names):
        if not name:
            continue
        if name in by_name:
            duplicates.append(f"'{written[by_name[name]]}' and '{written[index]}' (both {name})")
        else:
            by_name[name] = index
    if duplicates:
        raise CsvFileError("the header names a column twice: " + "; ".join(duplicates))
    phone = [(by_name[n], written[by_name[n]]) for n in PHONE_COLUMNS if n in by_name]
    if not phone:
        hint = ""
        if any(len(_DIGITS.findall(f)) >= 7 for f in written):
            hint = "; the first row looks like data: add a header row (download the template)"
        found = ", ".join(f"'{w}'" for w in written if w) or "nothing"
        raise CsvFileError(
            "no phone number column: the header row must have one of "
            + ", ".join(PHONE_COLUMNS)
            + f" (found {found}){hint}"
        )
    timezone_index = next((by_name[n] for n in TIMEZONE_COLUMNS if n in by_name), None)
    known = {*PHONE_COLUMNS, *NAME_COLUMNS, *FIRST_NAME_COLUMNS, *LAST_NAME_COLUMNS, *TIMEZONE_COLUMNS}
    return _Header(
        width=len(fields),
        phone=phone,
        name=[by_name[n] for n in NAME_COLUMNS if n in by_name],
        first_name=[by_name[n] for n in FIRST_NAME_COLUMNS if n in by_name],
        last_name=[by_name[n] for n in LAST_NAME_COLUMNS if n in by_name],
        timezone=None if timezone_index is None else (timezone_index, written[timezone_index]),
        variables=[(i, n) for n, i in by_name.items() if n not in known],
    )


def _first(fields: list[str], indexes: list[int]) -> str:
    for index in indexes:
        value = fields[index].strip()
        if value:
            return value
    return ""


def _row(
    fields: list[str], row: int, header: _Header, region: str, seen: dict[int, int]
) -> CsvRecipient | DuplicateRow | list[RowError]:
    count = len(fields)
    if count > header.width:
        used = count
        while not fields[used - 1].strip():
            used -= 1
        if used > header.width:
            return [RowError(row, "", f"has {used} fields, the header has {header.width}")]
    elif count < header.width:
        fields = fields + [""] * (header.width - count)

    errors: list[RowError] = []
    raw, phone_column = "", header.phone[0][1]
    for index, column in header.phone:
        value = fields[index].strip()
        if value:
            raw, phone_column = value, column
            break
    phone_number = ""
    if not raw:
        errors.append(RowError(row, phone_column, "is empty"))
    else:
        try:
            phone_number = to_e164(raw, region)
        except InvalidPhoneNumber as exc:
            errors.append(RowError(row, phone_column, str(exc)))

    timezone: str | None = None
    if header.timezone is not None:
        zone = fields[header.timezone[0]].strip()
        if zone:
            timezone = canonical_timezone(zone)
            if timezone is None:
                errors.append(
                    RowError(
                        row, header.timezone[1], f"'{zone}' is not an IANA time zone (e.g. America/New_York)"
                    )
                )
    if errors:
        return errors

    digits = int(phone_number[1:])
    first_row = seen.get(digits)
    if first_row is not None:
        return DuplicateRow(row, phone_number, first_row)
    seen[digits] = row

    name = _first(fields, header.name)
    if not name:
        name = " ".join(
            part for part in (_first(fields, header.first_name), _first(fields, header.last_name)) if part
        )
    variables = {key: value for index, key in header.variables if (value := fields[index].strip())}
    return CsvRecipient(row, phone_number, name or None, variables, timezone)
