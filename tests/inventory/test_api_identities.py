"""identities/ API: create with validation, read, PATCH with optimistic concurrency, lifecycle, roles."""

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from governance.models import AuditEvent
from inventory import services
from inventory.models import Credential, Grant, Identity
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory


def payload(**overrides):
    body = {
        "name": "Claude Code (payments)",
        "kind": "ai_assistant",
        "vendor": "Anthropic",
        "product": "Claude Code",
        "model_name": "claude-sonnet-4-5",
        "purpose": "Pair programming in the payments repos",
        "owner": "owner",
        "backup_owner": "owner2",
        "team": "payments",
        "environments": ["dev", "prod"],
        "grants": [
            {
                "resource_kind": "repository",
                "resource_name": "payments/api",
                "actions": ["read_code", "open_pr"],
                "expires_at": (timezone.now() + timedelta(days=90)).isoformat(),
            }
        ],
        "credential_kind": "oauth_token",
        "data_classification": "confidential",
        "autonomous": False,
        "credentials": [{"kind": "oauth_token", "label": "SHA256:abc123", "storage": "GitHub app"}],
        "source": "manual",
        "external_id": "cc-payments",
    }
    body.update(overrides)
    return body


def snapshot_counts():
    return (
        Identity.objects.count(),
        Grant.objects.count(),
        Credential.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.mark.django_db
def test_iam_registers_an_identity_with_computed_risk(api_as, iam, owner, owner2, other_team):
    response = api_as(iam).post("/api/v1/identities/", payload(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    # The backup owner is asked first; a high tier waits for IAM, then Security (issue 18, items 3-4).
    assert body["owner"] == "owner" and body["backup_owner"] is None and body["team"] == "payments"
    assert body["pending_changes"]["ownership_transfers"] == [
        {
            "id": body["pending_changes"]["ownership_transfers"][0]["id"],
            "role": "backup_owner",
            "to_owner": "owner2",
        }
    ]
    assert body["status"] == "proposed" and body["pending_changes"]["activation"]["risk_tier"] == "high"
    assert body["risk_tier"] == "high"  # prod (+2), open_pr (+1), confidential (+1)
    assert any("production" in r for r in body["risk_reasons"])
    assert body["grants"][0]["actions"] == ["open_pr", "read_code"]
    assert body["credentials"][0]["label"] == "SHA256:abc123"
    assert body["findings"] == [] and body["exceptions"] == []
    assert AuditEvent.objects.filter(verb="identity.created", subject_id=str(body["id"])).exists()


@pytest.mark.django_db
def test_identity_without_owner_is_registered_as_discovered(api_as, security):
    body = payload(owner=None, backup_owner=None, team=None, credentials=[])
    response = api_as(security).post("/api/v1/identities/", body, format="json")
    assert response.status_code == 201 and response.json()["status"] == "discovered"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "overrides,field",
    [
        ({"backup_owner": "owner"}, "backup_owner"),
        ({"kind": "robot"}, "kind"),
        (
            {
                "grants": [
                    {
                        "resource_kind": "repository",
                        "resource_name": "a",
                        "actions": ["read_code"],
                        "expires_at": "2026-13-45",
                    }
                ]
            },
            "grants",
        ),
        ({"credentials": [{"kind": "static_key", "label": "ghp_" + "a1B2" * 10}]}, "credentials"),
        ({"credentials": [{"kind": "static_key", "label": "k", "secret": "hunter2"}]}, "credentials"),
        ({"environments": ["moon"]}, "environments"),
        ({"owner": "nobody-here"}, "owner"),
    ],
    ids=[
        "owner-is-backup",
        "unknown-kind",
        "malformed-date",
        "secret-label",
        "secret-field",
        "bad-env",
        "no-user",
    ],
)
def test_bad_input_is_400_with_a_field_message_and_writes_nothing(
    api_as, iam, owner, owner2, other_team, overrides, field
):
    before = snapshot_counts()
    response = api_as(iam).post("/api/v1/identities/", payload(**overrides), format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()
    assert snapshot_counts() == before


@pytest.mark.django_db
def test_secret_message_explains_what_to_give_instead(api_as, iam, owner, owner2, other_team):
    body = payload(credentials=[{"kind": "static_key", "label": "AKIAABCDEFGHIJKLMNOP"}])
    messages = api_as(iam).post("/api/v1/identities/", body, format="json").json()["credentials"]
    assert "looks like a secret" in " ".join(messages)


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "auditor", "outsider"])
def test_only_iam_and_security_register_directly(api_as, role_users, other_team, username):
    before = snapshot_counts()
    assert (
        api_as(role_users[username]).post("/api/v1/identities/", payload(), format="json").status_code == 403
    )
    assert snapshot_counts() == before


@pytest.mark.django_db
def test_detail_includes_grants_credentials_findings_and_exceptions(api_as, auditor, identity):
    GrantFactory(identity=identity)
    CredentialFactory(identity=identity)
    body = api_as(auditor).get(f"/api/v1/identities/{identity.pk}/").json()
    assert len(body["grants"]) == 1 and len(body["credentials"]) == 1
    assert body["findings"] == [] and body["exceptions"] == []
    assert "secret" not in str(body["credentials"]).lower()


# ---------------------------------------------------------------- permission matrix

READ = [("owner", 200), ("owner2", 200), ("iam", 200), ("security", 200), ("auditor", 200), ("outsider", 403)]
PATCH = [
    ("owner", 200),
    ("owner2", 403),
    ("iam", 200),
    ("security", 200),
    ("auditor", 403),
    ("outsider", 403),
]
SUSPEND = PATCH
DECOMMISSION = PATCH
REACTIVATE = [
    ("owner", 403),
    ("owner2", 403),
    ("iam", 200),
    ("security", 200),
    ("auditor", 403),
    ("outsider", 403),
]


@pytest.mark.django_db
@pytest.mark.parametrize("username,status", READ)
def test_read_permissions(api_as, role_users, identity, username, status):
    client = api_as(role_users[username])
    assert client.get("/api/v1/identities/").status_code == status
    assert client.get(f"/api/v1/identities/{identity.pk}/").status_code == status


@pytest.mark.django_db
@pytest.mark.parametrize("username,status", PATCH)
def test_patch_permissions(api_as, role_users, identity, username, status):
    response = api_as(role_users[username]).patch(
        f"/api/v1/identities/{identity.pk}/", {"purpose": "edited"}, format="json"
    )
    assert response.status_code == status
    identity.refresh_from_db()
    assert (identity.purpose == "edited") == (status == 200)


# action, reason, status after success, who may
TRANSITIONS = [
    ("suspend", "investigating", "suspended", SUSPEND),
    ("reactivate", "cleared", "active", REACTIVATE),
    ("decommission", "retired", "decommissioned", DECOMMISSION),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "action,reason,after,username,status",
    [
        pytest.param(action, reason, after, username, status, id=f"{action}-{username}-{status}")
        for action, reason, after, who in TRANSITIONS
        for username, status in who
    ],
)
def test_transition_permissions(api_as, role_users, identity, action, reason, after, username, status):
    CredentialFactory(identity=identity)
    if action == "reactivate":
        services.suspend("system:test", identity, "paused")
    response = api_as(role_users[username]).post(
        f"/api/v1/identities/{identity.pk}/{action}/", {"reason": reason}, format="json"
    )
    assert response.status_code == status
    identity.refresh_from_db()
    assert (identity.status == after) == (status == 200)
    # Only a successful decommission revokes the identity's credentials.
    revoked = identity.credentials.filter(revoked_at__isnull=False).exists()
    assert revoked == (action == "decommission" and status == 200)


@pytest.mark.django_db
def test_owner_cannot_patch_iam_only_fields(api_as, owner, identity):
    response = api_as(owner).patch(
        f"/api/v1/identities/{identity.pk}/", {"risk_tier": "critical"}, format="json"
    )
    assert response.status_code == 403 and "ask IAM" in response.json()["detail"]
    identity.refresh_from_db()
    assert identity.risk_tier == "low"


# ---------------------------------------------------------------- concurrency and transitions


@pytest.mark.django_db
def test_patch_with_stale_version_is_409_and_changes_nothing(api_as, iam, identity):
    client = api_as(iam)
    assert (
        client.patch(
            f"/api/v1/identities/{identity.pk}/", {"purpose": "a", "version": 1}, format="json"
        ).status_code
        == 200
    )
    response = client.patch(
        f"/api/v1/identities/{identity.pk}/", {"purpose": "b", "version": 1}, format="json"
    )
    assert response.status_code == 409 and "Reload" in response.json()["detail"]
    identity.refresh_from_db()
    assert identity.purpose == "a" and identity.version == 2


@pytest.mark.django_db
def test_patch_raising_environment_reassesses_tier_upwards(api_as, iam, iam2, security, identity):
    """Environments change what the identity is: a scope change, re-tiered and approved (issue 18)."""
    GrantFactory(identity=identity, actions=["deploy"])
    response = api_as(iam).patch(
        f"/api/v1/identities/{identity.pk}/", {"environments": ["prod"], "reason": "goes live"}, format="json"
    )
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["environments"] == ["dev"] and body["risk_tier"] == "low"
    (pending,) = body["pending_changes"]["scope_changes"]
    assert pending["environments"] == ["prod"] and pending["risk_tier"] == "high"
    for person in (iam2, security):
        assert api_as(person).post(f"/api/v1/scope-changes/{pending['id']}/approve/", {}).status_code == 200
    body = api_as(iam).get(f"/api/v1/identities/{identity.pk}/").json()
    assert body["risk_tier"] == "high" and any("production" in r for r in body["risk_reasons"])


@pytest.mark.django_db
def test_lowering_the_tier_needs_a_reason(api_as, iam, identity):
    Identity.objects.filter(pk=identity.pk).update(risk_tier="high")
    client = api_as(iam)
    response = client.patch(f"/api/v1/identities/{identity.pk}/", {"risk_tier": "low"}, format="json")
    assert response.status_code == 400 and "reason" in response.json()
    response = client.patch(
        f"/api/v1/identities/{identity.pk}/",
        {"risk_tier": "low", "reason": "sandbox only now"},
        format="json",
    )
    assert response.status_code == 200 and response.json()["risk_tier"] == "low"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "start,action",
    [
        ("decommissioned", "suspend"),
        ("decommissioned", "reactivate"),
        ("decommissioned", "decommission"),
        ("active", "reactivate"),
        ("proposed", "suspend"),
        ("discovered", "reactivate"),
    ],
)
def test_illegal_transitions_are_409_and_change_nothing(api_as, iam, owner, start, action):
    identity = IdentityFactory(owner=owner, status=start)
    events = AuditEvent.objects.count()
    response = api_as(iam).post(
        f"/api/v1/identities/{identity.pk}/{action}/", {"reason": "try"}, format="json"
    )
    assert response.status_code == 409, response.json()
    identity.refresh_from_db()
    assert identity.status == start and identity.version == 1
    assert AuditEvent.objects.count() == events


@pytest.mark.django_db
def test_transition_needs_a_reason(api_as, iam, identity):
    response = api_as(iam).post(f"/api/v1/identities/{identity.pk}/suspend/", {}, format="json")
    assert response.status_code == 400 and "reason" in response.json()


@pytest.mark.django_db
def test_decommission_ends_grants_and_records_each_credentials_revocation(api_as, iam, identity):
    GrantFactory(identity=identity)
    confirmed = CredentialFactory(
        identity=identity, label="old", revoked_at=timezone.now(), revocation_confirmed_at=timezone.now()
    )
    live = CredentialFactory(identity=identity, label="live")
    body = (
        api_as(iam)
        .post(f"/api/v1/identities/{identity.pk}/decommission/", {"reason": "retired"}, format="json")
        .json()
    )
    assert body["status"] == "decommissioned"
    assert all(not g["is_current"] for g in body["grants"])
    pending = {c["label"]: c["revocation_pending"] for c in body["credentials"]}
    assert pending == {"old": False, "live": True}
    event = AuditEvent.objects.get(verb="identity.access_removed", subject_id=str(identity.pk))
    assert {(c["id"], c["revocation_confirmed"]) for c in event.after["credentials"]} == {
        (confirmed.pk, True),
        (live.pk, False),
    }


@pytest.mark.django_db
def test_put_and_delete_are_not_offered(api_as, iam, identity):
    client = api_as(iam)
    assert client.put(f"/api/v1/identities/{identity.pk}/", {}, format="json").status_code == 405
    assert client.delete(f"/api/v1/identities/{identity.pk}/").status_code == 405


@pytest.mark.django_db
def test_api_filters_match_the_contract(api_as, auditor, owner, owner2):
    IdentityFactory(name="a", kind="bot", owner=owner, environments=["prod"], risk_tier="high")
    IdentityFactory(name="b", kind="bot", owner=owner2, environments=["dev"])
    IdentityFactory(name="c", kind="api_key", owner=owner, environments=["prod"], status="suspended")
    client = api_as(auditor)

    def names(query):
        return [r["name"] for r in client.get(f"/api/v1/identities/?{query}").json()["results"]]

    assert names("kind=bot") == ["a", "b"]
    assert names("status=suspended") == ["c"]
    assert names("risk_tier=high") == ["a"]
    assert names("owner=owner2") == ["b"]
    assert names("team=payments") == ["b"]
    assert names("environment=prod&ordering=-name") == ["c", "a"]
    assert names("search=b") == ["b"]
    assert client.get("/api/v1/identities/?kind=robot").status_code == 400


@pytest.mark.parametrize("zone", ["UTC", "Europe/Berlin"])
def test_the_hand_written_list_rows_equal_the_generic_serializer(settings, owner, owner2, zone):
    """IdentityListSerializer writes the rows by hand for speed; it must say exactly what the
    generic ModelSerializer says, for full rows, empty ones, microseconds and other time zones."""
    from datetime import date, datetime

    from inventory.filters import base_queryset
    from inventory.serializers import IdentityListSerializer, IdentitySerializer

    settings.TIME_ZONE = zone
    full = IdentityFactory(
        owner=owner,
        backup_owner=owner2,
        kind=Identity.Kind.AI_AGENT,
        model_name="model-x",
        purpose="Triage <b>tickets</b> — ünïcode",
        environments=["dev", "prod"],
        autonomous=True,
        risk_tier="high",
        risk_reasons=["prod", "autonomous"],
        last_used_at=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
        last_reviewed_at=timezone.now() - timedelta(days=3),
        next_review_due=date(2027, 1, 31),
        source="github",
        external_id="app-42",
    )
    empty = IdentityFactory(
        owner=None,
        team=None,
        vendor="",
        product="",
        environments=[],
        status=Identity.Status.DISCOVERED,
        approved_at=None,
    )
    rows = list(base_queryset().filter(pk__in=[full.pk, empty.pk]).order_by("pk"))
    assert IdentityListSerializer(rows, many=True).data == IdentitySerializer(rows, many=True).data
    assert list(IdentityListSerializer.Meta.fields) == list(IdentitySerializer.Meta.fields)
    assert set(IdentityListSerializer(rows[0]).data) == set(IdentitySerializer.Meta.fields)
