"""Updates of `last_used_at` become HOT (heap-only tuple) updates: bench/README.md, "Usage ingestion".

- `identity_last_used` goes: an index on a column that usage ingestion and decisions move all day
  makes each such update write a new entry into every index of the table (thirteen, the trigram index
  among them). Without it the update stays on its page and writes no index entry. The stale filter,
  the stale-access rule and the dashboard's stale figures scan the table whether it exists or not.
- `identity_owner` goes: it duplicates the index the `owner` foreign key already has.
- PostgreSQL: identities and grants keep a tenth of each page free (fillfactor 90), so the new row
  version of a HOT update finds room on its own page. It applies to pages written from now on; a
  `VACUUM FULL` or `CLUSTER` would rewrite the existing ones, which is left to the operator.
"""

from django.db import migrations

TABLES = ("inventory_identity", "inventory_grant")


def fill_factor(value):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for table in TABLES:
            if value is None:
                schema_editor.execute(f"ALTER TABLE {table} RESET (fillfactor)")
            else:
                schema_editor.execute(f"ALTER TABLE {table} SET (fillfactor = {int(value)})")

    return apply


class Migration(migrations.Migration):
    dependencies = [("inventory", "0012_identity_tally")]

    operations = [
        migrations.RemoveIndex(model_name="identity", name="identity_last_used"),
        migrations.RemoveIndex(model_name="identity", name="identity_owner"),
        migrations.RunPython(fill_factor(90), fill_factor(None), elidable=False),
    ]
