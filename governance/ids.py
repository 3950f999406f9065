"""Database ids from untrusted input: one bound for the API, the forms, the filters and the services.

A database id is a positive signed 64-bit integer (PostgreSQL `bigint`, SQLite `INTEGER`). Python's
integers are unbounded, so an id of 10**30 or 2**63 reached the driver and raised OverflowError (a
500) on SQLite; every place that takes an id from a caller bounds it here first and answers 400
naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from rest_framework import serializers

MAX_ID = 2**63 - 1
# ASCII digits only: str.isdigit() and int() also take other scripts' digits, and isdigit() takes
# superscripts that int() then refuses ("²".isdigit() is True, int("²") raises).
_ID_TEXT = re.compile(r"[0-9]{1,19}")

ID_MESSAGE = f"An id is a whole number from 1 to {MAX_ID}."


def not_an_id(value: Any) -> str:
    """The message for a value that is not an id, quoting it (cut short: it may be 100 KB)."""
    shown = str(value)
    return f"'{shown if len(shown) <= 40 else shown[:40] + '…'}' is not an id. {ID_MESSAGE}"


def parse_id(value: Any) -> int | None:
    """`value` as an id, or None when it is not one (not ASCII digits, a bool, below 1, above MAX_ID)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and _ID_TEXT.fullmatch(value.strip()):
        number = int(value)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def parse_ids(values: Iterable[Any] | None, field: str) -> list[int]:
    """Every value as an id, in order; ValidationError naming `field` and the first bad value."""
    if values is None:
        return []
    if isinstance(values, (str, bytes, dict)) or not isinstance(values, Iterable):
        raise ValidationError({field: "Give a list of ids."})
    ids = []
    for value in values:
        number = parse_id(value)
        if number is None:
            raise ValidationError({field: f"{field}: {not_an_id(value)}"})
        ids.append(number)
    return ids


class IdField(serializers.IntegerField):
    """An id in a request body: a whole number from 1 to MAX_ID (the schema says so too)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)
