"""For migrations that change only PostgreSQL (the identities tally, the search table): governance's
helpers (SQL run there, nothing elsewhere). A module of this folder whose name starts with `_` is not a
migration."""

from governance.migrations._postgresql import emptied_with, statements, tally

__all__ = ["emptied_with_identities", "statements", "tally"]


def emptied_with_identities(table: str) -> list[str]:
    """A table kept from the identities is emptied when they are (TRUNCATE fires no row triggers)."""
    return emptied_with(table, "inventory_identity")
