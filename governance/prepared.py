"""Statements PostgreSQL plans once: the hot paths' cursor with parameters bound on the server.

Django's PostgreSQL backend binds parameters on the client (psycopg's `ClientCursor`): every statement
reaches the server as new SQL text, which PostgreSQL parses and plans again. For the decision
endpoint's hot statements (the token, the identity's cache-key inputs, the answer's row, a workload
token's state) planning cost several times their execution: 0.27 → 0.05 ms of PostgreSQL CPU for
the token, 0.44 → 0.08 ms for the lookup, measured per statement from the server process's CPU
(bench/README.md, "Issue 23, third pass"). Through `server_bound_cursor()` the parameters travel
separately, and psycopg prepares a statement on its connection once it has run `prepare_threshold`
times (5 by default); PostgreSQL then reuses the plan (its own choice between a generic and a
custom plan).

Only statements whose text is fixed per shape belong here (no literals that change per call), or each
call would prepare a new one. Behind PgBouncer in transaction mode the settings turn preparing off
(`prepare_threshold = None`): the parameters are still bound on the server, nothing is prepared.
The cursor is Django's own wrapper around psycopg's, so query counting, `execute_wrapper` and error
translation behave as for `connection.cursor()`. Other databases get `connection.cursor()`.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections


@contextmanager
def server_bound_cursor() -> Iterator:
    db = connections[DEFAULT_DB_ALIAS]  # `connection` is a proxy: each attribute would look it up again
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    from django.db.backends.postgresql.base import ServerBindingCursor

    # What `connection.cursor()` does, with the server-binding cursor class in place of the default.
    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        raw = ServerBindingCursor(db.connection)
    cursor = _debug_wrapper_class()(raw, db) if db.queries_logged else db.make_cursor(raw)
    with cursor:
        yield cursor


@functools.cache
def _debug_wrapper_class():
    """Built on first use: the PostgreSQL backend's module imports psycopg."""
    from django.db.backends.postgresql.base import CursorDebugWrapper
    from psycopg.errors import DataError

    class DebugWrapper(CursorDebugWrapper):
        """Logs a statement with its values filled in, as Django's own cursors do (Django's way would
        log the text psycopg sent, with `$1` placeholders, or None for a prepared statement)."""

        def debug_sql(self, sql=None, params=None, use_last_executed_query=False, many=False):
            if use_last_executed_query and not many and params is not None:
                try:
                    sql = self.db.ops.compose_sql(sql, params)
                except DataError:
                    pass  # logged as written
            return super().debug_sql(sql, params, False, many)

    return DebugWrapper


# ---------------------------------------------------------------- compiled once, run many times

SENTINEL_ID = -(10**15)
"""The first of the stand-in ids a compiled statement is built with (then -10**15 - 1, …): no row has
such an id, and no other parameter of Steward's queries takes such a value."""
SENTINEL_TIME = datetime(2, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
"""The stand-in for a time (`now`) a compiled statement compares with; no caller asks about year 2
(not year 1: in a time zone west of UTC that is year 0, which Python cannot hold)."""


def sentinel_ids(count: int, start: int = 0) -> list[int]:
    return [SENTINEL_ID - start - i for i in range(count)]


@dataclass(frozen=True)
class Statement:
    """A `.values()` query's SQL and parameters, with what turns its rows into the ORM's values."""

    sql: str
    params: list[Any]
    names: list[str]
    compiler: Any
    converters: dict


_compiled = threading.local()
KEPT_PER_THREAD = 256  # statements: the decisions' lookup has one a batch shape, the rest one each


def compiled(key: Hashable, build: Callable[[], Any]) -> Statement:
    """The statement of the `.values()` queryset `build()` returns, compiled once per thread and kept
    under `key`, which names its shape: two querysets under one `key` may differ only in stand-ins.

    Compiling an ORM query costs several times more than running it (the identity detail's three
    reads: ~4 ms of CPU compiled each time, 0.3 ms run from kept SQL; bench/README.md). `build`
    uses stand-in values (`sentinel_ids`, or strings no caller sends) where the real ones go, and
    `rows()` puts the real ones in their place."""
    kept = getattr(_compiled, "by_key", None)
    if kept is None:  # per thread: the SQL depends on the database, not on one connection to it
        kept = _compiled.by_key = OrderedDict()
    statement = kept.get(key)
    if statement is not None:
        kept.move_to_end(key)
        return statement
    query = build().query
    compiler = query.get_compiler(using=DEFAULT_DB_ALIAS)
    sql, params = compiler.as_sql()
    fields = [s[0] for s in compiler.select[0 : compiler.col_count]]
    statement = Statement(
        sql=sql,
        params=list(params),
        # The columns' names in the order the SQL selects them, as Django's ValuesIterable names them.
        names=(
            list(query.selected)
            if query.selected is not None
            else [*query.extra_select, *query.values_select, *query.annotation_select]
        ),
        compiler=compiler,
        converters=compiler.get_converters(fields),
    )
    kept[key] = statement
    if len(kept) > KEPT_PER_THREAD:
        kept.popitem(last=False)  # the least recently used shape
    return statement


def _as_sent(value: Any) -> Any:
    """A value as the compiled statement holds it (a time, on SQLite, as text)."""
    if isinstance(value, datetime):
        return connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value(value)
    return value


def rows(statement: Statement, real: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """Run `statement` with each stand-in parameter replaced by `real[stand-in]`, through
    `server_bound_cursor()`; the rows as `.values()` gives them (the ORM's converters applied)."""
    sent = {_as_sent(stand_in): _as_sent(value) for stand_in, value in real.items()}
    params = [
        sent.get(p, p) if isinstance(p, (int, str, datetime)) and not isinstance(p, bool) else p
        for p in statement.params
    ]
    with server_bound_cursor() as cursor:
        cursor.execute(statement.sql, params)
        raw = cursor.fetchall()
    if statement.converters:
        raw = statement.compiler.apply_converters(raw, statement.converters)
    names = statement.names
    return [dict(zip(names, row, strict=True)) for row in raw]


def instances(model, key: Hashable, build: Callable[[], Any], real: Mapping[Any, Any]) -> list:
    """The `model` instances (every field loaded) of the queryset `build()` returns, read through a
    statement compiled once (`compiled`, `rows`): what iterating the queryset gives, for a read on
    a hot path."""
    names = [f.attname for f in model._meta.concrete_fields]
    statement = compiled(key, lambda: build().values(*names))
    return [
        model.from_db(DEFAULT_DB_ALIAS, names, [row[name] for name in names]) for row in rows(statement, real)
    ]
