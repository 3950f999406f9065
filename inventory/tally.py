"""How many identities there are, exactly, without counting them: the identities tally (migration
inventory.0012), for the unfiltered lists (the API's and the inventory page's) on PostgreSQL."""

from __future__ import annotations

from django.db import connection, transaction

from inventory.filters import IdentityFilter

TALLY = "inventory_identity_tally"  # migration inventory.0012
TALLY_COMPACT_ABOVE = 1_000  # rows: one per statement that inserted or deleted identities
TALLY_LOCK = 23_0012  # pg_try_advisory_xact_lock key: one compaction at a time


class IdentityTally:
    """How many identities there are, exactly, without counting them (PostgreSQL): the sum of the
    tally that statement triggers keep in the inserting or deleting transaction itself, so it
    sees what COUNT(*) in the same snapshot would. Used as an unfiltered list's `count`.

    Rows written with the triggers not firing are not counted: `session_replication_role = replica`
    (a superuser, a logical-replication subscriber), `ALTER TABLE … DISABLE TRIGGER` (the table's
    owner), `pg_restore --disable-triggers`. Nothing repairs the tally afterwards: run migration
    0012's seed again (`migrate inventory 0011` then `migrate`) after such a load."""

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*), coalesce(sum(delta), 0) FROM {TALLY}")
            rows, total = cursor.fetchone()
        if rows > TALLY_COMPACT_ABOVE:
            compact_tally()
        return int(total)


def compact_tally() -> None:
    """Fold the tally's rows into one. Rows that commit meanwhile are not seen and stay; two
    compactions never overlap (an advisory lock), so the sum never changes."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [TALLY_LOCK])
        if cursor.fetchone()[0]:
            cursor.execute(
                f"WITH gone AS (DELETE FROM {TALLY} RETURNING delta) "
                f"INSERT INTO {TALLY} (delta) SELECT coalesce(sum(delta), 0) FROM gone"
            )


def unfiltered(params) -> bool:
    """No inventory filter in `params` (an ordering is not one): the list counts every identity."""
    return not any(name in params for name in IdentityFilter.base_filters if name != "ordering")


def identity_tally():
    """The tally where it is the count of an unfiltered list (PostgreSQL), else None."""
    return IdentityTally() if connection.vendor == "postgresql" else None
