"""Trusted issuers (two people), trust bindings (part of the approved scope, routed by tier), SET
receivers: roles, separation of duties, validation, audit; and the static-credential finding."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from approvals.services import engine
from governance.errors import IllegalTransition, NotAllowed
from governance.findings.sweep import run_sweep
from governance.models import AuditEvent
from tests.factories import CredentialFactory, IdentityFactory
from tests.workload.conftest import bind
from workload import services
from workload.models import TrustBinding, TrustedIssuer

pytestmark = pytest.mark.django_db

GOOD = {"name": "GitHub (acme)", "template": "github_actions", "audience": "steward"}


def test_security_proposes_and_another_person_approves(security, iam):
    issuer = services.propose_issuer(security, GOOD)
    assert issuer.state == "proposed"
    assert issuer.issuer == "https://token.actions.githubusercontent.com"  # from the template
    assert issuer.jwks_uri == "https://token.actions.githubusercontent.com/.well-known/jwks"
    with pytest.raises(NotAllowed, match="second person"):
        services.approve_issuer(security, issuer.pk)
    services.approve_issuer(iam, issuer.pk, "checked with the platform team")
    issuer.refresh_from_db()
    assert issuer.state == "active" and issuer.decided_by == iam
    verbs = list(
        AuditEvent.objects.filter(subject_type="workload.trustedissuer")
        .order_by("seq")
        .values_list("verb", "actor")
    )
    assert verbs == [("workload.issuer_proposed", "security"), ("workload.issuer_approved", "iam")]
    with pytest.raises(IllegalTransition):
        services.reject_issuer(security, issuer.pk)


@pytest.mark.parametrize("who", ["owner", "iam", "auditor", "outsider"])
def test_only_security_proposes(role_users, who):
    with pytest.raises(NotAllowed):
        services.propose_issuer(role_users[who], GOOD)
    assert not TrustedIssuer.objects.exists()


@pytest.mark.parametrize("who", ["owner", "auditor"])
def test_owners_and_auditors_do_not_approve(role_users, security, who):
    issuer = services.propose_issuer(security, GOOD)
    with pytest.raises(NotAllowed):
        services.approve_issuer(role_users[who], issuer.pk)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": "", "template": "github_actions"}, "name"),
        ({"name": "x", "template": "custom", "issuer": "ftp://x", "jwks_uri": "https://x/keys"}, "issuer"),
        ({"name": "x", "template": "custom", "issuer": "https://x"}, "jwks_uri"),
        (
            {"name": "x", "template": "custom", "issuer": "https://x", "jwks_uri": "http://example.com/keys"},
            "jwks_uri",
        ),
        (
            {
                "name": "x",
                "template": "custom",
                "issuer": "https://x",
                "jwks": {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]},
            },
            "jwks",
        ),
        (
            {
                "name": "x",
                "template": "custom",
                "issuer": "https://x",
                "jwks": {"keys": [{"kty": "EC", "crv": "P-256", "x": "a", "y": "b", "d": "private"}]},
            },
            "jwks",
        ),
        ({"name": "x", "template": "nope"}, "template"),
    ],
)
def test_bad_issuers_are_refused_per_field_and_nothing_is_written(security, data, field):
    with pytest.raises(ValidationError) as caught:
        services.propose_issuer(security, data)
    assert field in caught.value.error_dict
    assert not TrustedIssuer.objects.exists()


def test_the_api_answers_400_per_field(api_as, security):
    response = api_as(security).post(
        "/api/v1/trusted-issuers/", {"name": "", "template": "custom"}, format="json"
    )
    assert response.status_code == 400
    assert {"name", "issuer"} <= set(response.json())


def test_an_issuer_is_proposed_once(security):
    services.propose_issuer(security, GOOD)
    with pytest.raises(ValidationError, match="already trusted or proposed"):
        services.propose_issuer(security, {**GOOD, "name": "again"})


@pytest.fixture
def active_issuer(security, iam):
    issuer = services.propose_issuer(security, GOOD)
    return services.approve_issuer(iam, issuer.pk)


def _bind_payments(actor, identity, issuer, environment: str):
    """`actor` binds the payments repository's deploy job in `environment` to `identity`."""
    claims = {"sub": f"repo:acme/payments:environment:{environment}"}
    return services.create_binding(actor, identity=identity, issuer_id=issuer.pk, claims=claims)


def test_iam_binds_a_low_identity_at_once(iam, owner, active_issuer):
    identity = IdentityFactory(owner=owner, risk_tier="low")
    binding = _bind_payments(iam, identity, active_issuer, "prod")
    assert binding.state == "active"
    assert AuditEvent.objects.filter(verb="workload.binding_active", subject_id=str(identity.pk)).exists()


def test_a_binding_on_a_high_identity_follows_the_tiers_route(iam, iam2, security, owner, active_issuer):
    identity = IdentityFactory(owner=owner, risk_tier="high")
    binding = _bind_payments(iam, identity, active_issuer, "prod")
    assert binding.state == "pending"
    request = engine.approval_of(binding)
    assert request is not None and request.kind == "trust_binding"
    with pytest.raises(NotAllowed):
        engine.approve(iam, request)  # the requester does not approve it
    for approver in (iam2, security):
        request.refresh_from_db()
        if request.state == "pending":
            engine.approve(approver, request)
    binding.refresh_from_db()
    assert binding.state == "active"


def test_an_owner_asks_for_a_binding_through_approval(owner, iam, active_issuer):
    identity = IdentityFactory(owner=owner, risk_tier="low")
    binding = _bind_payments(owner, identity, active_issuer, "dev")
    assert binding.state == "pending"
    engine.reject(iam, engine.approval_of(binding), comment="use the reusable workflow")
    binding.refresh_from_db()
    assert binding.state == "rejected"


def test_others_cannot_bind(owner2, auditor, owner, active_issuer):
    identity = IdentityFactory(owner=owner)
    for who in (owner2, auditor):
        with pytest.raises(NotAllowed):
            services.create_binding(who, identity=identity, issuer_id=active_issuer.pk, claims={"sub": "x"})
    assert not TrustBinding.objects.exists()


@pytest.mark.parametrize(
    "claims",
    [
        {},
        {"sub": ""},
        {"sub": "repo:acme/*"},
        {"sub": 7},
        {"repository": "acme/payments"},
        "sub=x",
        {f"c{i}": "v" for i in range(11)},
    ],
)
def test_bindings_need_exact_specific_claims(iam, owner, active_issuer, claims):
    identity = IdentityFactory(owner=owner)
    with pytest.raises(ValidationError):
        services.create_binding(iam, identity=identity, issuer_id=active_issuer.pk, claims=claims)


def test_a_proposed_issuer_cannot_be_bound(iam, security, owner):
    issuer = services.propose_issuer(security, GOOD)
    with pytest.raises(ValidationError, match="approved trusted issuer"):
        services.create_binding(
            iam, identity=IdentityFactory(owner=owner), issuer_id=issuer.pk, claims={"sub": "x"}
        )


def test_retiring_an_issuer_revokes_its_bindings(security, iam, owner, active_issuer):
    identity = IdentityFactory(owner=owner)
    binding = bind(active_issuer, identity, {"sub": "repo:acme/payments:environment:prod"})
    services.retire_issuer(security, active_issuer.pk, "moved to GitLab")
    binding.refresh_from_db()
    assert binding.state == "revoked" and binding.revoked_by == "security"


def test_only_security_registers_receivers(security, iam):
    with pytest.raises(NotAllowed):
        services.add_receiver(iam, {"name": "gw", "endpoint": "https://gw.example/events"})
    with pytest.raises(ValidationError) as caught:
        services.add_receiver(security, {"name": "", "endpoint": "http://gw.example/events"})
    assert {"name", "endpoint"} <= set(caught.value.error_dict)
    receiver = services.add_receiver(security, {"name": "gw", "endpoint": "https://gw.example/events"})
    assert receiver.audience == "https://gw.example/events"
    services.remove_receiver(security, receiver.pk)
    with pytest.raises(IllegalTransition):
        services.remove_receiver(security, receiver.pk)


# ---------------------------------------------------------------- the finding


def test_a_bound_identity_with_a_live_static_key_gets_a_finding(owner, active_issuer):
    identity = IdentityFactory(owner=owner, risk_tier="high")
    bind(active_issuer, identity, {"sub": "repo:acme/payments:environment:prod"})
    CredentialFactory(identity=identity, kind="static_key", label="AKIA…7Q")
    CredentialFactory(identity=identity, kind="oidc_federation", label="github")
    unbound = IdentityFactory(owner=owner)
    CredentialFactory(identity=unbound, kind="static_key")
    run_sweep()
    finding = identity.findings.get(rule="static_credential_where_federation_exists")
    assert finding.severity == "high"
    assert [c["label"] for c in finding.evidence["credentials"]] == ["AKIA…7Q"]
    assert not unbound.findings.filter(rule="static_credential_where_federation_exists").exists()


def test_revoking_the_static_key_resolves_it(owner, active_issuer):
    from django.utils import timezone

    identity = IdentityFactory(owner=owner)
    key = CredentialFactory(identity=identity, kind="pat")
    bind(active_issuer, identity, {"sub": "repo:acme/payments:environment:prod"})
    run_sweep()
    assert identity.findings.get(rule="static_credential_where_federation_exists").status == "open"
    key.revoked_at = timezone.now()
    key.save()
    run_sweep()
    assert identity.findings.get(rule="static_credential_where_federation_exists").status == "resolved"


def test_the_identity_page_shows_bindings_and_last_exchange(owner, iam, active_issuer):
    identity = IdentityFactory(owner=owner)
    bind(active_issuer, identity, {"sub": "repo:acme/payments:environment:prod"})
    client = Client()
    client.force_login(iam)
    page = client.get(identity.get_absolute_url()).content.decode()
    assert 'data-testid="workload-panel"' in page
    assert "repo:acme/payments:environment:prod" in page
    assert 'data-testid="last-exchange">never' in page
