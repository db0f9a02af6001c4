"""export.csv cells that a spreadsheet would run as formulas are neutralised (issue 11, item 7)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from batchcalls.domain.csv_cells import FORMULA_STARTS, spreadsheet_safe
from batchcalls.models.domain import Recipient
from batchcalls.services.export import COLUMNS, export_row

FORMULAS = ["=1+1", "+SUM(A1)", "-2+3", "@SUM(A1)", "\t=1", "\r=1", '=HYPERLINK("http://x","y")', "\0=1"]


@pytest.mark.parametrize("formula", FORMULAS)
def test_a_cell_that_would_run_gets_a_quote_in_front(formula: str) -> None:
    assert spreadsheet_safe(formula) == "'" + formula


@pytest.mark.parametrize(
    "value", ["+14155550123", "-12.5", "-3", "Ann", "", "'=1", " =1", "a=1", "2024-01-01T00:00:00Z"]
)
def test_plain_numbers_and_text_stay_as_they_are(value: str) -> None:
    assert spreadsheet_safe(value) == value


def test_every_start_of_a_formula_is_covered() -> None:
    assert {"=", "+", "-", "@", "\t", "\r"} <= set(FORMULA_STARTS)


def exported(recipient: Recipient) -> dict[str, str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    writer.writerow(export_row(recipient))
    return next(csv.DictReader(io.StringIO(out.getvalue())))


@pytest.mark.parametrize("formula", FORMULAS)
def test_no_exported_cell_starts_a_formula(formula: str) -> None:
    recipient = Recipient(
        batch_id="b",
        seq=1,
        id="r1",
        phone_number="+14155550123",
        name=formula,
        sort_order=-1,
        error_message=formula,
        variables={"note": formula, "plan": "gold"},
    )
    row = exported(recipient)
    assert row["name"] == "'" + formula and row["error_message"] == "'" + formula
    assert row["phone_number"] == "+14155550123"  # E.164 as it is
    assert row["sort_order"] == "-1" and row["cost"] == "0.000000"
    # Variables are one JSON cell: the value is kept exactly, inside an object.
    assert row["variables"].startswith("{")
    assert json.loads(row["variables"]) == {"note": formula, "plan": "gold"}
    for column, cell in row.items():
        assert not cell.startswith(FORMULA_STARTS) or spreadsheet_safe(cell) == cell, column
