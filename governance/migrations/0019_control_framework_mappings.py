"""The control catalogue's framework references corrected and versioned (issue 19 item 12): the
Control rows are refreshed from governance/evidence/catalogue.py."""

from django.db import migrations


def refresh_controls(apps, schema_editor):
    from governance.evidence.catalogue import sync_controls

    sync_controls(apps.get_model("governance", "Control"))


class Migration(migrations.Migration):
    dependencies = [("governance", "0018_apitoken_report_scope")]

    operations = [migrations.RunPython(refresh_controls, migrations.RunPython.noop)]
