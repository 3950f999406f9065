"""Beat entries for the jobs other features register (run through the generic governance.run_job task)."""

import json

from django.db import migrations

HOURLY = [("just-in-time access expiry", "access_requests")]
DAILY = [
    ("stale approval requests", "stale_requests", 6, 30),
    ("attestation signing keys", "signing_keys", 1, 15),
]


def create_schedule(apps, schema_editor):
    from django.conf import settings

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    for name, job in HOURLY:
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": "governance.run_job",
                "args": json.dumps([job]),
                "interval": hourly,
                "enabled": True,
                "description": "Steward default",
            },
        )
    for name, job, hour, minute in DAILY:
        crontab, _ = CrontabSchedule.objects.get_or_create(
            minute=str(minute),
            hour=str(hour),
            day_of_week="*",
            day_of_month="*",
            month_of_year="*",
            timezone=settings.TIME_ZONE,
        )
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={
                "task": "governance.run_job",
                "args": json.dumps([job]),
                "crontab": crontab,
                "enabled": True,
                "description": "Steward default",
            },
        )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    names = [n for n, _ in HOURLY] + [n for n, *_ in DAILY]
    PeriodicTask.objects.filter(name__in=names, description="Steward default").delete()


class Migration(migrations.Migration):
    dependencies = [("governance", "0006_governance_schedule")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
