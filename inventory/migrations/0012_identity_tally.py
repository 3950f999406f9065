"""PostgreSQL: an exact, transactional count of identities without counting them (issue 23).

The identities API's default answer carries the exact `count`. Unfiltered, that was a COUNT(*) over
every identity's index entry on each request: 5 ms of database CPU at 100,000 identities, most of
the list's database time. Here every statement that inserts or deletes identities adds one row to
`inventory_identity_tally` holding +n or -n, in its own transaction (statement triggers with
transition tables: COPY and bulk inserts included), so `SELECT sum(delta)` sees exactly the
identities the same snapshot would count. A TRUNCATE empties the tally too. Readers compact the
rows now and then (`inventory.tally`). Other databases: nothing; the list counts.
"""

from django.db import migrations

from inventory.migrations._postgresql import emptied_with_identities, statements

TABLE = "inventory_identity_tally"

FORWARDS = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} (delta bigint NOT NULL)",
    # Nothing inserts or deletes identities between the seed below and the triggers.
    "LOCK TABLE inventory_identity IN SHARE ROW EXCLUSIVE MODE",
    f"DELETE FROM {TABLE}",
    f"INSERT INTO {TABLE} (delta) SELECT count(*) FROM inventory_identity",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_added() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {TABLE} (delta) SELECT count(*) FROM added HAVING count(*) > 0;
        RETURN NULL;
    END $$""",
    f"""CREATE OR REPLACE FUNCTION {TABLE}_removed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO {TABLE} (delta) SELECT -count(*) FROM removed HAVING count(*) > 0;
        RETURN NULL;
    END $$""",
    f"""CREATE TRIGGER {TABLE}_added AFTER INSERT ON inventory_identity
        REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_added()""",
    f"""CREATE TRIGGER {TABLE}_removed AFTER DELETE ON inventory_identity
        REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_removed()""",
    *emptied_with_identities(TABLE),
]
BACKWARDS = [
    f"DROP TRIGGER IF EXISTS {TABLE}_added ON inventory_identity",
    f"DROP TRIGGER IF EXISTS {TABLE}_removed ON inventory_identity",
    f"DROP TRIGGER IF EXISTS {TABLE}_emptied ON inventory_identity",
    f"DROP FUNCTION IF EXISTS {TABLE}_added()",
    f"DROP FUNCTION IF EXISTS {TABLE}_removed()",
    f"DROP FUNCTION IF EXISTS {TABLE}_emptied()",
    f"DROP TABLE IF EXISTS {TABLE}",
]


forwards, backwards = statements(FORWARDS, BACKWARDS)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0011_identity_search_trigram_index")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
