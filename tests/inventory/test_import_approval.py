"""Import, registration and triage do not activate what one person may not approve alone (issue 18, item 3).

The hostile shape: a JSON import by one IAM user made a critical identity (admin and deploy in prod)
active at once. Now an imported, registered or triaged identity whose tier's route needs more than one
step lands `proposed` with an activation request routed by the approval engine; it is active only once
the route (critical: IAM, a second IAM, then Security; never the importer or the owners) approves it.
"""

import json

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from approvals.flows import activation
from approvals.models import ApprovalRequest
from approvals.services import engine
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import Role
from inventory import importers, services
from inventory.models import ActivationRequest, Identity
from tests.factories import GrantFactory, IdentityFactory, UserFactory

CRITICAL_ROW = {
    "source": "aws-iam",
    "external_id": "arn:aws:iam::111122223333:role/prod-admin",
    "name": "prod-admin (AWS)",
    "kind": "service_account",
    "vendor": "Amazon Web Services",
    "owner": "owner",
    "team": "platform",
    "environments": ["prod"],
    "autonomous": True,
    "grants": [
        {"resource_kind": "cloud_account", "resource_name": "aws-prod", "actions": ["admin", "deploy"]}
    ],
}
LOW_ROW = {
    "source": "aws-iam",
    "external_id": "arn:aws:iam::111122223333:role/docs-reader",
    "name": "docs-reader (AWS)",
    "kind": "service_account",
    "vendor": "Amazon Web Services",
    "owner": "owner",
    "team": "platform",
    "environments": ["dev"],
    "grants": [{"resource_kind": "documentation", "resource_name": "wiki", "actions": ["read_data"]}],
}


@pytest.fixture
def iam3(db, team):
    return UserFactory(username="iam3", roles=[Role.IAM], team=team)


def import_json(client, rows, query=""):
    content = json.dumps({"identities": rows}).encode()
    return client.post(
        f"/api/v1/identities/import/{query}",
        {"file": SimpleUploadedFile("found.json", content)},
        format="multipart",
    )


def approve(api_as, user, item):
    return api_as(user).post(
        f"/api/v1/activation-requests/{item.pk}/approve/", {"comment": "ok"}, format="json"
    )


@pytest.mark.django_db
def test_json_import_of_a_critical_identity_by_one_iam_user_is_not_active(api_as, iam, owner):
    response = import_json(api_as(iam), [CRITICAL_ROW])
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [r["name"] for r in body["awaiting_approval"]] == ["prod-admin (AWS)"]
    identity = Identity.objects.get(external_id=CRITICAL_ROW["external_id"])
    assert identity.risk_tier == "critical" and identity.status == "proposed" and identity.approved_at is None
    item = ActivationRequest.objects.get(identity=identity)
    assert (item.state, item.origin, item.requester, item.risk_tier) == ("pending", "import", iam, "critical")
    approval = ApprovalRequest.objects.get(kind=activation.KIND, object_id=item.pk)
    assert [s.role for s in approval.steps.order_by("order")] == ["iam", "iam", "security"]
    assert (
        approval.auto_approved is False if hasattr(approval, "auto_approved") else approval.state == "pending"
    )


@pytest.mark.django_db
def test_the_route_activates_it_and_neither_importer_nor_owner_can_decide(
    api_as, iam, iam2, iam3, security, owner
):
    import_json(api_as(iam), [CRITICAL_ROW])
    identity = Identity.objects.get(external_id=CRITICAL_ROW["external_id"])
    item = ActivationRequest.objects.get(identity=identity)
    assert approve(api_as, iam, item).status_code == 403  # the importer
    assert approve(api_as, owner, item).status_code == 403  # the owner-to-be
    assert approve(api_as, iam2, item).status_code == 200
    assert approve(api_as, iam2, item).status_code == 403  # one person, one step
    assert approve(api_as, iam3, item).status_code == 200
    identity.refresh_from_db()
    assert identity.status == "proposed"
    response = approve(api_as, security, item)
    assert response.status_code == 200 and response.json()["state"] == "applied"
    identity.refresh_from_db()
    assert identity.status == "active" and identity.approved_at is not None


@pytest.mark.django_db
def test_a_rejected_activation_leaves_it_proposed_in_triage(api_as, client, iam, iam2, owner):
    import_json(api_as(iam), [CRITICAL_ROW])
    item = ActivationRequest.objects.get()
    response = api_as(iam2).post(
        f"/api/v1/activation-requests/{item.pk}/reject/", {"comment": "admin in prod? no"}, format="json"
    )
    assert response.status_code == 200 and response.json()["state"] == "rejected"
    identity = item.identity
    identity.refresh_from_db()
    assert identity.status == "proposed"
    client.force_login(iam)
    page = client.get("/inventory/triage/").content.decode()
    assert "prod-admin (AWS)" in page and 'data-testid="pending-activation"' not in page


@pytest.mark.django_db
def test_a_one_step_tier_is_still_activated_by_the_importer(api_as, iam, owner):
    body = import_json(api_as(iam), [LOW_ROW]).json()
    assert body["awaiting_approval"] == []
    identity = Identity.objects.get(external_id=LOW_ROW["external_id"])
    assert identity.status == "active" and not ActivationRequest.objects.exists()


@pytest.mark.django_db
def test_dry_run_says_it_will_wait_and_writes_nothing(api_as, iam, owner):
    body = import_json(api_as(iam), [CRITICAL_ROW, LOW_ROW], query="?dry_run=1").json()
    assert [r["awaits_approval"] for r in body["created"]] == [True, False]
    assert not Identity.objects.exists() and not ActivationRequest.objects.exists()


@pytest.mark.django_db
def test_reimporting_the_same_file_opens_nothing_new(api_as, iam, owner):
    import_json(api_as(iam), [CRITICAL_ROW])
    body = import_json(api_as(iam), [CRITICAL_ROW]).json()
    assert body["counts"] == {"created": 0, "updated": 0, "unchanged": 1}
    assert ActivationRequest.objects.count() == 1


@pytest.mark.django_db
def test_an_import_by_a_job_leaves_it_for_triage(owner, team):
    content = json.dumps([CRITICAL_ROW]).encode()
    importers.import_identities("system:discovery", content, filename="found.json", dry_run=False)
    identity = Identity.objects.get(external_id=CRITICAL_ROW["external_id"])
    assert identity.status == "discovered" and not ActivationRequest.objects.exists()


@pytest.mark.django_db
def test_registering_a_critical_identity_directly_waits_for_its_route(api_as, iam, owner):
    body = {k: v for k, v in CRITICAL_ROW.items() if k not in ("source", "external_id")}
    response = api_as(iam).post("/api/v1/identities/", body, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "proposed"
    assert response.json()["pending_changes"]["activation"]["risk_tier"] == "critical"
    assert ActivationRequest.objects.get().origin == "register"


# ---------------------------------------------------------------- triage


@pytest.fixture
def discovered_critical(db):
    identity = IdentityFactory(
        name="found-prod-admin",
        owner=None,
        status=Identity.Status.DISCOVERED,
        kind=Identity.Kind.SERVICE_ACCOUNT,
        environments=["prod"],
        autonomous=True,
        risk_tier="low",  # as a careless import recorded it: triage routes by the computed tier
    )
    GrantFactory(identity=identity, resource_kind="cloud_account", actions=["admin", "deploy"])
    return identity


@pytest.mark.django_db
def test_triage_of_a_critical_identity_routes_it_instead_of_activating(
    client, iam, owner, discovered_critical
):
    client.force_login(iam)
    response = client.post(
        f"/inventory/{discovered_critical.pk}/activate/", {"owner": "owner", "reason": "platform runs it"}
    )
    assert response.status_code == 302
    discovered_critical.refresh_from_db()
    assert discovered_critical.status == "proposed" and discovered_critical.owner == owner
    assert discovered_critical.risk_tier == "critical"
    item = ActivationRequest.objects.get(identity=discovered_critical)
    assert (item.origin, item.state) == ("triage", "pending")
    page = client.get("/inventory/triage/").content.decode()
    assert 'data-testid="pending-activation"' in page
    # Asking twice changes nothing: 409.
    again = client.post(
        f"/inventory/{discovered_critical.pk}/activate/", {"owner": "owner", "reason": "again"}
    )
    assert again.status_code == 409


@pytest.mark.django_db
def test_activation_page_lets_the_next_approver_decide(client, iam, iam2, owner, discovered_critical):
    services.activate(iam, discovered_critical, "platform runs it", owner=owner)
    item = ActivationRequest.objects.get()
    client.force_login(iam)
    page = client.get(f"/inventory/activations/{item.pk}/").content.decode()
    assert 'data-testid="refusal"' in page and "Withdraw this request" in page
    client.force_login(iam2)
    page = client.get(f"/inventory/activations/{item.pk}/").content.decode()
    assert 'value="approve"' in page
    assert f'action="/inventory/activations/{item.pk}/decide/"' in page
    assert "so the requester knows what to fix" in page
    response = client.post(f"/inventory/activations/{item.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302
    assert item.identity.activation_requests.get().state == "pending"  # IAM #2 and Security still to go


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "owner2", "auditor", "outsider"])
def test_only_iam_and_security_triage(role_users, discovered_critical, username):
    with pytest.raises(NotAllowed):
        services.activate(role_users[username], discovered_critical, "mine", owner=role_users["owner"])


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "auditor", "outsider"])
def test_only_iam_and_security_ask_for_an_activation(role_users, discovered_critical, username):
    Identity.objects.filter(pk=discovered_critical.pk).update(status="proposed", owner=role_users["owner"])
    with pytest.raises(NotAllowed):
        activation.request_activation(role_users[username], discovered_critical, origin="triage", reason="x")


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "auditor"])
def test_owners_and_auditors_decide_no_activation(role_users, iam, discovered_critical, username):
    services.activate(iam, discovered_critical, "platform runs it", owner=role_users["owner2"])
    approval = ApprovalRequest.objects.get(kind=activation.KIND)
    with pytest.raises(NotAllowed):
        engine.approve(role_users[username], approval)


@pytest.mark.django_db
def test_security_may_not_skip_the_iam_steps(iam, security, owner, discovered_critical):
    services.activate(iam, discovered_critical, "platform runs it", owner=owner)
    approval = ApprovalRequest.objects.get(kind=activation.KIND)
    with pytest.raises(NotAllowed):
        engine.approve(security, approval)


@pytest.mark.django_db
def test_scope_fields_of_an_identity_waiting_for_activation_are_frozen(iam, owner, discovered_critical):
    services.activate(iam, discovered_critical, "platform runs it", owner=owner)
    with pytest.raises(IllegalTransition):
        services.update_identity(iam, discovered_critical, {"environments": ["dev"]})


@pytest.mark.django_db
def test_triage_without_a_reason_is_refused(iam, owner, discovered_critical):
    with pytest.raises(ValidationError):
        services.activate(iam, discovered_critical, "", owner=owner)
