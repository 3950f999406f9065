"""Owners do not change what their identity is without approval (issue 18, item 4).

The hostile shapes: the owner's PATCH of `vendor` or `model_name` resolved an `unapproved_vendor`
finding at the next sweep; `backup_owner` was changed to someone who never agreed. Now fields that
feed the tier or a policy check go through a scope change (re-tiered, routed), and naming a backup
owner (or an owner in an intake) takes effect only once that person accepts, as transfers do.
"""

import pytest
from django.core.exceptions import ValidationError

from approvals.flows import scope
from approvals.services import intake as intake_services
from governance.errors import NotAllowed
from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from inventory import ownership, services
from inventory.models import Identity, OwnershipTransfer, ScopeChange
from tests.approvals.conftest import answers
from tests.conftest import patch_identity
from tests.factories import GrantFactory, IdentityFactory


@pytest.fixture
def unapproved(owner):
    identity = IdentityFactory(owner=owner, name="sketchy-helper", vendor="SketchyAI", model_name="sk-1")
    run_sweep()
    assert Finding.objects.filter(identity=identity, rule="unapproved_vendor", status="open").exists()
    return identity


def open_vendor_finding(identity) -> bool:
    return Finding.objects.filter(identity=identity, rule="unapproved_vendor", status="open").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "changes",
    [{"vendor": "Anthropic"}, {"model_name": "claude-sonnet-4-5"}, {"vendor": "Anthropic", "product": "x"}],
)
def test_owner_patch_of_vendor_or_model_is_a_pending_scope_change_not_an_edit(
    api_as, owner, unapproved, changes
):
    response = patch_identity(api_as(owner), unapproved, {**changes, "reason": "we switched"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["vendor"] == "SketchyAI" and body["model_name"] == "sk-1"
    (pending,) = body["pending_changes"]["scope_changes"]
    assert pending["changes"] == changes and pending["state"] == "pending"
    run_sweep()
    assert open_vendor_finding(unapproved)  # the next sweep sees the identity as it still is


@pytest.mark.django_db
def test_the_change_applies_once_approved_and_then_the_finding_resolves(api_as, owner, iam, unapproved):
    patch_identity(api_as(owner), unapproved, {"vendor": "Anthropic", "reason": "we switched"})
    change = ScopeChange.objects.get(identity=unapproved)
    assert api_as(owner).post(f"/api/v1/scope-changes/{change.pk}/approve/", {}).status_code == 403
    assert api_as(iam).post(f"/api/v1/scope-changes/{change.pk}/approve/", {}).status_code == 200
    unapproved.refresh_from_db()
    assert unapproved.vendor == "Anthropic"
    run_sweep()
    assert not open_vendor_finding(unapproved)


@pytest.mark.django_db
def test_a_scope_field_without_a_reason_is_400_and_nothing_changes(api_as, owner, unapproved):
    response = patch_identity(api_as(owner), unapproved, {"purpose": "new words", "vendor": "Anthropic"})
    assert response.status_code == 400 and "reason" in response.json()
    unapproved.refresh_from_db()
    assert unapproved.purpose == "" and not ScopeChange.objects.exists()


@pytest.mark.django_db
def test_descriptive_fields_still_change_at_once(api_as, owner, unapproved):
    response = patch_identity(api_as(owner), unapproved, {"purpose": "Reviews pull requests"})
    assert response.status_code == 200 and response.json()["purpose"] == "Reviews pull requests"


@pytest.mark.django_db
def test_owner_patch_of_backup_owner_asks_that_person_first(api_as, owner, owner2, identity):
    response = patch_identity(api_as(owner), identity, {"backup_owner": "owner2"})
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["backup_owner"] is None
    (nomination,) = body["pending_changes"]["ownership_transfers"]
    assert (nomination["role"], nomination["to_owner"]) == ("backup_owner", "owner2")
    # Nobody but the nominee answers; declining changes nothing.
    assert (
        api_as(owner).post(f"/api/v1/ownership-transfers/{nomination['id']}/accept/", {}).status_code == 403
    )
    declined = api_as(owner2).post(f"/api/v1/ownership-transfers/{nomination['id']}/decline/", {})
    assert declined.status_code == 200
    identity.refresh_from_db()
    assert identity.backup_owner is None


@pytest.mark.django_db
def test_the_nominee_accepting_takes_the_backup_seat(api_as, owner, owner2, identity):
    patch_identity(api_as(owner), identity, {"backup_owner": "owner2"})
    transfer = OwnershipTransfer.objects.get(identity=identity)
    response = api_as(owner2).post(f"/api/v1/ownership-transfers/{transfer.pk}/accept/", {})
    assert response.status_code == 200 and response.json()["role"] == "backup_owner"
    identity.refresh_from_db()
    assert identity.backup_owner == owner2 and identity.owner == owner


@pytest.mark.django_db
def test_clearing_the_backup_owner_needs_nobody(api_as, owner, owner2):
    identity = IdentityFactory(owner=owner, backup_owner=owner2)
    response = patch_identity(api_as(owner), identity, {"backup_owner": None})
    assert response.status_code == 200
    identity.refresh_from_db()
    assert identity.backup_owner is None


@pytest.mark.django_db
def test_iam_naming_themselves_backup_needs_no_acceptance(api_as, iam, identity):
    response = patch_identity(api_as(iam), identity, {"backup_owner": "iam"})
    assert response.status_code == 200 and response.json()["backup_owner"] == "iam"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field,value", [("kind", "ai_agent"), ("autonomous", True), ("data_classification", "restricted")]
)
def test_owners_ask_for_risk_fields_through_the_scope_change_endpoint(api_as, owner, identity, field, value):
    assert patch_identity(api_as(owner), identity, {field: value}).status_code == 403
    response = api_as(owner).post(
        "/api/v1/scope-changes/",
        {"identity": identity.pk, "changes": {field: value}, "reason": "it grew up"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["state"] == "pending" and response.json()["changes"] == {field: value}
    identity.refresh_from_db()
    assert getattr(identity, field) != value


@pytest.mark.django_db
def test_iam_edits_of_what_it_is_are_routed_too(api_as, iam, identity):
    response = patch_identity(api_as(iam), identity, {"kind": "ai_agent", "reason": "it acts alone now"})
    assert response.status_code == 202
    change = ScopeChange.objects.get(identity=identity)
    assert change.changes == {"kind": "ai_agent"} and change.requester.username == "iam"
    identity.refresh_from_db()
    assert identity.kind == "ai_assistant"


@pytest.mark.django_db
def test_a_kind_change_is_checked_against_the_deny_rules(owner, identity):
    GrantFactory(identity=identity, resource_kind="secret_store", actions=["read_secrets"])
    Identity.objects.filter(pk=identity.pk).update(kind="service_account", environments=["prod"])
    identity.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        scope.request_scope_change(owner, identity, changes={"kind": "ai_assistant"}, reason="rename")
    assert "assistant_prod_secrets" in str(refused.value)


@pytest.mark.django_db
def test_a_kind_change_is_re_tiered_on_the_result(owner, identity):
    GrantFactory(identity=identity, actions=["merge"])
    change = scope.request_scope_change(
        owner, identity, changes={"kind": "ai_agent", "autonomous": True}, reason="x"
    )
    assert change.state == "pending" and change.risk_tier == "high"


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "iam", "security"])
def test_the_direct_edit_service_refuses_what_it_is_for_every_role(role_users, identity, username):
    with pytest.raises(ValidationError) as refused:
        services.update_identity(role_users[username], identity, {"vendor": "Anthropic Inc"})
    assert "vendor" in refused.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "iam", "security"])
def test_the_direct_edit_service_refuses_an_unasked_backup_owner_for_every_role(
    role_users, identity, username
):
    with pytest.raises(ValidationError) as refused:
        services.update_identity(role_users[username], identity, {"backup_owner": role_users["owner2"]})
    assert "backup_owner" in refused.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner2", "auditor", "outsider"])
def test_others_cannot_nominate_a_backup(role_users, identity, username):
    with pytest.raises(NotAllowed):
        ownership.propose_transfer(role_users[username], [identity], role_users["iam"], role="backup_owner")


@pytest.mark.django_db
def test_owner_cannot_be_nominated_as_their_own_backup(owner, identity):
    with pytest.raises(ValidationError):
        ownership.propose_transfer(owner, [identity], owner, role="backup_owner")


@pytest.mark.django_db
def test_browser_edit_of_vendor_becomes_a_scope_change(client, owner, owner2, unapproved):
    client.force_login(owner)
    response = client.post(
        f"/inventory/{unapproved.pk}/edit/",
        {
            "purpose": "",
            "vendor": "Anthropic",
            "product": unapproved.product,
            "model_name": unapproved.model_name,
            "backup_owner": "owner2",
            "reason": "switched to Claude",
            "version": unapproved.version,
        },
    )
    change = ScopeChange.objects.get(identity=unapproved)
    assert response.status_code == 302 and response["Location"] == f"/inventory/scope-changes/{change.pk}/"
    unapproved.refresh_from_db()
    assert unapproved.vendor == "SketchyAI" and unapproved.backup_owner is None
    assert OwnershipTransfer.objects.get(identity=unapproved).to_owner == owner2
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="scope-changes"' in page and "vendor: Anthropic" in page


@pytest.mark.django_db
def test_browser_edit_of_vendor_without_reason_shows_the_error(client, owner, unapproved):
    client.force_login(owner)
    response = client.post(
        f"/inventory/{unapproved.pk}/edit/",
        {"vendor": "Anthropic", "product": unapproved.product, "model_name": "sk-1", "version": 1},
    )
    assert response.status_code == 400 and "needs a reason" in response.content.decode()


# ---------------------------------------------------------------- intake


@pytest.mark.django_db
def test_an_owner_named_in_an_intake_accepts_before_owning_it(owner, owner2, iam, team):
    intake = intake_services.create_and_submit(owner, {**answers("medium"), "owner": owner2, "team": team})
    intake_services.approve(iam, intake)
    intake.refresh_from_db()
    identity = intake.identity
    assert identity.owner == owner  # the requester holds it until the named owner agrees
    transfer = OwnershipTransfer.objects.get(identity=identity, state="proposed")
    assert (transfer.role, transfer.to_owner, transfer.proposed_by) == (
        "owner",
        owner2,
        f"owner (intake #{intake.pk})",
    )
    ownership.accept_transfer(owner2, transfer)
    identity.refresh_from_db()
    assert identity.owner == owner2


@pytest.mark.django_db
def test_a_requester_naming_themselves_backup_keeps_that_seat_once_the_owner_accepts(
    owner, owner2, iam, team
):
    intake = intake_services.create_and_submit(
        owner, {**answers("medium"), "owner": owner2, "backup_owner": owner, "team": team}
    )
    intake_services.approve(iam, intake)
    intake.refresh_from_db()
    transfer = OwnershipTransfer.objects.get(identity=intake.identity)
    assert transfer.keep_as_backup
    ownership.accept_transfer(owner2, transfer)
    identity = Identity.objects.get(pk=intake.identity_id)
    assert (identity.owner, identity.backup_owner) == (owner2, owner)


@pytest.mark.django_db
def test_a_named_owner_declining_leaves_it_with_the_requester(owner, owner2, iam, team):
    intake = intake_services.create_and_submit(owner, {**answers("medium"), "owner": owner2, "team": team})
    intake_services.approve(iam, intake)
    intake.refresh_from_db()
    ownership.decline_transfer(owner2, OwnershipTransfer.objects.get(identity=intake.identity))
    identity = Identity.objects.get(pk=intake.identity_id)
    assert identity.owner == owner


@pytest.mark.django_db
def test_openapi_documents_the_202_and_the_scope_change_route(api_as, iam):
    schema = api_as(iam).get("/api/schema/?format=json").json()
    patch = schema["paths"]["/api/v1/identities/{id}/"]["patch"]
    assert "202" in patch["responses"] and "scope change" in patch["description"]
    assert "changes" in str(schema["components"]["schemas"]["ScopeChangeRequestRequest"])
