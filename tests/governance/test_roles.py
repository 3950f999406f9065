import pytest

from governance.errors import NotAllowed
from governance.models import AuditEvent
from governance.people.models import Role
from governance.policy.services import DEFAULT_POLICY, approve_policy, current_policy, propose_policy


@pytest.mark.django_db
def test_role_helpers(role_users):
    assert role_users["iam"].is_iam and role_users["iam"].is_governor
    assert role_users["security"].is_security
    assert role_users["auditor"].is_auditor and not role_users["auditor"].is_governor
    assert not role_users["outsider"].has_role(*Role.values)


@pytest.mark.django_db
def test_inactive_user_holds_no_role(iam):
    iam.is_active = False
    assert not iam.has_role(Role.IAM)


@pytest.mark.django_db
def test_role_groups_exist_with_permissions():
    from django.contrib.auth.models import Group

    for role in Role.values:
        assert Group.objects.get(name=role).permissions.exists()


@pytest.mark.django_db
def test_only_security_proposes_policy_and_every_change_is_versioned_and_audited(security, iam):
    document = {**DEFAULT_POLICY, "allowed_vendors": ["Anthropic"]}
    with pytest.raises(NotAllowed):
        propose_policy(iam, document)
    in_force = current_policy().version
    proposal = propose_policy(security, document, note="narrow vendors")
    assert proposal.version == in_force + 1 and current_policy().version == in_force
    approve_policy(iam, proposal)
    assert current_policy().version == proposal.version
    assert current_policy().allowed_vendors == ["Anthropic"]
    approve_policy(iam, propose_policy(security, DEFAULT_POLICY, note="back"))
    assert current_policy().version == proposal.version + 1
    assert [e.verb for e in AuditEvent.objects.order_by("seq")] == [
        "policy.proposed",
        "policy.approved",
        "policy.proposed",
        "policy.approved",
    ]


@pytest.mark.django_db
def test_invalid_policy_is_refused_with_field_messages(security):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as excinfo:
        propose_policy(security, {"tiers": {"low": {}}})
    assert "tiers" in excinfo.value.message_dict
    assert not AuditEvent.objects.exists()
