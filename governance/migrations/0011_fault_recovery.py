"""Recovery from faults: the evidence build claim, and beat entries for the recovery jobs (the
notification outbox and evidence packs whose worker died), run through governance.run_job."""

import json

from django.db import migrations, models

EVERY_MINUTES = [
    ("notification outbox", "notifications", 5),
    ("stuck evidence exports", "evidence_recovery", 15),
]


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, job, minutes in EVERY_MINUTES:
        interval, _ = IntervalSchedule.objects.get_or_create(every=minutes, period="minutes")
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": "governance.run_job",
                "args": json.dumps([job]),
                "interval": interval,
                "enabled": True,
                "description": "Steward default",
            },
        )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    names = [name for name, *_ in EVERY_MINUTES]
    PeriodicTask.objects.filter(name__in=names, description="Steward default").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0010_access_reviews"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AddField(
            model_name="evidenceexport",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="evidenceexport",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
