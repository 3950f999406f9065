"""Bulk writes with PostgreSQL's COPY, for the hot paths that insert thousands of rows at once.

COPY is several times faster than a multi-row INSERT, whose ORM compilation alone dominated usage
ingestion and campaign launch (bench/README.md). It returns no ids, and it goes to psycopg directly,
so its database errors are wrapped here into Django's (an IntegrityError stays an IntegrityError).
Callers keep an ORM path for other databases.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection


def copy_rows(model, columns: Sequence[str], rows: Iterable[Sequence]) -> None:
    """COPY `rows` (values in the order of `columns`, database column names) into `model`'s table."""
    qn = connection.ops.quote_name
    statement = f"COPY {qn(model._meta.db_table)} ({', '.join(qn(c) for c in columns)}) FROM STDIN"
    with (
        connection.wrap_database_errors,
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        for row in rows:
            copy.write_row(row)
