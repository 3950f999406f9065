from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0027_finding_rule_static_credential_federation"),
    ]

    operations = [
        migrations.AddField(
            model_name="evidenceexport",
            name="progress_done",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="evidenceexport",
            name="progress_total",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
