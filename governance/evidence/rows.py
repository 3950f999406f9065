"""What every CSV of an evidence pack is made of: a `Section` (its file, header, what it selects and its
rows), rows read from the database in chunks, and how a date or a person is written in a cell."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

CHUNK = 2000


def period_bounds(period_start: date, period_end: date) -> tuple[datetime, datetime]:
    """[start of the first day, start of the day after the last) in the site's time zone."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(period_start, time.min), tz)
    end = timezone.make_aware(datetime.combine(period_end + timedelta(days=1), time.min), tz)
    return start, end


def iso(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def username(user) -> str:
    return user.username if user is not None else ""


@dataclass
class Section:
    filename: str
    header: list[str]
    selection: str
    rows: Callable[[], Iterable[list[Any]]]
    queryset: QuerySet | None = None


def stream(
    queryset: QuerySet | None, to_row: Callable[[Any], list[Any]]
) -> Callable[[], Iterable[list[Any]]]:
    def rows():
        if queryset is None:
            return
        for obj in queryset.iterator(chunk_size=CHUNK):
            yield to_row(obj)

    return rows
