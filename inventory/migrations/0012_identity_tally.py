"""PostgreSQL: an exact, transactional count of identities without counting them (issue 23).

The identities API's default answer carries the exact `count`. Unfiltered, that was a COUNT(*) over
every identity's index entry on each request: 5 ms of database CPU at 100,000 identities, most of
the list's database time. Here every statement that inserts or deletes identities adds one row to
`inventory_identity_tally` holding +n or -n, in its own transaction (statement triggers with
transition tables: COPY and bulk inserts included), so `SELECT sum(delta)` sees exactly the
identities the same snapshot would count. A TRUNCATE empties the tally too. Readers compact the
rows now and then (`governance.tally`). Other databases: nothing; the list counts.
"""

from django.db import migrations

from inventory.migrations._postgresql import statements, tally

TABLE = "inventory_identity_tally"
FORWARDS, BACKWARDS = tally(TABLE, "inventory_identity")


forwards, backwards = statements(FORWARDS, BACKWARDS)


class Migration(migrations.Migration):
    dependencies = [("inventory", "0011_identity_search_trigram_index")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
