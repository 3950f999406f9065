"""The risk tier is never set below the computed one (issue 18, item 2).

The hostile shape: IAM's identity edit turned a computed `critical` into `low` with a reason, and the
page then read "Risk: low" above "at least high". Overrides are raise-only: IAM may set a tier above
the computed one (with its reason shown), never below it — in the service, the form and the API.
"""

import pytest
from django.core.exceptions import ValidationError

from governance.errors import NotAllowed
from governance.models import AuditEvent
from inventory import services
from inventory.models import Identity
from inventory.risk import assess_identity
from tests.conftest import patch_identity
from tests.factories import GrantFactory, IdentityFactory


@pytest.fixture
def computed_critical(owner):
    """Admin and deploy in prod, restricted data: computed critical, 'at least high' among its reasons."""
    identity = IdentityFactory(
        owner=owner,
        name="prod-deployer",
        kind=Identity.Kind.SERVICE_ACCOUNT,
        environments=["prod"],
        data_classification="restricted",
        risk_tier="critical",
    )
    GrantFactory(identity=identity, resource_kind="cloud_account", actions=["admin", "deploy"])
    result = assess_identity(identity)
    assert result.tier == "critical" and "Secrets or admin in production: at least high." in result.reasons
    Identity.objects.filter(pk=identity.pk).update(risk_reasons=result.reasons)
    identity.refresh_from_db()
    return identity


@pytest.mark.django_db
def test_iam_patch_lowering_a_computed_critical_to_low_with_a_reason_is_400(api_as, iam, computed_critical):
    response = patch_identity(
        api_as(iam), computed_critical, {"risk_tier": "low", "reason": "It is only a test account, trust me."}
    )
    assert response.status_code == 400, response.json()
    body = response.json()
    assert list(body) == ["risk_tier"] and "compute critical" in body["risk_tier"][0]
    computed_critical.refresh_from_db()
    assert computed_critical.risk_tier == "critical" and computed_critical.version == 1
    assert not AuditEvent.objects.filter(verb="identity.updated").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("tier", ["low", "medium", "high"])
def test_no_tier_below_the_computed_one_is_accepted(api_as, security, computed_critical, tier):
    response = patch_identity(api_as(security), computed_critical, {"risk_tier": tier, "reason": "lower"})
    assert response.status_code == 400 and "risk_tier" in response.json()


@pytest.mark.django_db
def test_the_page_never_reads_a_tier_below_its_reasons(client, iam, computed_critical):
    client.force_login(iam)
    data = {
        "name": computed_critical.name,
        "kind": computed_critical.kind,
        "vendor": computed_critical.vendor,
        "product": computed_critical.product,
        "owner": "owner",
        "data_classification": computed_critical.data_classification,
        "risk_tier": "low",
        "environments": computed_critical.environments,
        "purpose": "",
        "reason": "It is only a test account, trust me.",
        "version": computed_critical.version,
    }
    response = client.post(f"/inventory/{computed_critical.pk}/edit/", data)
    assert response.status_code == 400
    assert "never set below it" in response.content.decode()
    page = client.get(f"/inventory/{computed_critical.pk}/").content.decode()
    risk_header = page.split("Risk: <span", 1)[1][:120]
    assert 'badge-tier-critical">critical<' in risk_header


@pytest.mark.django_db
def test_edit_form_names_the_computed_tier(client, iam, computed_critical):
    client.force_login(iam)
    form = client.get(f"/inventory/{computed_critical.pk}/edit/").content.decode()
    assert "Computed from its grants and answers: critical" in form


@pytest.mark.django_db
def test_raising_above_the_computed_tier_is_allowed_and_shown_with_its_reason(api_as, iam, identity):
    assert assess_identity(identity).tier == "low"
    response = patch_identity(
        api_as(iam), identity, {"risk_tier": "high", "reason": "handles payment data soon"}
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["risk_tier"] == "high"
    assert (
        body["risk_reasons"][-1] == "Raised to high above the computed low by iam: handles payment data soon."
    )


@pytest.mark.django_db
def test_a_raised_tier_comes_back_down_to_the_computed_one_with_a_reason_never_below(api_as, iam, identity):
    client = api_as(iam)
    url = f"/api/v1/identities/{identity.pk}/"
    assert (
        client.patch(url, {"risk_tier": "critical", "reason": "incident"}, format="json").status_code == 200
    )
    assert client.patch(url, {"risk_tier": "medium"}, format="json").status_code == 400  # no reason
    assert (
        client.patch(url, {"risk_tier": "low", "reason": "incident closed"}, format="json").status_code == 200
    )
    identity.refresh_from_db()
    assert identity.risk_tier == "low" and not any("Raised" in r for r in identity.risk_reasons)


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["iam", "security"])
def test_service_refuses_a_tier_below_the_computed_one_for_every_governor(
    role_users, computed_critical, username
):
    with pytest.raises(ValidationError) as refused:
        services.update_identity(
            role_users[username], computed_critical, {"risk_tier": "low"}, reason="why not"
        )
    assert "risk_tier" in refused.value.message_dict


@pytest.mark.django_db
@pytest.mark.parametrize("username", ["owner", "owner2", "auditor", "outsider"])
def test_others_cannot_touch_the_tier_at_all(role_users, computed_critical, username):
    with pytest.raises(NotAllowed):
        services.update_identity(role_users[username], computed_critical, {"risk_tier": "critical"})


@pytest.mark.django_db
def test_registering_with_a_tier_below_the_computed_one_is_400(api_as, iam, owner, team):
    body = {
        "name": "prod-admin-bot",
        "kind": "service_account",
        "owner": "owner",
        "team": "platform",
        "environments": ["prod"],
        "data_classification": "restricted",
        "grants": [
            {"resource_kind": "cloud_account", "resource_name": "aws-prod", "actions": ["admin", "deploy"]}
        ],
        "risk_tier": "low",
    }
    response = api_as(iam).post("/api/v1/identities/", body, format="json")
    assert response.status_code == 400 and "risk_tier" in response.json()
    assert not Identity.objects.filter(name="prod-admin-bot").exists()
