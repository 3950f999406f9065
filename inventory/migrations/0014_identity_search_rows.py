"""PostgreSQL: each identity's search text in a narrow table of its own, kept in step by triggers
(issue 23). Other databases: nothing; the search reads the identities.

A search must visit every match to count them: the trigram index finds them, then PostgreSQL
rechecks each `LIKE` in the table and reads its `name` to sort. In `inventory_identity` each match
is a whole identity row, so `search=cursor` (8,378 of 100,000) read 5,064 pages of the table:
27–32 ms for the count and the first page. Here a row is only the id, the name and the joined text
(15 MB for 100,000 identities), and the same count and first 50 ids take ~6 ms
(bench/README.md, issue 23, fifth pass). The identities API reads it when the search is its only
filter (`inventory.api.IdentityPagination`); with other filters the identity rows are read anyway.

In step, in the writing transaction itself: inserts (COPY and bulk inserts too) and deletes by
statement triggers with transition tables; updates by a row trigger that fires only when an
UPDATE sets one of the searched columns or the name (`last_used_at` moves thousands of rows a
minute and never reaches it); a TRUNCATE empties it. The document is the expression of
`identity_search_trgm` (migration 0011) and `inventory.filters.SearchDocument`, character for
character. Seeded under a lock that makes identity writes wait: ~7 s at 100,000 identities.
"""

from django.db import migrations, models

from inventory.migrations._postgresql import emptied_with_identities, statements

TABLE = "inventory_identity_search"
COLUMNS = ("name", "vendor", "product", "model_name", "purpose", "external_id")


def document(row: str = "") -> str:
    """The joined text of `row`'s columns (NEW. in a row trigger), as migration 0011 indexes it."""
    return "(" + " || E'\\x1f' || ".join(f"{row}{column}" for column in COLUMNS) + ")"


def columns(row: str) -> str:
    return "(" + ", ".join(f"{row}{column}" for column in COLUMNS) + ")"


DOCUMENT = document()

FORWARDS = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} (identity_id bigint PRIMARY KEY, name text NOT NULL, document text NOT NULL)",
    # Nothing writes identities between the seed below and the triggers.
    "LOCK TABLE inventory_identity IN SHARE ROW EXCLUSIVE MODE",
    f"DELETE FROM {TABLE}",
    f"INSERT INTO {TABLE} (identity_id, name, document) SELECT id, name, {DOCUMENT} FROM inventory_identity",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_trgm ON {TABLE} USING gin (UPPER(document) gin_trgm_ops)",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {TABLE} (identity_id, name, document) SELECT id, name, {DOCUMENT} FROM added;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE {TABLE} SET name = NEW.name, document = {document("NEW.")} WHERE identity_id = NEW.id;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        DELETE FROM {TABLE} WHERE identity_id IN (SELECT id FROM removed);
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER {TABLE}_added AFTER INSERT ON inventory_identity
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_added()""",
    f"""CREATE TRIGGER {TABLE}_changed AFTER UPDATE OF {", ".join(COLUMNS)} ON inventory_identity
        FOR EACH ROW WHEN ({columns("OLD.")} IS DISTINCT FROM {columns("NEW.")})
        EXECUTE FUNCTION {TABLE}_changed()""",
    f"""CREATE TRIGGER {TABLE}_removed AFTER DELETE ON inventory_identity
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_removed()""",
    *emptied_with_identities(TABLE),
    f"ANALYZE {TABLE}",
]
BACKWARDS = [
    *(
        f"DROP TRIGGER IF EXISTS {TABLE}_{t} ON inventory_identity"
        for t in ("added", "changed", "removed", "emptied")
    ),
    *(f"DROP FUNCTION IF EXISTS {TABLE}_{t}()" for t in ("added", "changed", "removed", "emptied")),
    f"DROP TABLE IF EXISTS {TABLE}",
]


forwards, backwards = statements(FORWARDS, BACKWARDS)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0013_identity_hot_last_used")]

    operations = [
        migrations.CreateModel(
            name="IdentitySearchRow",
            fields=[
                ("identity_id", models.BigIntegerField(primary_key=True, serialize=False)),
                ("name", models.TextField()),
                ("document", models.TextField()),
            ],
            options={"db_table": TABLE, "managed": False},
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
