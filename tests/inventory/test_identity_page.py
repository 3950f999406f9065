"""The identity page, edit form, lifecycle buttons and credential revocation in the browser views."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.models import AuditEvent
from governance.policy import cedar_sets
from inventory import extensions, services
from inventory.models import Identity, UsageEvent
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory


@pytest.fixture
def rich_identity(owner, owner2):
    identity = IdentityFactory(
        name="release-bot",
        owner=owner,
        backup_owner=owner2,
        environments=["prod"],
        risk_tier="high",
        risk_reasons=["Reaches production (+2).", "High-impact actions: deploy (+3)."],
    )
    GrantFactory(
        identity=identity,
        resource_kind="ci_pipeline",
        resource_name="platform/release",
        actions=["run_ci", "deploy"],
        expires_at=timezone.now() + timedelta(days=30),
    )
    CredentialFactory(
        identity=identity, label="release-bot-key", issued_at=timezone.now() - timedelta(days=400)
    )
    UsageEvent.objects.create(
        identity=identity, at=timezone.now(), action="deploy", identity_status="active", resource_name="x"
    )
    return identity


@pytest.mark.django_db
def test_identity_page_shows_owners_tier_reasons_grants_credentials_usage_and_empty_panels(
    client, auditor, rich_identity
):
    client.force_login(auditor)
    page = client.get(f"/inventory/{rich_identity.pk}/").content.decode()
    for text in (
        'Owner <span class="text-secondary">(owner)</span>',
        'Owner2 <span class="text-secondary">(owner2)</span>',
        "High-impact actions: deploy (+3).",
        "platform/release",
        "release-bot-key",
        "400 days",
        "No open findings for this identity.",
        "No active exceptions",
        "deploy",
    ):
        assert text in page, text
    # Auditors read everything and see no buttons that change anything.
    assert "Edit</a>" not in page and 'id="modal-suspend"' not in page


@pytest.mark.django_db
def test_panels_are_extensible(client, iam, rich_identity):
    previous = extensions._panels["findings"]
    extensions.register_panel(
        extensions.Panel(key="findings", title="Open findings", items=lambda i: [f"stale_unused on {i.name}"])
    )
    try:
        client.force_login(iam)
        assert "stale_unused on release-bot" in client.get(f"/inventory/{rich_identity.pk}/").content.decode()
    finally:
        extensions.register_panel(previous)  # the findings feature's own panel, when registered


@pytest.mark.django_db
@pytest.mark.parametrize("grants", [1, 12])
def test_identity_page_query_count_is_fixed(client, iam, rich_identity, django_assert_num_queries, grants):
    for n in range(grants):
        GrantFactory(identity=rich_identity)
        CredentialFactory(identity=rich_identity)
        services.suspend(iam, rich_identity, f"check {n}")
        services.reactivate(iam, rich_identity, f"back {n}")
    client.force_login(iam)
    cedar_sets.active_compiled()  # the Cedar set is compiled once per process, not per page
    # 9 for the page itself + 1 each for the findings, exceptions, ownership-transfers,
    # out-of-scope-use, review-history and at-the-source (connectors) panels; 9 for the Threats tab
    # (policy, identity, grants, credentials, findings, exceptions, and Cedar's lookup, grants and
    # exceptions), whatever the number of grants; 3 for the workload-identity panel (bindings, approved
    # issuers for its form, live access tokens).
    with django_assert_num_queries(27):
        assert client.get(f"/inventory/{rich_identity.pk}/").status_code == 200


@pytest.mark.django_db
def test_history_is_paginated_and_htmx_returns_the_fragment(client, iam, rich_identity):
    for n in range(12):
        services.suspend(iam, rich_identity, f"pause {n}")
        services.reactivate(iam, rich_identity, f"resume {n}")
    client.force_login(iam)
    page = client.get(f"/inventory/{rich_identity.pk}/").content.decode()
    assert "resume 11" in page and "pause 0" not in page and "Older" in page
    fragment = client.get(
        f"/inventory/{rich_identity.pk}/?history_page=2", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "<html" not in fragment and "pause 0" in fragment


@pytest.mark.django_db
def test_iam_suspends_from_the_page_with_a_reason(client, iam, rich_identity):
    client.force_login(iam)
    response = client.post(f"/inventory/{rich_identity.pk}/suspend/", {"reason": "unused for months"})
    assert response.status_code == 302
    rich_identity.refresh_from_db()
    assert rich_identity.status == "suspended" and rich_identity.status_reason == "unused for months"
    page = client.get(f"/inventory/{rich_identity.pk}/").content.decode()
    assert "identity.suspended" in page and "unused for months" in page


@pytest.mark.django_db
def test_transition_without_javascript_shows_a_reason_form_and_requires_a_reason(client, iam, rich_identity):
    client.force_login(iam)
    assert 'name="reason"' in client.get(f"/inventory/{rich_identity.pk}/suspend/").content.decode()
    response = client.post(f"/inventory/{rich_identity.pk}/suspend/", {"reason": ""})
    assert response.status_code == 400
    rich_identity.refresh_from_db()
    assert rich_identity.status == "active"


@pytest.mark.django_db
def test_illegal_transition_in_the_browser_is_409_with_a_message_and_changes_nothing(
    client, iam, rich_identity
):
    services.decommission(iam, rich_identity, "retired")
    events = AuditEvent.objects.count()
    client.force_login(iam)
    response = client.post(f"/inventory/{rich_identity.pk}/suspend/", {"reason": "again"})
    assert response.status_code == 409
    assert "Cannot move" in response.content.decode()
    rich_identity.refresh_from_db()
    assert rich_identity.status == "decommissioned" and AuditEvent.objects.count() == events


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner2", "auditor", "outsider"])
def test_people_who_do_not_own_it_cannot_suspend_it(client, role_users, identity, username):
    client.force_login(role_users[username])
    assert client.post(f"/inventory/{identity.pk}/suspend/", {"reason": "x"}).status_code == 403
    identity.refresh_from_db()
    assert identity.status == "active"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status",
    [("owner", 200), ("owner2", 403), ("iam", 200), ("security", 200), ("auditor", 403), ("outsider", 403)],
)
def test_edit_page_by_role(client, role_users, identity, username, status):
    client.force_login(role_users[username])
    assert client.get(f"/inventory/{identity.pk}/edit/").status_code == status
    # The whole form as IAM/Security see it; owners' form holds only the owner fields.
    data = {
        "name": identity.name,
        "kind": identity.kind,
        "vendor": identity.vendor,
        "product": identity.product,
        "owner": "owner",
        "data_classification": identity.data_classification,
        "risk_tier": identity.risk_tier,
        "environments": identity.environments,
        "purpose": "rewritten",
        "version": identity.version,
    }
    response = client.post(f"/inventory/{identity.pk}/edit/", data)
    assert response.status_code == (302 if status == 200 else 403)
    identity.refresh_from_db()
    assert (identity.purpose == "rewritten") == (status == 200)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status",
    [("owner", 403), ("owner2", 403), ("iam", 302), ("security", 302), ("auditor", 403), ("outsider", 403)],
)
def test_only_iam_and_security_reactivate_from_the_page(client, role_users, identity, username, status):
    services.suspend("system:test", identity, "paused")
    client.force_login(role_users[username])
    response = client.post(f"/inventory/{identity.pk}/reactivate/", {"reason": "cleared"})
    assert response.status_code == status
    identity.refresh_from_db()
    assert (identity.status == "active") == (status == 302)


@pytest.mark.django_db
def test_owner_edits_only_owner_fields(client, owner, owner2, identity):
    client.force_login(owner)
    form = client.get(f"/inventory/{identity.pk}/edit/").content.decode()
    assert 'name="purpose"' in form and 'name="risk_tier"' not in form and 'name="owner"' not in form
    response = client.post(
        f"/inventory/{identity.pk}/edit/",
        {
            "purpose": "Writes platform code",
            "backup_owner": "owner2",
            "vendor": "Anthropic",
            "product": "Claude Code",
            "version": 1,
        },
    )
    assert response.status_code == 302
    identity.refresh_from_db()
    # The purpose changes now; owner2 becomes backup owner only once they accept (issue 18, item 4).
    assert identity.purpose == "Writes platform code" and identity.backup_owner is None
    assert identity.version == 2
    nomination = identity.ownership_transfers.get(state="proposed")
    assert (nomination.role, nomination.to_owner) == ("backup_owner", owner2)


@pytest.mark.django_db
def test_edit_shows_field_errors_and_writes_nothing(client, iam, owner, identity):
    client.force_login(iam)
    data = {
        "name": identity.name,
        "kind": identity.kind,
        "owner": "owner",
        "backup_owner": "owner",
        "data_classification": "internal",
        "risk_tier": "low",
        "environments": ["dev"],
        "version": 1,
    }
    response = client.post(f"/inventory/{identity.pk}/edit/", data)
    assert response.status_code == 400
    assert "The backup owner must be a different person from the owner." in response.content.decode()
    identity.refresh_from_db()
    assert identity.backup_owner is None and identity.version == 1


@pytest.mark.django_db
def test_stale_edit_is_refused_with_409(client, iam, identity):
    services.update_identity(iam, identity, {"purpose": "changed meanwhile"})
    client.force_login(iam)
    data = {
        "name": identity.name,
        "kind": identity.kind,
        "owner": "owner",
        "data_classification": "internal",
        "risk_tier": "low",
        "environments": ["dev"],
        "purpose": "mine",
        "version": 1,
    }
    assert client.post(f"/inventory/{identity.pk}/edit/", data).status_code == 409
    identity.refresh_from_db()
    assert identity.purpose == "changed meanwhile"


@pytest.mark.django_db
def test_decommissioned_identity_shows_unconfirmed_revocations_until_confirmed(client, owner, rich_identity):
    services.decommission(owner, rich_identity, "replaced by OIDC")
    client.force_login(owner)
    page = client.get(f"/inventory/{rich_identity.pk}/").content.decode()
    assert "revocation unconfirmed" in page and 'data-testid="pending-revocations"' in page
    credential = rich_identity.credentials.get()
    response = client.post(
        f"/inventory/credentials/{credential.pk}/confirm-revocation/", {"note": "CHG-1234"}
    )
    assert response.status_code == 302
    page = client.get(f"/inventory/{rich_identity.pk}/").content.decode()
    assert "revocation unconfirmed" not in page and "CHG-1234" in page


@pytest.mark.django_db
def test_triage_lists_discovered_and_activates_with_an_owner(client, iam, owner):
    found = IdentityFactory(name="found-in-aws", owner=None, status=Identity.Status.DISCOVERED)
    client.force_login(iam)
    assert "found-in-aws" in client.get("/inventory/triage/").content.decode()
    response = client.post(f"/inventory/{found.pk}/activate/", {"owner": "owner", "reason": "team confirmed"})
    assert response.status_code == 302
    found.refresh_from_db()
    assert found.status == "active" and found.owner == owner and found.approved_at is not None
    assert "Nothing to triage" in client.get("/inventory/triage/").content.decode()


@pytest.mark.django_db
def test_triage_is_for_iam_and_security_only(client, owner, auditor):
    for user in (owner, auditor):
        client.force_login(user)
        assert client.get("/inventory/triage/").status_code == 403
