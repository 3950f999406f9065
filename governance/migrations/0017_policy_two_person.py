"""Policy changes take two people: governance policy versions gain a state (proposed, active,
superseded, rejected) and who decided them; Cedar activations become proposals a second person
approves.

Existing versions keep their meaning: the active one stays active, the others become superseded. A
database with no governance policy version gets version 1, the built-in defaults, installed by
`system:migration` (nobody to be a second person at install time), so there is always a version in
force to propose changes against.
"""

import django.db.models.deletion
from django.db import migrations, models


def states_from_flags(apps, schema_editor):
    from django.utils import timezone

    PolicyVersion = apps.get_model("governance", "PolicyVersion")
    PolicyVersion.objects.filter(is_active=True).update(state="active")
    PolicyVersion.objects.filter(is_active=False).update(state="superseded")
    if not PolicyVersion.objects.exists():
        import copy

        from governance.policy.services import DEFAULT_POLICY

        now = timezone.now()
        PolicyVersion.objects.create(
            version=1,
            document=copy.deepcopy(DEFAULT_POLICY),
            state="active",
            created_by="system:migration",
            note="Defaults shipped with Steward.",
            decided_by="system:migration",
            decided_at=now,
            activated_at=now,
        )


def flags_from_states(apps, schema_editor):
    PolicyVersion = apps.get_model("governance", "PolicyVersion")
    PolicyVersion.objects.filter(state="active").update(is_active=True)


class Migration(migrations.Migration):
    dependencies = [("governance", "0016_audit_checkpoints")]

    operations = [
        migrations.RemoveConstraint(model_name="policyversion", name="one_active_policy"),
        migrations.AddField(
            model_name="policyversion",
            name="state",
            field=models.CharField(
                choices=[
                    ("proposed", "proposed"),
                    ("active", "active"),
                    ("superseded", "superseded"),
                    ("rejected", "rejected"),
                ],
                default="proposed",
                max_length=12,
            ),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="based_on",
            field=models.PositiveIntegerField(
                blank=True, help_text="The version in force when this one was proposed.", null=True
            ),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="decided_by",
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="decided_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="decision_comment",
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="activated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="policyversion",
            name="superseded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="policyversion",
            name="created_by",
            field=models.CharField(help_text="Who proposed this version.", max_length=150),
        ),
        migrations.RunPython(states_from_flags, flags_from_states),
        migrations.RemoveField(model_name="policyversion", name="is_active"),
        migrations.AddConstraint(
            model_name="policyversion",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "active")), fields=("state",), name="one_active_policy_version"
            ),
        ),
        migrations.CreateModel(
            name="CedarActivation",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "state",
                    models.CharField(
                        choices=[
                            ("proposed", "proposed"),
                            ("approved", "approved"),
                            ("rejected", "rejected"),
                        ],
                        default="proposed",
                        max_length=10,
                    ),
                ),
                ("proposed_by", models.CharField(max_length=150)),
                ("proposed_at", models.DateTimeField(auto_now_add=True)),
                ("reason", models.TextField(blank=True)),
                (
                    "from_version",
                    models.PositiveIntegerField(
                        blank=True,
                        help_text="The version active when the activation was proposed.",
                        null=True,
                    ),
                ),
                ("decided_by", models.CharField(blank=True, max_length=150)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("decision_comment", models.TextField(blank=True)),
                (
                    "policy_set",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="activations",
                        to="governance.cedarpolicyset",
                    ),
                ),
            ],
            options={"ordering": ["-proposed_at", "-pk"]},
        ),
        migrations.AddConstraint(
            model_name="cedaractivation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("state", "proposed")),
                fields=("policy_set",),
                name="one_pending_activation_per_policy_set",
            ),
        ),
    ]
