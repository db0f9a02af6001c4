"""CSV hardening: parsing stays linear however long a line is, a row gets the limits of a JSON
recipient, and a list over its row cap is refused while it is read (issue 11, items 2 and 3)."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from batchcalls.domain.csv_import import (
    MAX_ROW_CHARS,
    CsvFileError,
    CsvRecipient,
    RowError,
    TooManyRows,
    decode_lines,
    iter_rows,
    parse_csv,
)
from batchcalls.domain.errors import InvalidRequest
from batchcalls.domain.recipient_limits import (
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_VARIABLE_CHARS,
    MAX_VARIABLE_NAME_CHARS,
    MAX_VARIABLES,
)
from batchcalls.models.api import BatchSpec, RecipientIn
from batchcalls.services.recipient_list import recipient_list

NUMBER = "+14155550123"

# Linear time


def best_seconds(work: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def one_long_field(chars: int) -> str:
    # No final line break: the case the old line pattern rescanned from every position.
    return f"phone,note\n{NUMBER}," + "x" * chars


@pytest.mark.parametrize(
    "parse",
    [
        lambda text: parse_csv(text),
        lambda text: parse_csv(text.encode()),
        # Chunks: a line spanning several is joined once, not copied and searched per chunk.
        lambda text: list(decode_lines(text.encode()[i : i + 4096] for i in range(0, len(text), 4096))),
    ],
    ids=["str", "bytes", "4-KiB chunks"],
)
def test_a_16_times_longer_field_takes_about_16_times_longer_not_256(parse: Callable[[str], object]) -> None:
    # Quadratic parsing took 0.07 s at 4,000 characters and 1.2 s at 16,000, ~100 s at 100,000.
    # Linear: 16 × the characters, at most 16 × the time (less: a parse has a fixed cost);
    # quadratic: 256 ×. The bound sits between them, on the ratio, so a slow machine passes.
    small, big = one_long_field(1_000), one_long_field(16_000)
    parse(small)  # warm caches (time zones, phonenumbers metadata)
    assert best_seconds(lambda: parse(big), 3) < 64 * best_seconds(lambda: parse(small), 3)


def test_a_100_000_character_field_is_a_row_error_naming_the_column_and_the_limit() -> None:
    for source in (one_long_field(100_000), one_long_field(100_000).encode()):
        report = parse_csv(source)
        assert report.recipients == []
        assert report.invalid == [
            RowError(2, "note", f"has 100000 characters; a variable takes at most {MAX_VARIABLE_CHARS}")
        ]


def old_lines(text: str) -> list[str]:
    """The old splitter (quadratic, correct): the reference for line endings."""
    found = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)", text)
    rest = text[sum(map(len, found)) :]
    return found + ([rest] if rest else [])


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = sorted({0, len(data), *(c for c in cuts if c <= len(data))})
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="ab\r\n", max_size=40), cuts=st.lists(st.integers(0, 40), max_size=8))
def test_lines_end_at_cr_lf_and_crlf_however_the_chunks_fall(text: str, cuts: list[int]) -> None:
    assert list(decode_lines(chunked(text.encode(), cuts))) == old_lines(text)


@settings(max_examples=200, deadline=None)
@given(
    note=st.text(alphabet="ab\r\n", min_size=1, max_size=30).filter(lambda t: t.strip()),
    ending=st.sampled_from(["\r\n", "\r", "\n"]),
    cuts=st.lists(st.integers(0, 80), max_size=8),
)
def test_line_breaks_inside_quotes_survive_text_and_chunked_bytes(
    note: str, ending: str, cuts: list[int]
) -> None:
    text = f'phone,note{ending}{NUMBER},"{note}"{ending}+14155550124,x'
    expected = [CsvRecipient(2, NUMBER, variables={"note": note.strip()})]
    from_text = list(iter_rows(text))
    assert from_text[0] == expected[0] and len(from_text) == 2
    assert list(iter_rows(chunked(text.encode(), cuts))) == from_text


@pytest.mark.parametrize("ending", ["", "\n"])
def test_a_line_over_the_row_limit_is_a_file_error_before_it_is_held_whole(ending: str) -> None:
    text = "phone,note\n" + NUMBER + "," * (MAX_ROW_CHARS + 10) + ending
    for source in (text, text.encode()):
        with pytest.raises(CsvFileError, match=f"line 2 is longer than {MAX_ROW_CHARS} characters"):
            parse_csv(source)

    read = 0

    def chunks() -> Iterator[bytes]:
        nonlocal read
        yield b"phone\n"
        while True:  # a file without line breaks, endless
            read += 1
            yield b"," * 65536

    with pytest.raises(CsvFileError, match="longer than"):
        list(decode_lines(chunks()))
    assert read * 65536 <= MAX_ROW_CHARS + 65536


def test_a_row_over_the_limit_across_many_lines_is_a_file_error() -> None:
    # Short lines and short fields, but one record of endless quoted fields over many lines.
    text = f"phone,note\n{NUMBER}," + '"x\n",' * (MAX_ROW_CHARS // 5) + "\n"
    with pytest.raises(CsvFileError, match=f"the row on line 2 is longer than {MAX_ROW_CHARS} characters"):
        parse_csv(text)


def test_a_header_spanning_many_lines_is_read_in_linear_time() -> None:
    # The header's text was counted again for each of its lines (a quoted name over many).
    def header_of(lines: int) -> str:  # under the csv module's 128 KiB field limit
        return '"name' + "\n" * lines + f'",phone\n{NUMBER}\n'

    small, big = header_of(7_500), header_of(120_000)
    assert parse_csv(big).total_rows == 1
    assert best_seconds(lambda: parse_csv(big), 3) < 64 * best_seconds(lambda: parse_csv(small), 3)


# A row gets a JSON recipient's limits


def test_limits_are_those_of_a_json_recipient() -> None:
    fields = RecipientIn.model_fields
    assert fields["name"].metadata[-1].max_length == MAX_NAME_CHARS
    assert fields["phone_number"].metadata[-1].max_length == MAX_PHONE_CHARS
    with pytest.raises(ValidationError):
        RecipientIn(phone_number=NUMBER, variables={"k" * (MAX_VARIABLE_NAME_CHARS + 1): "v"})
    with pytest.raises(ValidationError):
        RecipientIn(phone_number=NUMBER, variables={f"v{i}": "x" for i in range(MAX_VARIABLES + 1)})
    RecipientIn(
        phone_number=NUMBER,
        name="n" * MAX_NAME_CHARS,
        variables={
            f"{i:0{MAX_VARIABLE_NAME_CHARS}d}": "x" * MAX_VARIABLE_CHARS for i in range(MAX_VARIABLES)
        },
    )


def test_a_name_over_the_limit_is_a_row_error() -> None:
    ok, long = "n" * MAX_NAME_CHARS, "n" * (MAX_NAME_CHARS + 1)
    report = parse_csv(f"Full Name,phone\n{ok},{NUMBER}\n{long},+14155550124\n")
    assert [r.name for r in report.recipients] == [ok]
    assert report.invalid == [RowError(3, "Full Name", "has 201 characters; a name takes at most 200")]


def test_first_and_last_name_joined_over_the_limit_name_both_columns() -> None:
    half = "n" * 100
    report = parse_csv(f"First Name,Last Name,phone\n{half},{half},{NUMBER}\n{half},,+14155550124\n")
    assert report.invalid == [
        RowError(
            2,
            "First Name",
            "with 'Last Name' makes a name that has 201 characters; a name takes at most 200",
        )
    ]
    assert [r.name for r in report.recipients] == [half]


def test_a_variable_over_the_limit_is_a_row_error_and_the_number_is_not_claimed() -> None:
    long = "v" * (MAX_VARIABLE_CHARS + 1)
    report = parse_csv(f"phone,Notes,plan\n{NUMBER},{long},gold\n{NUMBER},ok,gold\n")
    assert report.invalid == [RowError(2, "Notes", "has 1001 characters; a variable takes at most 1000")]
    assert report.recipients == [CsvRecipient(3, NUMBER, variables={"notes": "ok", "plan": "gold"})]


def test_more_than_50_variables_is_a_row_error_but_empty_ones_do_not_count() -> None:
    header = "phone," + ",".join(f"c{i}" for i in range(MAX_VARIABLES + 1))
    full = NUMBER + "," + ",".join("x" for _ in range(MAX_VARIABLES + 1))
    one_empty = "+14155550124," + ",".join("x" for _ in range(MAX_VARIABLES)) + ","
    report = parse_csv(f"{header}\n{full}\n{one_empty}\n")
    assert report.invalid == [
        RowError(2, "", "has 51 variables (non-empty extra columns); a recipient takes at most 50")
    ]
    assert len(report.recipients[0].variables) == MAX_VARIABLES


def test_a_variable_name_over_the_limit_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="longer than 100 characters"):
        parse_csv("phone," + "c" * (MAX_VARIABLE_NAME_CHARS + 1) + f"\n{NUMBER},x\n")


def test_a_long_phone_or_time_zone_is_a_row_error_with_a_short_reason() -> None:
    long_phone = "1" * 50_000
    report = parse_csv(f"phone,tz\n{long_phone},\n{NUMBER},{'z' * 50_000}\n")
    assert report.invalid[0] == RowError(2, "phone", "has 50000 characters; a phone number takes at most 40")
    assert report.invalid[1].column == "tz" and "IANA" in report.invalid[1].reason
    assert all(len(e.reason) < 200 for e in report.invalid)


@pytest.mark.parametrize(
    "header",
    [
        ",".join(f"col{i}" for i in range(5000)),  # no phone column among many
        ",".join(["a"] * 5000) + ",phone",  # one column named thousands of times
        "phone_" + " " * 100_000 + "number,x",  # a phone column written absurdly long
    ],
    ids=["many columns", "many duplicates", "long phone header"],
)
def test_reports_stay_short_whatever_the_header(header: str) -> None:
    # Reports are stored in one DynamoDB item (the import's) and sent in a response.
    try:
        report = parse_csv(f"{header}\n12,x\n")
    except CsvFileError as exc:
        assert len(str(exc)) < 1000 and "more" in str(exc)
    else:
        assert len(report.invalid[0].column) <= 60 and report.invalid[0].column.startswith("phone_")


def test_every_stored_field_fits_one_dynamodb_item() -> None:
    # The worst a row can store: all limits full with 4-byte characters, under 400 KB.
    worst = 4 * (MAX_NAME_CHARS + MAX_VARIABLES * (MAX_VARIABLE_NAME_CHARS + MAX_VARIABLE_CHARS))
    assert worst < 300_000


def test_phones_only_reads_nothing_but_the_numbers() -> None:
    text = f"phone,name,timezone,notes\n{NUMBER},{'n' * 500},Mars/Base,{'v' * 5000}\n12,,,\n"
    report = parse_csv(text, phones_only=True)
    assert report.recipients == [CsvRecipient(2, NUMBER)]
    assert [(e.row, e.column) for e in report.invalid] == [(3, "phone")]


# The row cap, while streaming


def test_max_rows_stops_at_the_first_row_past_it_without_reading_further() -> None:
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        yield "phone\n"
        for i in range(1_000_000):
            consumed += 1
            yield "\n" if i % 2 else f"+1415555{i:04d}\n"  # blank lines do not count

    with pytest.raises(TooManyRows, match="has more than 10 rows") as err:
        parse_csv(lines(), max_rows=10)
    assert err.value.limit == 10 and consumed <= 23
    rows = "phone\n" + "".join(f"+1415555{i:04d}\n" for i in range(10)) + "\n\n"
    assert parse_csv(rows, max_rows=10).total_rows == 10  # at the cap: read


def test_invalid_and_duplicate_rows_count_toward_the_cap() -> None:
    with pytest.raises(TooManyRows):
        parse_csv(f"phone\n{NUMBER}\n{NUMBER}\n12\n", max_rows=2)


def spec(csv_text: str) -> BatchSpec:
    return BatchSpec(name="n", caller_id="+16045551234", recipients_csv=csv_text)


def test_recipients_csv_over_the_cap_is_a_400_naming_the_cap_and_the_upload_route() -> None:
    text = "phone\n" + "".join(f"+1415555{i:04d}\n" for i in range(6))
    with pytest.raises(InvalidRequest) as err:
        recipient_list(spec(text), "b", "now", "US", max_csv_rows=5)
    message = "has more than 5 rows; upload bigger lists with POST /batch-calls/uploads"
    assert err.value.message == f"recipients_csv {message}"
    assert err.value.errors == [{"field": "recipients_csv", "message": message}]
    assert len(recipient_list(spec(text), "b", "now", "US", max_csv_rows=6).recipients) == 6


def test_a_5_mb_recipients_csv_is_refused_after_reading_only_the_cap() -> None:
    # 5 M characters of short rows are 384,614 rows: refused at row 10,001, not parsed whole.
    text = "phone\n" + "".join(f"+1415555{i % 10_000:04d}\n" for i in range(384_614))
    assert len(text) > 4_990_000
    cap_only = "phone\n" + "".join(f"+1415555{i:04d}\n" for i in range(10_000)) + NUMBER + "\n"
    whole = best_seconds(lambda: _refused(text), 1)
    assert whole < 5 * best_seconds(lambda: _refused(cap_only), 1) + 0.05


def _refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="more than 10000 rows"):
        recipient_list(spec(text), "b", "now", "US", max_csv_rows=10_000)
