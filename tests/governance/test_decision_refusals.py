"""Refused decisions on exceptions and just-in-time requests (issue 22 item 2): 400 beside the comment
with the text kept, 409 with the page as it is now and who decided; nothing recorded for the loser."""

import pytest

from approvals.models import ApprovalStep
from governance.models import AuditEvent
from governance.people.models import Role
from tests.factories import GrantFactory, IdentityFactory, UserFactory, request_merge_access
from tests.governance.exceptions_support import old_key_identity, request

pytestmark = pytest.mark.django_db


def test_exception_reject_without_a_comment_is_400_beside_the_box_with_nothing_recorded(
    client, owner, security
):
    exc = request(owner, old_key_identity(owner))
    client.force_login(security)
    events = AuditEvent.objects.count()
    response = client.post(f"/exceptions/{exc.pk}/decide/", {"decision": "reject", "comment": "  "})
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-testid="comment-error"' in body and 'aria-invalid="true"' in body
    assert AuditEvent.objects.count() == events
    assert exc.approval.steps.get().state == ApprovalStep.State.PENDING


def test_exception_lost_race_is_409_with_who_decided_and_the_unsaved_comment(client, owner, security, team):
    exc = request(owner, old_key_identity(owner))
    UserFactory(username="security2", roles=[Role.SECURITY], team=team)
    client.force_login(security)
    assert client.post(f"/exceptions/{exc.pk}/decide/", {"decision": "approve"}).status_code == 302
    client.force_login(UserFactory._meta.model.objects.get(username="security2"))
    response = client.post(f"/exceptions/{exc.pk}/decide/", {"decision": "reject", "comment": "Too long."})
    assert response.status_code == 409
    body = response.content.decode()
    assert 'data-testid="decided-by"' in body and f"by {security} (security)" in body
    assert "Your comment was not recorded" in body and "Too long." in body
    assert 'data-testid="decide-form"' not in body


def test_jit_lost_race_is_409_with_who_decided(client, owner, iam, iam2):
    agent = IdentityFactory(owner=owner, environments=["prod"])
    GrantFactory(identity=agent, resource_name="platform/*", actions=["read_code"])
    ar = request_merge_access(owner, agent, reason="Merge the release branch")
    client.force_login(iam)
    missing = client.post(f"/access-requests/{ar.pk}/decide/", {"decision": "reject", "comment": ""})
    assert missing.status_code == 400 and 'data-testid="comment-error"' in missing.content.decode()
    assert client.post(f"/access-requests/{ar.pk}/decide/", {"decision": "approve"}).status_code == 302
    client.force_login(iam2)
    response = client.post(f"/access-requests/{ar.pk}/decide/", {"decision": "approve", "comment": "ok"})
    assert response.status_code == 409
    assert f"by {iam} (iam)" in response.content.decode()
