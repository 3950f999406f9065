"""Checks shared by the tests of PostgreSQL-only migrations (search index, identities tally)."""


class SqliteEditor:
    """A schema editor on SQLite that fails the test if the migration runs any SQL through it."""

    class connection:
        vendor = "sqlite"

    def execute(self, sql, params=()):
        raise AssertionError(f"ran SQL on SQLite: {sql}")


def assert_does_nothing_on_sqlite(migration) -> None:
    migration.forwards(None, SqliteEditor())
    migration.backwards(None, SqliteEditor())
