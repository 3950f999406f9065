from django.db import migrations, models


class Migration(migrations.Migration):
    """Tokens gain the scope `report`: usage reports for any identity, nothing else (issue 18)."""

    dependencies = [("governance", "0017_policy_two_person")]

    operations = [
        migrations.AlterField(
            model_name="apitoken",
            name="scope",
            field=models.CharField(
                choices=[
                    ("read", "read"),
                    ("write", "write"),
                    ("scim", "SCIM provisioning"),
                    ("report", "usage reports for any identity"),
                ],
                default="read",
                max_length=10,
            ),
        ),
    ]
