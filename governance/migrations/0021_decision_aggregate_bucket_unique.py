"""One aggregate decision row per identity, minute, question and outcome (a unique constraint), so
concurrent counts add up with INSERT … ON CONFLICT instead of update-then-create racing into two rows.
Rows that such a race already split are merged first: their counts summed into the oldest."""

from django.db import migrations, models
from django.db.models import Count, Min, Sum

BUCKET = ("identity", "window_start", "action", "resource_kind", "resource_name", "environment", "decision")


def merge_split_buckets(apps, schema_editor):
    DecisionRecord = apps.get_model("governance", "DecisionRecord")
    split = (
        DecisionRecord.objects.filter(window_start__isnull=False)
        .values(*BUCKET)
        .annotate(rows=Count("pk"), keep=Min("pk"), total=Sum("count"))
        .filter(rows__gt=1)
    )
    for bucket in split.iterator():
        same = DecisionRecord.objects.filter(**{field: bucket[field] for field in BUCKET})
        same.exclude(pk=bucket["keep"]).delete()
        same.filter(pk=bucket["keep"]).update(count=bucket["total"])


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0020_finding_rules_connectors"),
    ]

    operations = [
        migrations.RunPython(merge_split_buckets, migrations.RunPython.noop),
        migrations.RemoveIndex(model_name="decisionrecord", name="decision_aggregate_bucket"),
        migrations.AddConstraint(
            model_name="decisionrecord",
            constraint=models.UniqueConstraint(
                condition=models.Q(("window_start__isnull", False)),
                fields=BUCKET,
                name="decision_aggregate_bucket_unique",
            ),
        ),
    ]
