"""Beat entry for workload housekeeping (resend due Security Event Tokens, forget expired replay
records), run through governance.run_job every minute."""

import json

from django.db import migrations

NAME = "workload housekeeping"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    interval, _ = IntervalSchedule.objects.get_or_create(every=1, period="minutes")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "governance.run_job",
            "args": json.dumps(["workload_housekeeping"]),
            "interval": interval,
            "enabled": True,
            "description": "Steward default",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, description="Steward default").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("workload", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
