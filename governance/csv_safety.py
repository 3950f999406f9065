"""CSV formula-injection neutralisation for every export.

A spreadsheet treats a cell that starts with =, +, -, @, a tab or a carriage return as a formula
(OWASP "CSV Injection"). `safe_cell` prefixes such text with a single quote so it shows as text.
Numbers, booleans, dates and None pass through unchanged, so a negative number stays a number.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def safe_dict_row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: safe_cell(value) for key, value in row.items()}
