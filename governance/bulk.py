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


def insert_statement(model, objs: Sequence, *, connection=connection) -> tuple[str, list]:
    """A plain parameterised multi-row INSERT of `objs` (unsaved instances) into `model`'s table.

    For the few statements the ORM cannot express: the decisions' data-modifying CTE (rows and their
    usage in one round trip) and the aggregate rows' ``ON CONFLICT … DO UPDATE SET count = count + n``.
    It uses only public field API: each value is what ``bulk_create`` would send
    (``field.pre_save`` then ``field.get_db_prep_save``), so JSON, times and booleans are adapted the
    same way.
    """
    qn = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(qn(f.column) for f in fields)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for obj in objs for f in fields]
    sql = f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * len(objs))}"
    return sql, params
