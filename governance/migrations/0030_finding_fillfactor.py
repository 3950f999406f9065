"""PostgreSQL: findings keep 40 % of each page free (fillfactor 60), so the sweep's hourly update of
every unresolved finding (`last_seen_at`, `owner`) is a HOT update: the new row version stays on its
page and writes no index entry. With full pages each sweep rewrote all ~270,000 unresolved findings of
the 100,000-identity estate into new pages and all eight indexes: 8.3 s; with room on the page,
1.8–2.3 s (bench/README.md, "The sweep"). It applies to pages written from now on: a database that
already holds many findings gets the room as rows move, or at once with `VACUUM FULL
governance_finding` (which locks the table while it runs), left to the operator.
"""

from django.db import migrations


def fill_factor(value):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        if value is None:
            schema_editor.execute("ALTER TABLE governance_finding RESET (fillfactor)")
        else:
            schema_editor.execute(f"ALTER TABLE governance_finding SET (fillfactor = {int(value)})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("governance", "0029_list_preference")]

    operations = [migrations.RunPython(fill_factor(60), fill_factor(None), elidable=False)]
