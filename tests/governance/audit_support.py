"""Writing to the audit chain, and tampering with it, for the chain and checkpoint tests."""

from django.db import connection, transaction

from governance import audit
from governance.actors import system


def write_events(n, subject):
    for i in range(n):
        with transaction.atomic():
            audit.record(system("test"), "thing.changed", subject, after={"i": i}, reason=f"step {i}")


def raw_sql(sql, params=()):
    """What someone with database write access does (on PostgreSQL, past the append-only trigger)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # The database itself refuses edits; a tamperer with superuser rights can bypass the
            # trigger, which is exactly what the chain is there to catch.
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(sql, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = DEFAULT")
