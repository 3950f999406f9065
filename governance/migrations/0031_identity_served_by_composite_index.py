"""The identity's own index is dropped: `decision_identity_at` (identity, -at) serves every lookup by
identity, and each row written updates one index fewer (bench/README.md, issue 23)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0030_finding_fillfactor"),
    ]

    operations = [
        # Only the index goes: Django's AlterField would also drop and re-add the foreign key, which
        # re-checks every row of the table (minutes on a large log) for no change.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="decisionrecord",
                    name="identity",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="decisions",
                        to="inventory.identity",
                        verbose_name="identity",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "governance_decisionrecord_identity_id_81726c39"',
                    reverse_sql='CREATE INDEX "governance_decisionrecord_identity_id_81726c39" '
                    'ON "governance_decisionrecord" ("identity_id")',
                ),
            ],
        ),
    ]
