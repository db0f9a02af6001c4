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
    cell is ignored. No phone column, two columns with the same normalised name, or a
    variable's name over ``MAX_VARIABLE_NAME_CHARS`` is a ``CsvFileError``; so is an encoding
    error, a quote that is never closed, a field over the ``csv`` module's limit of 128 KiB,
    or a line or row over ``MAX_ROW_CHARS`` (1 MiB; these usually are an unclosed quote too).

Rows
    ``row`` is the row number a spreadsheet shows for the record: the header is row 1 and
    the first data row is row 2 (blank lines count, as the empty rows a spreadsheet shows; a
    record with line breaks inside quotes is one row). Every value is stripped of surrounding
    whitespace. A row with fewer fields than the header has the missing ones empty; one with
    more non-empty fields than the header is an error (trailing empty fields are ignored).
    Numbers are normalised to E.164 by ``batchcalls.domain.phone.to_e164``; a number already
    accepted on an earlier row is a duplicate, even when written differently. A row gets the
    limits of a JSON recipient (``batchcalls.domain.recipient_limits``): a phone number over
    40 characters as written, a name over 200 (``name``, or first and last joined), a
    variable's value over 1,000 or more than 50 variables is a ``RowError`` naming the column
    (the row as a whole for the count) and the limit.

Streaming
    ``iter_rows`` reads lines lazily and yields one result per row (several ``RowError`` for a
    row with several problems), so memory stays constant apart from the numbers seen (for the
    duplicates). ``parse_csv`` collects the results into a ``CsvReport``, and stops with
    ``TooManyRows`` at the first data row past its ``max_rows``. Lines are found by searching
    for line breaks, so the time is linear in the file, however long a line is.
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
from batchcalls.domain.recipient_limits import (
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_TIMEZONE_CHARS,
    MAX_VARIABLE_CHARS,
    MAX_VARIABLE_NAME_CHARS,
    MAX_VARIABLES,
)

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

# Invalid rows, duplicates (and suppressed numbers) a report lists; all of them are counted.
MAX_REPORTED = 1000
DELIMITERS = (",", ";", "\t")  # in order of preference on a tie
CHUNK_BYTES = 64 * 1024
# A line or a record longer than this is a CsvFileError: no recipient's row is near that long
# (what a recipient keeps of it is about 51,000 characters at most), and it keeps a file without
# line breaks, or a record of endless fields, from being held whole.
MAX_ROW_CHARS = 1 << 20
_HEADER_SCAN_LIMIT = MAX_ROW_CHARS  # characters read looking for the end of a header row
_BLANK_CHARS = ' \t\r\n,;"\ufeff'  # a line or row of only these is blank
_SEPARATORS = re.compile(r"[\s_\-]+")
# Searched for, never matched line by line: a pattern matching a whole line ([^\r\n]*…) fails
# from every start in a long text without a break, which is quadratic.
_LINE_BREAK = re.compile(r"\r\n?|\n")
_DIGITS = re.compile(r"\d")
_SHOWN_CHARS = 60  # of a value quoted in a message


class CsvFileError(ValueError):
    """The file as a whole cannot be read as a recipient list (no row can be trusted)."""


class TooManyRows(CsvFileError):
    """The file has more data rows than the reader was told to take (``max_rows``)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"has more than {limit} rows")
        self.limit = limit


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

    limit: int | None = MAX_REPORTED
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
    *,
    max_rows: int | None = None,
    phones_only: bool = False,
) -> CsvReport:
    """Read a whole recipient list (see the module docstring); raises ``CsvFileError``, and
    ``TooManyRows`` as soon as it reads a data row (not blank) past ``max_rows``, so a file
    too big for the caller is neither read to its end nor held."""
    recipients: list[CsvRecipient] = []
    tally = RowTally(limit=limit_errors)
    for result in iter_rows(data, default_region, phones_only=phones_only):
        if (recipient := tally.add(result)) is not None:
            recipients.append(recipient)
        if max_rows is not None and len(recipients) + tally.invalid_rows + tally.duplicate_rows > max_rows:
            raise TooManyRows(max_rows)
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
    source: str | bytes | Iterable[str] | Iterable[bytes],
    default_region: str = "US",
    *,
    phones_only: bool = False,
) -> Iterator[RowResult]:
    """Yield, row by row in file order, a ``CsvRecipient``, a ``DuplicateRow`` or one
    ``RowError`` per problem of the row. ``source`` is the whole text or bytes, lines of text
    with their line endings (a file opened with ``newline=""``; without the endings, line
    breaks inside quoted fields are lost), or chunks of bytes of any size (a binary file, an
    S3 body's ``iter_chunks()``). Raises ``CsvFileError`` (on the first ``next`` for problems
    of the header, later for an encoding error or an unclosed quote further on) and
    ``ValueError`` at once for an unknown ``default_region``. ``phones_only`` reads the phone
    columns alone (a do-not-call list): the recipients have no name, time zone or variables,
    and nothing but the number can make a row invalid."""
    return _results(_text_lines(source), region_code(default_region), phones_only)


def decode_lines(chunks: Iterable[bytes | bytearray | memoryview]) -> Iterator[str]:
    """UTF-8 bytes (a BOM is dropped) in chunks of any size → lines with their endings.
    Raises ``CsvFileError`` naming the byte offset (from 0) and the line of the first byte
    that is not UTF-8, or for a line longer than ``MAX_ROW_CHARS``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0  # bytes given to the decoder so far
    splitter = _LineSplitter()
    started = False  # a BOM can only be the first character
    for chunk in chunks:
        if not chunk:
            continue
        held = decoder.getstate()[0]  # bytes of a character split across chunks
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise _decode_error(exc, offset - len(held), held + bytes(chunk), splitter) from None
        offset += len(chunk)
        if not started and text:
            started = True
            if text[0] == "\ufeff":
                text = text[1:]
        yield from splitter.feed(text)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        held = decoder.getstate()[0]
        raise _decode_error(exc, offset - len(held), held, splitter) from None
    yield from splitter.end()


class _LineSplitter:
    """Text in pieces of any size → lines with their endings, in time linear in the text: each
    piece is searched once for line breaks, and the text after the last one is kept as a list
    of pieces (joined once, when its line ends), never searched or copied again. A line longer
    than ``MAX_ROW_CHARS`` is a ``CsvFileError`` (raised before more of it is held)."""

    def __init__(self) -> None:
        self.lines = 0  # lines yielded so far
        self._tail: list[str] = []  # the text after the last line break
        self._tail_chars = 0

    def feed(self, text: str) -> Iterator[str]:
        if not text:
            return
        if self._tail and self._tail[-1].endswith("\r"):  # held back by the last piece
            crlf = text[0] == "\n"
            yield self._line("\n" if crlf else "")
            text = text[1:] if crlf else text
        start, size = 0, len(text)
        for match in _LINE_BREAK.finditer(text):
            end = match.end()
            if end == size and text[-1] == "\r":
                break  # maybe the first half of a CRLF: wait for the next piece
            if self._tail:
                yield self._line(text[start:end])
            else:  # the common case, kept short: a whole line inside this piece
                if end - start > MAX_ROW_CHARS:
                    self._check(end - start)
                self.lines += 1
                yield text[start:end]
            start = end
        if start < size:
            self._hold(text[start:])

    def end(self) -> Iterator[str]:
        if self._tail:
            yield self._line("")

    def pending(self) -> str:
        return "".join(self._tail)

    def _hold(self, piece: str) -> None:
        self._tail.append(piece)
        self._tail_chars += len(piece)
        self._check(self._tail_chars)

    def _line(self, last_piece: str) -> str:
        self._check(self._tail_chars + len(last_piece))
        line = "".join(self._tail) + last_piece if self._tail else last_piece
        self._tail.clear()
        self._tail_chars = 0
        self.lines += 1
        return line

    def _check(self, chars: int) -> None:
        if chars > MAX_ROW_CHARS:
            raise CsvFileError(
                f"line {self.lines + 1} is longer than {MAX_ROW_CHARS} characters "
                "(no recipient's row is near that long: is it a CSV file?)"
            )


def _decode_error(exc: UnicodeDecodeError, base: int, data: bytes, splitter: _LineSplitter) -> CsvFileError:
    before = splitter.pending() + data[: exc.start].decode("utf-8", "replace")
    line = splitter.lines + before.count("\n") + before.count("\r") - before.count("\r\n") + 1
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
    splitter = _LineSplitter()
    yield from splitter.feed(text.removeprefix("\ufeff"))
    yield from splitter.end()


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
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: too long, or a folder
        pass
    return _zones_by_lower_name().get(text.lower())


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> dict[str, str]:
    return {zone.lower(): zone for zone in available_timezones()}


@dataclass(slots=True)
class _Header:
    width: int
    phone: list[tuple[int, str]]  # (index, header as written), in PHONE_COLUMNS order
    name: list[tuple[int, str]]  # (index, header as written), here and below
    first_name: list[tuple[int, str]]
    last_name: list[tuple[int, str]]
    timezone: tuple[int, str] | None
    variables: list[tuple[int, str, str]]  # (index, normalised name, header as written)
    phones_only: bool = False  # the other columns are not read


def _results(lines: Iterator[str], region: str, phones_only: bool) -> Iterator[RowResult]:
    scanned, header_text = _header_text(lines)
    feed = _RecordFeed(chain(scanned, lines))
    reader = csv.reader(feed, delimiter=detect_delimiter(header_text), skipinitialspace=True)
    header: _Header | None = None
    seen: dict[int, int] = {}  # E.164 digits → first row (an int is smaller than a str)
    row = 0
    try:
        for fields in reader:
            row += 1
            if feed.exhausted:  # so this record was ended by the end of the file, inside quotes
                raise CsvFileError(
                    f'row {row}: the quote (") opened on line {feed.record_line} is never closed'
                )
            feed.next_record(reader.line_num)
            if not "".join(fields).strip(_BLANK_CHARS).strip():
                continue
            if header is None:
                header = _read_header(fields, phones_only)
            else:
                result = _row(fields, row, header, region, seen)
                if isinstance(result, list):
                    yield from result
                else:
                    yield result
    except csv.Error as exc:
        raise CsvFileError(
            f'line {reader.line_num}: {exc} (is a quote (") left open on line {feed.record_line}?)'
        ) from None


def _header_text(lines: Iterator[str]) -> tuple[list[str], str]:
    """The lines read (to be read again) and the header row's text, up to its closing quote,
    which chooses the delimiter."""
    scanned: list[str] = []
    header: list[str] = []
    quotes = chars = 0  # counted line by line: the header text is never searched twice
    for line in lines:
        scanned.append(line)
        if not header and not line.strip(_BLANK_CHARS).strip():
            continue
        header.append(line)
        quotes += line.count('"')
        chars += len(line)
        if quotes % 2 == 0 or chars > _HEADER_SCAN_LIMIT:
            break
    if not header:
        raise CsvFileError("the file is empty: the first row must be the header (download the template)")
    return scanned, "".join(header)


class _RecordFeed:
    """The lines for ``csv.reader``, refusing a record longer than ``MAX_ROW_CHARS`` (its
    fields would all be held) and noting when the lines ran out."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.exhausted = False  # the reader asked for a line after the last one
        self.record_line = 1  # the line the record being read starts on
        self.chars = 0  # of the record being read

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.chars += len(line)
            if self.chars > MAX_ROW_CHARS:
                raise CsvFileError(
                    f"the row on line {self.record_line} is longer than {MAX_ROW_CHARS} characters "
                    '(is a quote (") left open there?)'
                )
            yield line
        self.exhausted = True

    def next_record(self, lines_read: int) -> None:
        self.record_line = lines_read + 1
        self.chars = 0


def _read_header(fields: list[str], phones_only: bool) -> _Header:
    written = [_shown(f.strip()) for f in fields]  # as reports name the columns
    names = [normalize_header(f) for f in fields]
    by_name: dict[str, int] = {}
    duplicates: list[str] = []
    for index, name in enumerate(names):
        if not name:
            continue
        if name in by_name:
            duplicates.append(f"'{written[by_name[name]]}' and '{written[index]}' (both {_shown(name)})")
        else:
            by_name[name] = index
    if duplicates:
        raise CsvFileError("the header names a column twice: " + _some(duplicates, "; "))
    phone = [(by_name[n], written[by_name[n]]) for n in PHONE_COLUMNS if n in by_name]
    if not phone:
        raise _no_phone_column(written)

    def columns(candidates: tuple[str, ...]) -> list[tuple[int, str]]:
        return [(by_name[n], written[by_name[n]]) for n in candidates if n in by_name]

    timezone = columns(TIMEZONE_COLUMNS)
    known = {*PHONE_COLUMNS, *NAME_COLUMNS, *FIRST_NAME_COLUMNS, *LAST_NAME_COLUMNS, *TIMEZONE_COLUMNS}
    variables = [(i, n, written[i]) for n, i in by_name.items() if n not in known]
    if phones_only:
        return _Header(len(fields), phone, [], [], [], None, [], phones_only=True)
    if long := [w for _, n, w in variables if len(n) > MAX_VARIABLE_NAME_CHARS]:
        raise CsvFileError(
            f"the header's column '{long[0]}' is longer than {MAX_VARIABLE_NAME_CHARS} "
            "characters (the name of a recipient variable)"
        )
    return _Header(
        width=len(fields),
        phone=phone,
        name=columns(NAME_COLUMNS),
        first_name=columns(FIRST_NAME_COLUMNS),
        last_name=columns(LAST_NAME_COLUMNS),
        timezone=timezone[0] if timezone else None,
        variables=variables,
    )


def _no_phone_column(written: list[str]) -> CsvFileError:
    hint = ""
    if any(len(_DIGITS.findall(f)) >= 7 for f in written):
        hint = "; the first row looks like data: add a header row (download the template)"
    found = _some([f"'{w}'" for w in written if w], ", ") or "nothing"
    return CsvFileError(
        "no phone number column: the header row must have one of "
        + ", ".join(PHONE_COLUMNS)
        + f" (found {found}){hint}"
    )


def _shown(value: str) -> str:
    """``value`` as quoted in a message: cut short, so no report repeats a huge field."""
    return value if len(value) <= _SHOWN_CHARS else value[: _SHOWN_CHARS - 1] + "…"


def _some(items: list[str], separator: str, most: int = 10) -> str:
    """The first ``most`` of ``items`` joined, and how many more: a message stays short."""
    more = f"{separator}and {len(items) - most} more" if len(items) > most else ""
    return separator.join(items[:most]) + more


def _too_long(value: str, what: str, limit: int) -> str:
    return f"has {len(value)} characters; {what} takes at most {limit}"


def _first(fields: list[str], columns: list[tuple[int, str]]) -> tuple[str, str]:
    """The first non-empty value of ``columns`` and its column as written ("" if none is)."""
    for index, column in columns:
        value = fields[index].strip()
        if value:
            return value, column
    return "", ""


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
    phone_number = _phone(fields, row, header, region, errors)
    if header.phones_only:
        if errors:
            return errors
        return _unseen(CsvRecipient(row, phone_number), seen)
    timezone = _timezone(fields, row, header, errors)
    name = _name(fields, row, header, errors)
    variables = _variables(fields, row, header, errors)
    if errors:
        return errors
    return _unseen(CsvRecipient(row, phone_number, name or None, variables, timezone), seen)


def _unseen(recipient: CsvRecipient, seen: dict[int, int]) -> CsvRecipient | DuplicateRow:
    digits = int(recipient.phone_number[1:])
    first_row = seen.get(digits)
    if first_row is not None:
        return DuplicateRow(recipient.row, recipient.phone_number, first_row)
    seen[digits] = recipient.row
    return recipient


def _phone(fields: list[str], row: int, header: _Header, region: str, errors: list[RowError]) -> str:
    raw, column = _first(fields, header.phone)
    if not raw:
        errors.append(RowError(row, header.phone[0][1], "is empty"))
    elif len(raw) > MAX_PHONE_CHARS:
        errors.append(RowError(row, column, _too_long(raw, "a phone number", MAX_PHONE_CHARS)))
    else:
        try:
            return to_e164(raw, region)
        except InvalidPhoneNumber as exc:
            errors.append(RowError(row, column, str(exc)))
    return ""


def _timezone(fields: list[str], row: int, header: _Header, errors: list[RowError]) -> str | None:
    if header.timezone is None:
        return None
    index, column = header.timezone
    zone = fields[index].strip()
    if not zone:
        return None
    timezone = canonical_timezone(zone) if len(zone) <= MAX_TIMEZONE_CHARS else None
    if timezone is None:
        reason = f"'{_shown(zone)}' is not an IANA time zone (e.g. America/New_York)"
        errors.append(RowError(row, column, reason))
    return timezone


def _name(fields: list[str], row: int, header: _Header, errors: list[RowError]) -> str:
    name, column = _first(fields, header.name)
    if name:
        if len(name) > MAX_NAME_CHARS:
            errors.append(RowError(row, column, _too_long(name, "a name", MAX_NAME_CHARS)))
        return name
    first, first_column = _first(fields, header.first_name)
    last, last_column = _first(fields, header.last_name)
    name = " ".join(part for part in (first, last) if part)
    if len(name) > MAX_NAME_CHARS:
        joined = f"with '{last_column}' makes a name that " if first and last else ""
        reason = f"{joined}has {len(name)} characters; a name takes at most {MAX_NAME_CHARS}"
        errors.append(RowError(row, first_column or last_column, reason))
    return name


def _variables(fields: list[str], row: int, header: _Header, errors: list[RowError]) -> dict[str, str]:
    variables: dict[str, str] = {}
    for index, key, column in header.variables:
        value = fields[index].strip()
        if not value:
            continue
        if len(value) > MAX_VARIABLE_CHARS:
            errors.append(RowError(row, column, _too_long(value, "a variable", MAX_VARIABLE_CHARS)))
        variables[key] = value
    if len(variables) > MAX_VARIABLES:
        reason = f"has {len(variables)} variables (non-empty extra columns); a recipient takes at most {MAX_VARIABLES}"
        errors.append(RowError(row, "", reason))
    return variables
