"""CSV formula-injection neutralisation for every export.

A spreadsheet treats a cell that starts with =, +, -, @, a tab or a carriage return as a formula
(OWASP "CSV Injection"). `safe_cell` prefixes such text with a single quote so it shows as text.
Numbers, booleans, dates and None pass through unchanged, so a negative number stays a number.

The start is read as a spreadsheet may read it: NFKC-normalised (fullwidth ＝＋－＠, the small and
superscript forms fold to = + - @), after any invisible format characters (zero-width space, BOM),
with the minus sign U+2212 counted as a minus.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\u2212")


def _lead(text: str) -> str:
    """The first few characters that a spreadsheet would see, normalised (NFKC)."""
    start = 0
    while start < len(text) and unicodedata.category(text[start]) == "Cf":
        start += 1
    # Only the start matters; a few characters are enough for NFKC to fold the first one.
    return unicodedata.normalize("NFKC", text[start : start + 4])


def starts_a_formula(text: str) -> bool:
    if text[:1].isascii():  # the common case: ASCII is NFKC-stable and never a format character
        return text.startswith(FORMULA_TRIGGERS)
    return _lead(text).startswith(FORMULA_TRIGGERS)


def safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value and starts_a_formula(value):
        return "'" + value
    return value


def safe_row(values: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in values]


def safe_dict_row(row: dict[str, Any]) -> dict[str, Any]:
    return {key: safe_cell(value) for key, value in row.items()}
