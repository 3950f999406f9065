"""STW-05 says what the schedule does (issue 22 item 10): the sweep runs hourly, not daily. The
Control rows are refreshed from governance/evidence/catalogue.py."""

from django.db import migrations


def refresh_controls(apps, schema_editor):
    from governance.evidence.catalogue import sync_controls

    sync_controls(apps.get_model("governance", "Control"))


class Migration(migrations.Migration):
    dependencies = [("governance", "0023_finding_sla_owner_resolution")]

    operations = [migrations.RunPython(refresh_controls, migrations.RunPython.noop)]
