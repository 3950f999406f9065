"""Default beat schedule for the governance jobs (editable afterwards in the admin), and job locks."""

from django.db import migrations

HOURLY = [("governance sweep", "governance.sweep"), ("expiry", "governance.expiry")]
# (name, task, hour, minute) in the project's time zone.
DAILY = [
    ("review campaigns cadence", "governance.review_cadence", 2, 0),
    ("posture snapshot", "governance.posture_snapshot", 0, 30),
    ("reminders", "governance.reminders", 7, 0),
]
LOCKS = ["sweep", "expiry.grants", "posture_snapshot"]


def create_schedule(apps, schema_editor):
    from django.conf import settings
    from django.utils import timezone

    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    JobLock = apps.get_model("governance", "JobLock")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    for name, task in HOURLY:
        PeriodicTask.objects.get_or_create(
            name=name,
            defaults={"task": task, "interval": hourly, "enabled": True, "description": "Steward default"},
        )
    for name, task, hour, minute in DAILY:
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
            defaults={"task": task, "crontab": crontab, "enabled": True, "description": "Steward default"},
        )
    now = timezone.now()
    for name in LOCKS:
        JobLock.objects.get_or_create(name=name, defaults={"created_at": now})


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    names = [n for n, *_ in HOURLY] + [n for n, *_ in DAILY]
    PeriodicTask.objects.filter(name__in=names, description="Steward default").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0005_findings_and_jobs"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
