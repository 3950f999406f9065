"""The identity's own index is dropped: `usage_identity_at` (identity, -at) serves every lookup by
identity, and each row written updates one index fewer (bench/README.md, issue 23)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0014_identity_search_rows"),
    ]

    operations = [
        # Only the index goes: Django's AlterField would also drop and re-add the foreign key, which
        # re-checks every row of the table (minutes on a large log) for no change.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="usageevent",
                    name="identity",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="usage_events",
                        to="inventory.identity",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "inventory_usageevent_identity_id_12a2ac03"',
                    reverse_sql='CREATE INDEX "inventory_usageevent_identity_id_12a2ac03" '
                    'ON "inventory_usageevent" ("identity_id")',
                ),
            ],
        ),
    ]
