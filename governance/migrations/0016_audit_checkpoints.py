"""Signed audit-chain checkpoints, and the beat entry that signs one every interval."""

import json

from django.db import migrations, models

NAME = "audit chain checkpoint"


def create_schedule(apps, schema_editor):
    from django.conf import settings

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every, _ = IntervalSchedule.objects.get_or_create(
        every=settings.STEWARD_AUDIT_CHECKPOINT_MINUTES, period="minutes"
    )
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "governance.run_job",
            "args": json.dumps(["audit_checkpoint"]),
            "interval": every,
            "enabled": True,
            "description": "Steward default",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, description="Steward default").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0015_attestation_keys_leave_the_database"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("seq", models.BigIntegerField()),
                ("head_hash", models.CharField(max_length=64)),
                ("signed_at", models.DateTimeField(db_index=True)),
                ("reason", models.CharField(blank=True, max_length=100)),
                ("kid", models.CharField(max_length=120)),
                ("jws", models.TextField()),
            ],
            options={"ordering": ["-signed_at", "-id"]},
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
