"""Reactivating a suspended identity is a request too: routed by tier, applied only on approval."""

import pytest
from django.core.exceptions import ValidationError

from approvals.flows import reactivation
from approvals.models import ApprovalRequest
from approvals.services import engine
from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from inventory import services
from inventory.models import Identity, ReactivationRequest
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def suspended(owner, iam):
    identity = IdentityFactory(name="review-bot", owner=owner, risk_tier="high", environments=["prod"])
    return services.suspend(iam, identity, "used outside its grants")


def approval_of(item):
    return ApprovalRequest.objects.get(kind="reactivation", object_id=item.pk)


def status_of(identity):
    return Identity.objects.get(pk=identity.pk).status


def test_owner_requests_reactivation_and_it_applies_only_after_the_tier_approvals(
    owner, iam, security, suspended
):
    item = reactivation.request_reactivation(owner, suspended, "grants fixed; drift explained")
    assert item.state == "pending" and item.suspension_reason == "used outside its grants"
    request = approval_of(item)
    assert [s.role for s in request.current_steps()] == ["iam", "security"]  # high tier
    with pytest.raises(NotAllowed):
        engine.approve(owner, request)  # nobody approves their own request
    engine.approve(iam, request)
    assert status_of(suspended) == "suspended"  # not before the last step
    with pytest.raises(NotAllowed):
        engine.approve(iam, request)  # one person, one step
    engine.approve(security, request)
    item.refresh_from_db()
    assert item.state == "applied"
    assert status_of(suspended) == "active"
    verbs = list(
        AuditEvent.objects.filter(subject_type="inventory.identity", subject_id=str(suspended.pk))
        .order_by("seq")
        .values_list("verb", flat=True)
    )
    assert verbs[-2:] == ["identity.reactivation_requested", "identity.reactivated"]


def test_a_low_tier_reactivation_needs_iam_alone_and_is_never_auto_approved(owner, iam):
    identity = IdentityFactory(owner=owner, risk_tier="low", environments=["sandbox"])
    services.suspend(iam, identity, "paused")
    item = reactivation.request_reactivation(owner, identity, "needed again")
    request = approval_of(item)
    assert request.state == "pending" and [s.role for s in request.current_steps()] == ["iam"]
    engine.approve(iam, request)
    assert status_of(identity) == "active"


def test_a_rejected_or_withdrawn_reactivation_leaves_it_suspended(owner, iam, suspended):
    item = reactivation.request_reactivation(owner, suspended, "please")
    engine.reject(iam, approval_of(item), comment="explain the drift first")
    item.refresh_from_db()
    assert item.state == "rejected" and status_of(suspended) == "suspended"
    again = reactivation.request_reactivation(owner, suspended, "drift explained in INC-42")
    engine.withdraw(owner, approval_of(again), reason="not needed after all")
    again.refresh_from_db()
    assert again.state == "withdrawn" and status_of(suspended) == "suspended"


def test_who_may_request_and_from_which_state(owner, owner2, auditor, iam, suspended):
    with pytest.raises(NotAllowed):
        reactivation.request_reactivation(owner2, suspended, "not mine")
    with pytest.raises(NotAllowed):
        reactivation.request_reactivation(auditor, suspended, "auditors change nothing")
    with pytest.raises(ValidationError) as err:
        reactivation.request_reactivation(owner, suspended, "  ")
    assert "reason" in err.value.message_dict
    reactivation.request_reactivation(owner, suspended, "fixed")
    with pytest.raises(IllegalTransition):
        reactivation.request_reactivation(owner, suspended, "twice")  # one open request per identity
    active = IdentityFactory(owner=owner)
    with pytest.raises(IllegalTransition):
        reactivation.request_reactivation(owner, active, "already running")
    assert ReactivationRequest.objects.count() == 1


def test_the_final_approval_after_a_direct_reactivation_is_409_and_changes_nothing(
    owner, iam, iam2, security, suspended
):
    item = reactivation.request_reactivation(owner, suspended, "fixed")
    engine.approve(iam, approval_of(item))
    services.reactivate(iam2, suspended, "IAM reactivated it directly")
    with pytest.raises(IllegalTransition):
        engine.approve(security, approval_of(item))
    assert approval_of(item).state == "pending" and approval_of(item).open_step().role == "security"
    item.refresh_from_db()
    assert item.state == "pending"


def test_reactivation_through_the_pages(client, owner, iam, security, suspended):
    client.force_login(owner)
    page = client.get(f"/inventory/{suspended.pk}/").content.decode()
    assert 'data-testid="request-reactivation"' in page
    form = client.get(f"/inventory/{suspended.pk}/reactivation/").content.decode()
    assert "IAM, then Security" in form
    bad = client.post(f"/inventory/{suspended.pk}/reactivation/", {"reason": ""})
    assert bad.status_code == 400 and "invalid-feedback" in bad.content.decode()
    response = client.post(f"/inventory/{suspended.pk}/reactivation/", {"reason": "fixed the grants"})
    item = ReactivationRequest.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/inventory/reactivations/{item.pk}/"
    mine = client.get(item.get_absolute_url()).content.decode()
    assert "Approve" not in mine and "cannot decide your own request" in mine
    assert (
        client.post(f"/inventory/reactivations/{item.pk}/decide/", {"decision": "approve"}).status_code == 403
    )

    client.force_login(iam)
    assert "Reactivate review-bot" in client.get("/approvals/").content.decode()
    theirs = client.get(item.get_absolute_url()).content.decode()
    assert f'action="/inventory/reactivations/{item.pk}/decide/"' in theirs and 'value="approve"' in theirs
    assert "so the owner knows what to fix" in theirs
    client.post(f"/inventory/reactivations/{item.pk}/decide/", {"decision": "approve"})
    client.force_login(security)
    client.post(f"/inventory/reactivations/{item.pk}/decide/", {"decision": "approve"})
    assert status_of(suspended) == "active"
    assert (
        client.post(f"/inventory/reactivations/{item.pk}/decide/", {"decision": "approve"}).status_code == 409
    )


def test_reactivation_over_the_api(api_as, owner, iam, security, suspended):
    created = api_as(owner).post(
        "/api/v1/reactivation-requests/", {"identity": suspended.pk, "reason": "fixed"}, format="json"
    )
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert created.json()["state"] == "pending"
    own = api_as(owner).post(f"/api/v1/reactivation-requests/{pk}/approve/", {}, format="json")
    assert own.status_code == 403 and "own request" in own.json()["detail"]
    assert (
        api_as(iam).post(f"/api/v1/reactivation-requests/{pk}/reject/", {}, format="json").status_code == 400
    )
    assert (
        api_as(iam).post(f"/api/v1/reactivation-requests/{pk}/approve/", {}, format="json").status_code == 200
    )
    done = api_as(security).post(f"/api/v1/reactivation-requests/{pk}/approve/", {}, format="json")
    assert done.status_code == 200 and done.json()["state"] == "applied"
    assert status_of(suspended) == "active"
    again = api_as(security).post(f"/api/v1/reactivation-requests/{pk}/approve/", {}, format="json")
    assert again.status_code == 409
    bad = api_as(owner).post("/api/v1/reactivation-requests/", {"identity": suspended.pk}, format="json")
    assert bad.status_code == 400 and "reason" in bad.json()
    schema = api_as(iam).get("/api/schema/?format=json").json()["paths"]
    assert "/api/v1/reactivation-requests/{id}/approve/" in schema
    assert "/api/v1/scope-changes/{id}/approve/" in schema
    assert "/api/v1/identities/{identity_pk}/timeline/" in schema
