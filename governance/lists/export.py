"""A list's CSV: the rows of exactly the page's current filter, streamed (flat memory whatever the
size), every cell through governance.csv_safety so a spreadsheet never runs one as a formula."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence

from django.http import StreamingHttpResponse
from django.utils import timezone

from governance.csv_safety import safe_cell


class _Echo:
    def write(self, value):
        return value


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return safe_cell(str(value))


def _lines(header: Sequence[str], rows: Iterable[Sequence]):
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([cell(v) for v in row])


def csv_response(name: str, header: Sequence[str], rows: Iterable[Sequence]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_lines(header, rows), content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="steward-{name}-{stamp}.csv"'
    return response
