"""For migrations that change only PostgreSQL (the tallies, the identities' search table): SQL run in
order there, nothing elsewhere. A module of this folder whose name starts with `_` is not a migration."""


def statements(forwards_sql: list[str], backwards_sql: list[str]):
    """RunPython's two functions for these statements, each a no-op on other databases."""

    def forwards(apps, schema_editor):
        _run(schema_editor, forwards_sql)

    def backwards(apps, schema_editor):
        _run(schema_editor, backwards_sql)

    return forwards, backwards


def _run(schema_editor, sql: list[str]) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in sql:
        schema_editor.execute(statement)


def emptied_with(table: str, source: str) -> list[str]:
    """A table kept from `source` is emptied when `source` is (TRUNCATE fires no row triggers)."""
    return [
        f"""CREATE OR REPLACE FUNCTION {table}_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {table};
        RETURN NULL;
    END $$""",
        f"""CREATE TRIGGER {table}_emptied AFTER TRUNCATE ON {source}
        FOR EACH STATEMENT EXECUTE FUNCTION {table}_emptied()""",
    ]


def tally(table: str, source: str) -> tuple[list[str], list[str]]:
    """The SQL forwards and backwards of a tally of `source`'s rows (governance.tally): seeded with
    their count, then one +n or -n row per statement that inserts or deletes, in its transaction."""
    forwards = [
        f"CREATE TABLE IF NOT EXISTS {table} (delta bigint NOT NULL)",
        # Nothing inserts or deletes rows between the seed below and the triggers.
        f"LOCK TABLE {source} IN SHARE ROW EXCLUSIVE MODE",
        f"DELETE FROM {table}",
        f"INSERT INTO {table} (delta) SELECT count(*) FROM {source}",
        f"""CREATE OR REPLACE FUNCTION {table}_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {table} (delta) SELECT count(*) FROM added HAVING count(*) > 0;
        RETURN NULL;
    END $$""",
        f"""CREATE OR REPLACE FUNCTION {table}_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {table} (delta) SELECT -count(*) FROM removed HAVING count(*) > 0;
        RETURN NULL;
    END $$""",
        f"""CREATE TRIGGER {table}_added AFTER INSERT ON {source}
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION {table}_added()""",
        f"""CREATE TRIGGER {table}_removed AFTER DELETE ON {source}
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION {table}_removed()""",
        *emptied_with(table, source),
    ]
    backwards = [
        *(f"DROP TRIGGER IF EXISTS {table}_{t} ON {source}" for t in ("added", "removed", "emptied")),
        *(f"DROP FUNCTION IF EXISTS {table}_{t}()" for t in ("added", "removed", "emptied")),
        f"DROP TABLE IF EXISTS {table}",
    ]
    return forwards, backwards
