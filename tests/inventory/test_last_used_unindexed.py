"""Rows that move all day are updated in place (HOT). `last_used_at` moves on every usage batch and
once a minute per identity that decisions answer for, and the sweep touches every unresolved finding
each hour: no index may cover `last_used_at`, and the pages keep room, so PostgreSQL writes no index
entry for those updates (migrations inventory.0013 and governance.0030, bench/README.md)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("table", ["inventory_identity", "inventory_grant"])
def test_no_index_covers_last_used_at(table):
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    covering = [name for name, c in constraints.items() if c["index"] and "last_used_at" in c["columns"]]
    assert covering == []


def test_owner_has_one_index_not_two():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "inventory_identity")
    on_owner = [n for n, c in constraints.items() if c["index"] and c["columns"] == ["owner_id"]]
    assert len(on_owner) == 1


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="fillfactor is PostgreSQL's")
@pytest.mark.parametrize(
    "table, fill",
    [("inventory_identity", 90), ("inventory_grant", 90), ("governance_finding", 60)],  # the sweep's
)
def test_pages_keep_room_for_heap_only_updates(table, fill):
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = %s", [table])
        (options,) = cursor.fetchone()
    assert f"fillfactor={fill}" in (options or [])
