"""Attestation keys move to files (governance.signing): the private halves kept encrypted in the
database are erased; the public halves stay published a day, longer than any attestation lives."""

from datetime import timedelta

from django.db import migrations
from django.db.models import Q


def retire_database_keys(apps, schema_editor):
    from django.utils import timezone

    SigningKey = apps.get_model("governance", "SigningKey")
    now = timezone.now()
    SigningKey.objects.filter(signs_until__gt=now).update(signs_until=now)
    SigningKey.objects.filter(Q(published_until__gt=now + timedelta(days=1))).update(
        published_until=now + timedelta(days=1)
    )


class Migration(migrations.Migration):
    dependencies = [("governance", "0014_user_scim_emails")]

    operations = [
        migrations.RunPython(retire_database_keys, migrations.RunPython.noop),
        migrations.RemoveField(model_name="signingkey", name="private_key_encrypted"),
    ]
