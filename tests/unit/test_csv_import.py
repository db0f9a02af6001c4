from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchcalls.domain.csv_import import (
    PHONE_COLUMNS,
    TEMPLATE_COLUMNS,
    CsvFileError,
    CsvRecipient,
    DuplicateRow,
    RowError,
    decode_lines,
    detect_delimiter,
    iter_rows,
    normalize_header,
    parse_csv,
    template_csv,
)
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164

NUMBER = "+14155550123"


def only(data: str | bytes, **kwargs: object) -> CsvRecipient:
    report = parse_csv(data, **kwargs)  # type: ignore[arg-type]
    assert report.invalid == [] and report.duplicates == []
    assert len(report.recipients) == 1
    return report.recipients[0]


# The template


def test_template_has_the_documented_columns_and_one_example_row() -> None:
    lines = template_csv().splitlines()
    assert lines[0] == "name,first_name,last_name,phone_number,timezone,company"
    assert TEMPLATE_COLUMNS[:5] == ("name", "first_name", "last_name", "phone_number", "timezone")
    assert len(lines) == 2


def test_template_round_trips_through_the_parser() -> None:
    report = parse_csv(template_csv())
    assert report.recipients == [
        CsvRecipient(
            row=2,
            phone_number=NUMBER,
            name="Jane Doe",
            variables={"company": "Acme Inc"},
            timezone="America/Los_Angeles",
        )
    ]
    assert report.total_rows == 1
    assert parse_csv(template_csv().encode()).recipients == report.recipients


# Headers


@pytest.mark.parametrize("alias", PHONE_COLUMNS)
def test_every_phone_alias(alias: str) -> None:
    recipient = only(f"name,{alias}\nBob,(415) 555-0123\n")
    assert recipient.phone_number == NUMBER
    assert recipient.variables == {}  # the phone column is not a variable


@pytest.mark.parametrize("header", ["phone", "mobile", "cell", "telephone"])
def test_the_guide_aliases_in_their_written_forms(header: str) -> None:
    assert only(f"Name,{header.upper()}\nBob,{NUMBER}\n").phone_number == NUMBER


@pytest.mark.parametrize(
    "header",
    ["Phone Number", " PHONE_NUMBER ", "phone-number", "Phone  -  Number", "phone_number", "PhoneNumber"],
)
def test_header_names_are_case_and_space_insensitive(header: str) -> None:
    assert only(f"name,{header},Account ID\nBob,{NUMBER},A1\n").variables == {"account_id": "A1"}


def test_normalize_header() -> None:
    assert normalize_header(" Phone-Number ") == "phone_number"
    assert normalize_header("First Name") == "first_name"
    assert normalize_header("TIME_ZONE") == "time_zone"


def test_the_first_non_empty_phone_column_is_used() -> None:
    report = parse_csv(f"phone,mobile,cell\n,{NUMBER},\n,,+14155550124\n,12,\n")
    assert [r.phone_number for r in report.recipients] == [NUMBER, "+14155550124"]
    assert report.invalid == [RowError(4, "mobile", "'12' has the wrong number of digits")]


def test_an_invalid_earlier_phone_column_is_not_skipped_for_a_later_one() -> None:
    report = parse_csv(f"phone_number,mobile\n12,{NUMBER}\n")
    assert report.recipients == []
    assert report.invalid == [RowError(2, "phone_number", "'12' has the wrong number of digits")]


def test_number_is_not_a_phone_alias() -> None:
    with pytest.raises(CsvFileError, match="no phone number column"):
        parse_csv(f"name,number\nBob,{NUMBER}\n")


def test_first_and_last_name_are_joined_when_name_is_empty() -> None:
    report = parse_csv(
        "name,First Name,Last Name,phone\n"
        f",Jane,Doe,{NUMBER}\n"
        "Dr. Who,Jane,Doe,+14155550124\n"
        ",,Doe,+14155550125\n"
        ",Jane,,+14155550126\n"
        ",,,+14155550127\n"
    )
    assert [r.name for r in report.recipients] == ["Jane Doe", "Dr. Who", "Doe", "Jane", None]
    assert all(r.variables == {} for r in report.recipients)


def test_first_and_last_name_without_a_name_column() -> None:
    assert only(f"first_name,last_name,phone\n Ann , Lee ,{NUMBER}\n").name == "Ann Lee"


def test_other_columns_become_variables_and_empty_values_are_dropped() -> None:
    report = parse_csv(
        f"Name,Phone,Account ID,Plan Type,notes\nBob,{NUMBER}, A-1 ,gold,\nAnn,+14155550124,A-2,,   \n"
    )
    assert [r.variables for r in report.recipients] == [
        {"account_id": "A-1", "plan_type": "gold"},
        {"account_id": "A-2"},
    ]


def test_a_column_with_an_empty_header_is_ignored() -> None:
    assert only(f"name,phone,\nBob,{NUMBER},whatever\n").variables == {}


def test_missing_phone_column_is_a_file_error_listing_the_accepted_headers() -> None:
    with pytest.raises(CsvFileError) as err:
        parse_csv("name,email\nBob,bob@example.com\n")
    message = str(err.value)
    assert "no phone number column" in message
    for alias in ("phone_number", "phone", "mobile", "cell"):
        assert alias in message
    assert "'email'" in message


def test_a_file_without_a_header_row_gets_a_hint() -> None:
    with pytest.raises(CsvFileError, match="looks like data"):
        parse_csv(f"Bob,{NUMBER}\nAnn,+14155550124\n")


@pytest.mark.parametrize("header", ["phone,Phone", "phone,name,PHONE", "name,Phone Number,phone-number"])
def test_duplicate_header_names_are_a_file_error(header: str) -> None:
    with pytest.raises(CsvFileError, match="twice"):
        parse_csv(f"{header}\n{NUMBER},Bob,x\n")


@pytest.mark.parametrize("data", ["", "\n\n", " , ,\r\n;;\n", b"", b"\xef\xbb\xbf"])
def test_an_empty_file_is_a_file_error(data: str | bytes) -> None:
    with pytest.raises(CsvFileError, match="empty"):
        parse_csv(data)


# Encoding and input forms

FILE = f"Name,Phone\nJosé Ñúñez,{NUMBER}\n"


@pytest.mark.parametrize(
    "data",
    [
        FILE,
        "\ufeff" + FILE,
        FILE.encode(),
        b"\xef\xbb\xbf" + FILE.encode(),
        bytearray(FILE.encode()),
    ],
    ids=["str", "str+bom", "bytes", "bytes+bom", "bytearray"],
)
def test_utf8_with_or_without_bom_as_bytes_or_str(data: str | bytes) -> None:
    recipient = only(data)
    assert recipient.name == "José Ñúñez"
    assert recipient.phone_number == NUMBER


def test_the_bom_does_not_stick_to_the_first_header() -> None:
    assert only(b"\xef\xbb\xbfphone,tag\n" + NUMBER.encode() + b",x\n").variables == {"tag": "x"}


def test_undecodable_bytes_are_a_file_error_naming_the_byte_offset() -> None:
    data = b"name,phone\nBob," + NUMBER.encode() + b"\nAnn\xff,+14155550124\n"
    with pytest.raises(CsvFileError) as err:
        parse_csv(data)
    offset = data.index(b"\xff")
    assert f"offset {offset}" in str(err.value)
    assert "line 3" in str(err.value)
    assert "0xFF" in str(err.value)


def test_the_offset_is_absolute_across_chunks_and_after_a_bom() -> None:
    data = b"\xef\xbb\xbfname,phone\n" + "Zoë,".encode() + NUMBER.encode() + b"\n\xe2\x82,x\n"
    offset = data.index(b"\xe2\x82,")
    for size in (1, 2, 3, 7, 1000):
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        with pytest.raises(CsvFileError, match=f"offset {offset} \\(line 3\\)"):
            list(decode_lines(chunks))


def test_a_file_ending_inside_a_character_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match="offset 6"):
        parse_csv(b"phone\n\xe2\x82")


def test_multibyte_characters_and_crlf_split_across_chunks_decode_intact() -> None:
    text = "name,phone\r\nZoë ☎,+14155550123\r\n\r\n東京,+14155550124\r"
    data = text.encode()
    for size in (1, 2, 5):
        lines = list(decode_lines(data[i : i + size] for i in range(0, len(data), size)))
        assert lines == ["name,phone\r\n", "Zoë ☎,+14155550123\r\n", "\r\n", "東京,+14155550124\r"]


def test_a_text_stream_and_a_binary_stream() -> None:
    text = f'name,phone\r\n"Two\r\nlines",{NUMBER}\r\n'
    from_text = list(iter_rows(io.StringIO(text, newline="")))
    from_bytes = list(iter_rows(io.BytesIO(text.encode())))
    assert from_text == from_bytes == [CsvRecipient(2, NUMBER, "Two\r\nlines")]


def test_lines_without_their_endings_are_accepted() -> None:
    results = list(iter_rows(["name,phone", f"Bob,{NUMBER}", "", "Ann,+14155550124"]))
    assert results == [CsvRecipient(2, NUMBER, "Bob"), CsvRecipient(4, "+14155550124", "Ann")]


def test_iter_rows_is_lazy() -> None:
    consumed = 0

    def lines() -> Iterator[str]:
        nonlocal consumed
        yield "name,phone\n"
        for i in range(1_000_000):
            consumed += 1
            yield f"P{i},+1415555{i % 10_000:04d}\n"

    results = iter_rows(lines())
    first = next(results)
    assert first == CsvRecipient(2, "+14155550000", "P0")
    assert consumed <= 2  # the reader holds at most the next line
    for _ in range(100):
        next(results)
    assert consumed <= 102


def test_an_unknown_default_region_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="region"):
        iter_rows("phone\n", default_region="XX")


# Delimiters and quoting


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_comma_semicolon_or_tab(delimiter: str) -> None:
    rows = [["Name", "Phone", "City"], ["Bob", NUMBER, "Paris"]]
    data = "".join(delimiter.join(row) + "\n" for row in rows)
    assert only(data) == CsvRecipient(2, NUMBER, "Bob", {"city": "Paris"})


def test_semicolon_file_with_commas_in_values() -> None:
    # European Excel: semicolons between fields, commas inside them.
    data = f"Name;Phone;Note\nDoe, Jane;{NUMBER};a, b, c\n"
    assert only(data) == CsvRecipient(2, NUMBER, "Doe, Jane", {"note": "a, b, c"})


def test_detect_delimiter_counts_outside_quotes_only() -> None:
    assert detect_delimiter('"a;b;c","d;e",phone\n') == ","
    assert detect_delimiter("name;phone;x,y\n") == ";"
    assert detect_delimiter("name\tphone\tnote\n") == "\t"
    assert detect_delimiter("phone\n") == ","
    assert detect_delimiter("a,b;c\n") == ","  # a tie goes to the comma


def test_quoted_fields_with_delimiter_quote_and_newline() -> None:
    data = f'name,phone,note\n"Doe, ""JJ"" Jane",{NUMBER},"line one\nline two, ""quoted"""\n'
    recipient = only(data)
    assert recipient.name == 'Doe, "JJ" Jane'
    assert recipient.variables == {"note": 'line one\nline two, "quoted"'}


def test_a_space_before_a_quoted_field_is_skipped() -> None:
    assert only(f'name, phone, note\nBob, {NUMBER}, "a, b"\n').variables == {"note": "a, b"}


def test_a_multiline_record_counts_as_one_row() -> None:
    data = f'name,phone\n"A\nB\nC",{NUMBER}\nAnn,12\n'
    report = parse_csv(data)
    assert report.recipients[0].row == 2
    assert report.invalid[0].row == 3


def test_a_quote_never_closed_is_a_file_error() -> None:
    with pytest.raises(CsvFileError, match=r"row 3: the quote \(\"\) opened on line 3 is never closed"):
        parse_csv(f'name,phone\nBob,{NUMBER}\n"Ann,+14155550124\nCid,+14155550125\n')


# Blank lines and line endings


def test_blank_lines_and_rows_of_delimiters_are_ignored_but_keep_row_numbers() -> None:
    data = f"\n  \nname,phone\n\n,\n , \t\nBob,{NUMBER}\n;;\n\nAnn,12\n"
    report = parse_csv(data)
    assert report.total_rows == 2
    assert report.recipients == [CsvRecipient(7, NUMBER, "Bob")]
    assert [e.row for e in report.invalid] == [10]  # as a spreadsheet shows the blank rows


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"], ids=["crlf", "lf", "cr"])
def test_line_endings(ending: str) -> None:
    data = ending.join(["name,phone,note", f'Bob,{NUMBER},"a{ending}b"', "", "Ann,+14155550124,c"]) + ending
    for source in (data, data.encode()):
        report = parse_csv(source)
        assert report.recipients == [
            CsvRecipient(2, NUMBER, "Bob", {"note": f"a{ending}b"}),
            CsvRecipient(4, "+14155550124", "Ann", {"note": "c"}),
        ]


def test_no_final_line_break() -> None:
    assert only(f"name,phone\r\nBob,{NUMBER}").phone_number == NUMBER


# Row errors


def test_invalid_number_reports_row_column_as_written_and_the_reason() -> None:
    report = parse_csv(f" Phone Number ,name\n{NUMBER},Bob\nnot a number,Ann\n+1 415 555,Cid\n")
    with pytest.raises(InvalidPhoneNumber) as err:
        to_e164("not a number")
    assert report.invalid == [
        RowError(3, "Phone Number", str(err.value)),
        RowError(4, "Phone Number", "'+1 415 555' has the wrong number of digits"),
    ]
    assert [r.row for r in report.recipients] == [2]
    assert report.total_rows == 3
    assert report.invalid_rows == 2


def test_a_missing_phone_is_empty_in_the_first_phone_column() -> None:
    report = parse_csv(f"name,Mobile,cell\nBob,,\nAnn,{NUMBER}\n")
    assert report.invalid == [RowError(2, "Mobile", "is empty")]
    assert len(report.recipients) == 1


def test_more_fields_than_the_header_is_a_row_error() -> None:
    report = parse_csv(f"name,phone\nDoe, Jane,{NUMBER}\nAnn,+14155550124,,, \n")
    assert report.invalid == [RowError(2, "", "has 3 fields, the header has 2")]
    # Trailing empty fields (a common spreadsheet export) are not an error.
    assert report.recipients == [CsvRecipient(3, "+14155550124", "Ann")]


def test_fewer_fields_than_the_header_are_empty() -> None:
    report = parse_csv(f"phone,name,plan\n{NUMBER}\n+14155550124,Ann\n")
    assert report.recipients == [CsvRecipient(2, NUMBER), CsvRecipient(3, "+14155550124", "Ann")]


def test_a_row_with_several_problems_reports_each_but_counts_once() -> None:
    report = parse_csv("phone,timezone\n12,Mars/Olympus\n")
    assert [(e.column, e.row) for e in report.invalid] == [("phone", 2), ("timezone", 2)]
    assert report.invalid_rows == 1
    assert report.total_rows == 1


# Duplicates


def test_duplicates_are_dropped_after_the_first_even_when_written_differently() -> None:
    data = f"name,phone\nBob,(415) 555-0123\nAnn,+14155550124\nBobby,{NUMBER}\nRob,1 415 555 0123\n"
    report = parse_csv(data)
    assert [(r.row, r.name) for r in report.recipients] == [(2, "Bob"), (3, "Ann")]
    assert report.duplicates == [DuplicateRow(4, NUMBER, 2), DuplicateRow(5, NUMBER, 2)]
    assert report.total_rows == 4
    assert report.duplicate_rows == 2


def test_an_invalid_row_does_not_claim_its_number() -> None:
    report = parse_csv(f"phone,timezone\n{NUMBER},Nowhere/Land\n{NUMBER},UTC\n")
    assert report.invalid == [
        RowError(2, "timezone", "'Nowhere/Land' is not an IANA time zone (e.g. America/New_York)")
    ]
    assert report.recipients == [CsvRecipient(3, NUMBER, timezone="UTC")]
    assert report.duplicates == []


def test_limit_errors_caps_the_lists_but_not_the_counts() -> None:
    lines = ["phone"] + ["12"] * 5 + [NUMBER] * 4
    report = parse_csv("\n".join(lines), limit_errors=2)
    assert len(report.invalid) == 2 and report.invalid_rows == 5
    assert len(report.duplicates) == 2 and report.duplicate_rows == 3
    assert report.truncated
    assert report.total_rows == 9 == len(report.recipients) + report.invalid_rows + report.duplicate_rows
    assert not parse_csv("\n".join(lines), limit_errors=None).truncated


# Time zones


@pytest.mark.parametrize("header", ["timezone", "Time Zone", "TZ"])
def test_a_valid_timezone_is_kept(header: str) -> None:
    assert only(f"phone,{header}\n{NUMBER},Europe/Paris\n").timezone == "Europe/Paris"


def test_a_timezone_is_matched_case_insensitively_and_spelled_canonically() -> None:
    assert only(f"phone,timezone\n{NUMBER}, america/new_york \n").timezone == "America/New_York"


def test_an_empty_timezone_is_none() -> None:
    assert only(f"phone,timezone\n{NUMBER},\n").timezone is None


@pytest.mark.parametrize("zone", ["EST-ish", "America/Nowhere", "../etc/passwd", "+05:00"])
def test_an_invalid_timezone_is_a_row_error_naming_the_column(zone: str) -> None:
    report = parse_csv(f"phone,Time Zone\n{NUMBER},{zone}\n")
    assert report.recipients == []
    assert len(report.invalid) == 1
    error = report.invalid[0]
    assert (error.row, error.column) == (2, "Time Zone")
    assert zone in error.reason and "IANA" in error.reason


# Regions


def test_a_non_us_default_region() -> None:
    data = "name,phone\nBob,020 7946 0958\nAnn,+1 415 555 0123\n"
    report = parse_csv(data, default_region="GB")
    assert [r.phone_number for r in report.recipients] == ["+442079460958", NUMBER]
    us = parse_csv(data)
    assert [e.row for e in us.invalid] == [2]  # not a US number
    assert parse_csv(data, default_region="gb").recipients == report.recipients


# Round trip (property)

VALID_NUMBERS = [
    n
    for n in (f"+1{area}55501{i:02d}" for area in (415, 212, 617) for i in range(100))
    if phonenumbers.is_valid_number(phonenumbers.parse(n))
]
ZONES = ["", "UTC", "America/New_York", "Europe/Paris", "Asia/Kolkata", "Australia/Lord_Howe"]
text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=20)


def spellings(e164: str) -> list[str]:
    area, exchange, line = e164[2:5], e164[5:8], e164[8:]
    return [e164, f"({area}) {exchange}-{line}", f"{area}.{exchange}.{line}", f"1 {area} {exchange} {line}"]


row_strategy = st.tuples(
    text,  # name
    text,  # first_name
    text,  # last_name
    st.sampled_from(VALID_NUMBERS),
    st.integers(0, 3),  # spelling
    st.sampled_from(ZONES),
    text,  # company (a variable)
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(row_strategy, min_size=1, max_size=6, unique_by=lambda r: r[3]),
    delimiter=st.sampled_from([",", ";", "\t"]),
    bom=st.booleans(),
    as_bytes=st.booleans(),
)
def test_rows_written_with_the_template_columns_round_trip(
    rows: list[tuple[str, str, str, str, int, str, str]], delimiter: str, bom: bool, as_bytes: bool
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(TEMPLATE_COLUMNS)
    for name, first, last, number, spelling, zone, company in rows:
        writer.writerow([name, first, last, spellings(number)[spelling], zone, company])
    data = ("\ufeff" if bom else "") + out.getvalue()

    report = parse_csv(data.encode() if as_bytes else data)

    expected = [
        CsvRecipient(
            row=index + 2,
            phone_number=number,
            name=name.strip() or " ".join(p for p in (first.strip(), last.strip()) if p) or None,
            variables={"company": company.strip()} if company.strip() else {},
            timezone=zone or None,
        )
        for index, (name, first, last, number, _, zone, company) in enumerate(rows)
    ]
    assert report.invalid == []
    assert report.duplicates == []
    assert report.recipients == expected
    assert report.total_rows == len(rows)
