"""Beat entry for the `import_previews` job (inventory.jobs): delete import previews nobody confirmed
within a day. Run hourly through the generic governance.run_job task, like the other feature jobs."""

import json

from django.db import migrations

NAME = "abandoned import previews"


def create_schedule(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    hourly, _ = IntervalSchedule.objects.get_or_create(every=1, period="hours")
    PeriodicTask.objects.get_or_create(
        name=NAME,
        defaults={
            "task": "governance.run_job",
            "args": json.dumps(["import_previews"]),
            "interval": hourly,
            "enabled": True,
            "description": "Steward default",
        },
    )


def remove_schedule(apps, schema_editor):
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    PeriodicTask.objects.filter(name=NAME, description="Steward default").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0007_activation_backup_nomination_scope_fields"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
