"""PostgreSQL: a trigram index for the inventory search (issue 23). Other databases: nothing to do.

The search is a case-insensitive substring match over six columns (`inventory.filters.search`); no
b-tree serves `LIKE '%term%'`, so at 100,000 identities every search was a parallel sequential scan
(93 ms for the count alone). pg_trgm ships with PostgreSQL: one GIN index over the six columns joined
by a separator, upper-cased exactly as Django's `icontains` compares, answers `UPPER(doc) LIKE
UPPER('%term%')` for any term of three characters or more. One index rather than six: each update of
an identity (usage ingestion moves `last_used_at`) writes one GIN entry set, not six.

The expression is frozen here on purpose: `inventory.filters.SearchDocument` writes the same SQL,
and the planner uses the index only while the two are identical. Built without CONCURRENTLY: at
100,000 rows it takes a few seconds, during which writes to identities wait.
"""

from django.db import migrations

INDEX = "identity_search_trgm"
DOCUMENT = (
    "UPPER((name || E'\\x1f' || vendor || E'\\x1f' || product || E'\\x1f' || model_name"
    " || E'\\x1f' || purpose || E'\\x1f' || external_id))"
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON inventory_identity USING gin ({DOCUMENT} gin_trgm_ops)"
    )


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")  # pg_trgm stays: others may use it


class Migration(migrations.Migration):
    dependencies = [("inventory", "0010_identity_kind_mcp_server")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
