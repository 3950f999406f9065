"""For migrations that change only PostgreSQL (the identities tally, the search table): SQL run in
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


def emptied_with_identities(table: str) -> list[str]:
    """A table kept from the identities is emptied when they are (TRUNCATE fires no row triggers)."""
    return [
        f"""CREATE OR REPLACE FUNCTION {table}_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {table};
        RETURN NULL;
    END $$""",
        f"""CREATE TRIGGER {table}_emptied AFTER TRUNCATE ON inventory_identity
        FOR EACH STATEMENT EXECUTE FUNCTION {table}_emptied()""",
    ]
