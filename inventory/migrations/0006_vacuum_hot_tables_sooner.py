"""PostgreSQL: vacuum identities and grants after 2 % of their rows change, not 20 %.

Usage ingestion moves `last_used_at` forward on thousands of identities and grants a minute. Each
update leaves a dead row and clears the page's visibility bit, so the inventory's exact COUNT(*) reads
the heap instead of the index alone until autovacuum comes round (bench/README.md: the identities
API page went from ~20 to ~50 ms at 100,000 identities after ingestion). Vacuuming these two tables
sooner keeps that window short; their vacuum is cheap. Other databases: nothing to do.
"""

from django.db import migrations

TABLES = ("inventory_identity", "inventory_grant")
SETTINGS = "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02"
RESET = "autovacuum_vacuum_scale_factor, autovacuum_analyze_scale_factor"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} SET ({SETTINGS})")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for table in TABLES:
        schema_editor.execute(f"ALTER TABLE {schema_editor.quote_name(table)} RESET ({RESET})")


class Migration(migrations.Migration):
    dependencies = [("inventory", "0005_identity_kind_status_tier_index")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
