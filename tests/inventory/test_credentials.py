"""Credential metadata after creation: owners, IAM and Security add credentials and record rotations."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from governance.models import AuditEvent
from inventory import services
from inventory.models import Credential
from tests.factories import CredentialFactory, IdentityFactory

WRITERS = [
    ("owner", True),
    ("owner2", False),
    ("iam", True),
    ("security", True),
    ("auditor", False),
    ("outsider", False),
]


@pytest.fixture
def old_key(identity):
    return CredentialFactory(
        identity=identity, label="deploy-key-2024", issued_at=timezone.now() - timedelta(days=400)
    )


def counts():
    return Credential.objects.count(), AuditEvent.objects.count()


def rotate_url(credential):
    return f"/api/v1/identities/{credential.identity_id}/credentials/{credential.pk}/rotate/"


# ---------------------------------------------------------------- API: add


@pytest.mark.django_db
def test_owner_adds_a_credential_and_it_is_audited_on_the_identity(api_as, owner, identity):
    body = {
        "kind": "oidc_federation",
        "label": "github-actions:platform/api",
        "storage": "GitHub OIDC",
        "issued_at": "2026-01-10",
        "expires_at": "2027-01-10T00:00:00Z",
        "reason": "moving off the static key",
    }
    response = api_as(owner).post(f"/api/v1/identities/{identity.pk}/credentials/", body, format="json")
    assert response.status_code == 201, response.json()
    created = Credential.objects.get(pk=response.json()["id"])
    assert created.identity == identity and created.created_by == owner and created.kind == "oidc_federation"
    assert response.json()["issued_at"].startswith("2026-01-10")
    event = AuditEvent.objects.get(verb="credential.added")
    assert event.subject_id == str(identity.pk) and event.reason == "moving off the static key"
    assert event.after["credential"]["label"] == "github-actions:platform/api"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,field",
    [
        ({"kind": "static_key", "label": "ghp_" + "a1B2" * 10}, "label"),
        ({"kind": "static_key", "label": "k", "secret": "hunter2"}, "secret"),
        ({"kind": "static_key", "issued_at": "31/12/2025"}, "issued_at"),
        ({"kind": "magic_key"}, "kind"),
        ({"kind": "static_key", "issued_at": "2026-02-01", "expires_at": "2026-01-01"}, "expires_at"),
    ],
    ids=["secret-label", "secret-field", "malformed-date", "unknown-kind", "expiry-before-issue"],
)
def test_bad_credential_is_400_with_a_field_message_and_writes_nothing(api_as, iam, identity, body, field):
    before = counts()
    response = api_as(iam).post(f"/api/v1/identities/{identity.pk}/credentials/", body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize("username,allowed", WRITERS)
def test_adding_a_credential_by_role(api_as, role_users, identity, username, allowed):
    before = counts()
    response = api_as(role_users[username]).post(
        f"/api/v1/identities/{identity.pk}/credentials/", {"kind": "pat", "label": "ci"}, format="json"
    )
    assert response.status_code == (201 if allowed else 403)
    assert (counts() == before) == (not allowed)


@pytest.mark.django_db
def test_a_decommissioned_identity_takes_no_new_credential(api_as, iam, identity):
    services.decommission(iam, identity, "retired")
    before = counts()
    response = api_as(iam).post(
        f"/api/v1/identities/{identity.pk}/credentials/", {"kind": "pat"}, format="json"
    )
    assert response.status_code == 409 and counts() == before


# ---------------------------------------------------------------- API: rotate


@pytest.mark.django_db
def test_rotation_restarts_the_age_and_clears_the_rotation_finding(api_as, owner, identity, old_key):
    run_sweep()
    assert Finding.objects.filter(
        identity=identity, rule="credential_rotation_overdue", status="open"
    ).exists()
    expires = (timezone.now() + timedelta(days=180)).isoformat()
    response = api_as(owner).post(
        rotate_url(old_key),
        {"label": "SHA256:newfingerprint", "expires_at": expires, "note": "CHG-881"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    old_key.refresh_from_db()
    assert timezone.now() - old_key.last_rotated_at < timedelta(minutes=1)
    assert old_key.label == "SHA256:newfingerprint" and old_key.expires_at is not None
    event = AuditEvent.objects.get(verb="credential.rotated")
    assert event.subject_id == str(identity.pk) and event.reason == "CHG-881"
    assert event.before["credential"]["label"] == "deploy-key-2024"
    assert event.after["credential"]["label"] == "SHA256:newfingerprint"
    run_sweep()
    assert not Finding.objects.filter(
        identity=identity, rule="credential_rotation_overdue", status="open"
    ).exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body,field",
    [
        ({"rotated_at": "next tuesday"}, "rotated_at"),
        ({"rotated_at": (timezone.now() + timedelta(days=2)).isoformat()}, "rotated_at"),
        ({"rotated_at": (timezone.now() - timedelta(days=500)).isoformat()}, "rotated_at"),
        ({"label": "AKIAABCDEFGHIJKLMNOP"}, "label"),
        ({"expires_at": (timezone.now() - timedelta(days=1)).isoformat()}, "expires_at"),
    ],
    ids=["malformed", "future", "before-issue", "secret-label", "expiry-before-rotation"],
)
def test_bad_rotation_is_400_with_a_field_message_and_changes_nothing(api_as, iam, old_key, body, field):
    events = AuditEvent.objects.count()
    response = api_as(iam).post(rotate_url(old_key), body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    old_key.refresh_from_db()
    assert old_key.last_rotated_at is None and old_key.label == "deploy-key-2024"
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_a_rotation_never_moves_backwards(api_as, iam, old_key):
    client = api_as(iam)
    assert client.post(rotate_url(old_key), {}, format="json").status_code == 200
    earlier = (timezone.now() - timedelta(days=30)).isoformat()
    response = client.post(rotate_url(old_key), {"rotated_at": earlier}, format="json")
    assert response.status_code == 400 and "later rotation" in response.json()["rotated_at"][0]


@pytest.mark.django_db
def test_a_revoked_credential_cannot_be_rotated(api_as, iam, old_key):
    services.revoke_credentials(iam, old_key.identity, "leaked")
    response = api_as(iam).post(rotate_url(old_key), {}, format="json")
    assert response.status_code == 409
    old_key.refresh_from_db()
    assert old_key.last_rotated_at is None


@pytest.mark.django_db
def test_a_credential_is_rotated_only_under_its_own_identity(api_as, iam, owner, old_key):
    other = IdentityFactory(owner=owner)
    response = api_as(iam).post(
        f"/api/v1/identities/{other.pk}/credentials/{old_key.pk}/rotate/", {}, format="json"
    )
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("username,allowed", WRITERS)
def test_recording_a_rotation_by_role(api_as, role_users, old_key, username, allowed):
    response = api_as(role_users[username]).post(rotate_url(old_key), {}, format="json")
    assert response.status_code == (200 if allowed else 403)
    old_key.refresh_from_db()
    assert (old_key.last_rotated_at is not None) == allowed


# ---------------------------------------------------------------- pages


@pytest.mark.django_db
def test_owner_adds_a_credential_from_the_identity_page(client, owner, identity):
    client.force_login(owner)
    page = client.get(f"/inventory/{identity.pk}/").content.decode()
    assert f'href="/inventory/{identity.pk}/credentials/new/"' in page
    form = client.get(f"/inventory/{identity.pk}/credentials/new/").content.decode()
    assert 'name="kind"' in form and 'name="label"' in form and "Never the secret itself" in form
    response = client.post(
        f"/inventory/{identity.pk}/credentials/new/",
        {
            "kind": "ssh_key",
            "label": "SHA256:deploykey",
            "storage": "Vault kv/deploy",
            "issued_at": "2026-01-05",
        },
    )
    assert response.status_code == 302
    page = client.get(f"/inventory/{identity.pk}/").content.decode()
    assert "SHA256:deploykey" in page and "Vault kv/deploy" in page


@pytest.mark.django_db
def test_secret_looking_label_on_the_page_shows_the_message_and_writes_nothing(client, iam, identity):
    client.force_login(iam)
    before = counts()
    response = client.post(
        f"/inventory/{identity.pk}/credentials/new/", {"kind": "static_key", "label": "ghp_" + "a1B2" * 10}
    )
    assert response.status_code == 400
    assert "looks like a secret value" in response.content.decode()
    assert counts() == before


@pytest.mark.django_db
def test_owner_records_a_rotation_from_the_page_and_the_age_restarts(client, owner, identity, old_key):
    client.force_login(owner)
    page = client.get(f"/inventory/{identity.pk}/").content.decode()
    assert "400 days" in page and f'href="/inventory/credentials/{old_key.pk}/rotate/"' in page
    today = timezone.localdate().isoformat()
    response = client.post(
        f"/inventory/credentials/{old_key.pk}/rotate/", {"rotated_at": today, "note": "CHG-12"}
    )
    assert response.status_code == 302
    page = client.get(f"/inventory/{identity.pk}/").content.decode()
    assert "400 days" not in page and "0 days" in page and "credential.rotated" in page


@pytest.mark.django_db
def test_rotation_page_shows_field_errors(client, iam, old_key):
    client.force_login(iam)
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = client.post(f"/inventory/credentials/{old_key.pk}/rotate/", {"rotated_at": future})
    assert response.status_code == 400 and "cannot be in the future" in response.content.decode()
    old_key.refresh_from_db()
    assert old_key.last_rotated_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner2", "auditor", "outsider"])
def test_people_who_cannot_edit_see_no_credential_forms(client, role_users, identity, old_key, username):
    client.force_login(role_users[username])
    assert client.get(f"/inventory/{identity.pk}/credentials/new/").status_code == 403
    assert client.post(f"/inventory/credentials/{old_key.pk}/rotate/", {}).status_code == 403
    old_key.refresh_from_db()
    assert old_key.last_rotated_at is None
    if username != "outsider":
        page = client.get(f"/inventory/{identity.pk}/").content.decode()
        assert "Add credential" not in page and "Record rotation" not in page
