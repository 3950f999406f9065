"""Role groups with their permissions, and (on PostgreSQL) a trigger that refuses audit edits."""

from django.db import migrations

ROLE_PERMISSIONS = {
    "Tool owner": ["view_identity", "view_grant", "view_credential", "view_team"],
    "IAM approver": [
        "view_identity",
        "view_grant",
        "view_credential",
        "view_usageevent",
        "view_team",
        "view_user",
        "view_auditevent",
        "view_policyversion",
    ],
    "Security admin": [
        "view_identity",
        "view_grant",
        "view_credential",
        "view_usageevent",
        "view_team",
        "view_user",
        "view_auditevent",
        "view_policyversion",
    ],
    "Auditor": [
        "view_identity",
        "view_grant",
        "view_credential",
        "view_usageevent",
        "view_team",
        "view_user",
        "view_auditevent",
        "view_policyversion",
        "view_apitoken",
    ],
}

GUARD_SQL = """
CREATE OR REPLACE FUNCTION steward_audit_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'governance_auditevent is append-only: %% refused', TG_OP;
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS governance_auditevent_append_only ON governance_auditevent;
CREATE TRIGGER governance_auditevent_append_only
  BEFORE UPDATE OR DELETE ON governance_auditevent
  FOR EACH ROW EXECUTE FUNCTION steward_audit_append_only();
"""
UNGUARD_SQL = """
DROP TRIGGER IF EXISTS governance_auditevent_append_only ON governance_auditevent;
DROP FUNCTION IF EXISTS steward_audit_append_only();
"""


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set(Permission.objects.filter(codename__in=codenames))


def guard_audit(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(GUARD_SQL)


def unguard_audit(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(UNGUARD_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_initial"),
        ("inventory", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(create_roles, migrations.RunPython.noop),
        migrations.RunPython(guard_audit, unguard_audit),
    ]
