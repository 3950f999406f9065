"""Separation of duties is enforced in the service (403 with a clear message), whatever the door."""

import pytest

from approvals.services import intake as svc
from governance.errors import NotAllowed
from governance.people.models import Role
from tests.factories import UserFactory


@pytest.mark.django_db
def test_requester_cannot_approve_own_request(iam, make_intake):
    intake = make_intake(iam, "medium")
    with pytest.raises(NotAllowed, match="cannot decide your own request"):
        svc.approve(iam, intake)


@pytest.mark.django_db
def test_owner_to_be_counts_as_requester(owner, iam, iam2, make_intake):
    intake = make_intake(owner, "medium", owner=iam, backup_owner=None)
    with pytest.raises(NotAllowed, match="owner-to-be"):
        svc.approve(iam, intake)
    svc.approve(iam2, intake)
    intake.refresh_from_db()
    assert intake.state == "approved"


@pytest.mark.django_db
def test_backup_owner_to_be_cannot_approve_either(owner, iam, make_intake):
    intake = make_intake(owner, "medium", backup_owner=iam)
    with pytest.raises(NotAllowed, match="own request"):
        svc.approve(iam, intake)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "tier,first,second,refusal",
    [
        # One person decides at most one step, even with both roles.
        pytest.param("high", "both", "both", "already decided step 1", id="both-steps"),
        # A critical request's second IAM step needs a different person.
        pytest.param("critical", "iam", "iam", "different person", id="critical-second-iam"),
        pytest.param("high", "iam", "iam2", "needs a Security admin", id="iam-on-the-security-step"),
    ],
)
def test_the_next_step_refuses(role_users, owner, make_intake, tier, first, second, refusal):
    both = UserFactory(username="iam-and-security", roles=[Role.IAM, Role.SECURITY])
    people = {**role_users, "both": both}
    intake = make_intake(owner, tier)
    svc.approve(people[first], intake)
    with pytest.raises(NotAllowed, match=refusal):
        svc.approve(people[second], intake)


@pytest.mark.django_db
def test_auditors_decide_nothing_even_with_an_approver_role(owner, make_intake):
    auditor_iam = UserFactory(username="auditor-iam", roles=[Role.AUDITOR, Role.IAM])
    intake = make_intake(owner, "medium")
    with pytest.raises(NotAllowed, match="Auditors read everything and decide nothing"):
        svc.approve(auditor_iam, intake)


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner2", "security", "outsider"])
def test_the_step_role_is_required(role_users, owner, make_intake, username):
    intake = make_intake(owner, "high")  # step 1 needs IAM
    with pytest.raises(NotAllowed, match="needs an IAM approver"):
        svc.approve(role_users[username], intake)


@pytest.mark.django_db
def test_refusals_change_nothing(owner, iam, make_intake):
    from governance.models import AuditEvent

    intake = make_intake(owner, "high")
    before = AuditEvent.objects.count()
    with pytest.raises(NotAllowed):
        svc.approve(owner, intake)
    assert AuditEvent.objects.count() == before
    assert intake.approval.steps.filter(state="pending").count() == 2


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,expected",
    # owner2 cannot even see someone else's request: 404. An account with no role is refused
    # before any lookup: 403.
    [("owner", 403), ("owner2", 404), ("auditor", 403), ("outsider", 403), ("security", 403), ("iam", 200)],
)
def test_api_approve_permission_matrix(role_users, api_as, make_intake, username, expected):
    intake = make_intake(role_users["owner"], "high")
    response = api_as(role_users[username]).post(
        f"/api/v1/intake-requests/{intake.pk}/approve/", {}, format="json"
    )
    assert response.status_code == expected, response.content
    if expected == 403:
        assert response.json()["detail"]


@pytest.mark.django_db
def test_api_requester_gets_403_with_a_clear_message(owner, api_as, make_intake):
    intake = make_intake(owner, "high")
    response = api_as(owner).post(f"/api/v1/intake-requests/{intake.pk}/approve/", {}, format="json")
    assert response.status_code == 403
    assert "cannot decide your own request" in response.json()["detail"]
