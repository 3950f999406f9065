"""Writing to the audit chain, and tampering with it, for the chain and checkpoint tests."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
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


def verify_passes(capsys) -> str:
    """Run verify_audit_chain, which must pass; what it printed."""
    call_command("verify_audit_chain")
    return capsys.readouterr().out


def verify_fails() -> str:
    """Run verify_audit_chain, which must exit 1; what it said."""
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_chain")
    assert excinfo.value.returncode == 1
    return str(excinfo.value)
