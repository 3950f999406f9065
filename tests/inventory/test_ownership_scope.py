"""Scope changes: additions are re-tiered and routed like an intake; pure removals apply at once."""

from unittest import mock

import pytest
from django.core.exceptions import ValidationError

from approvals.flows import scope
from approvals.models import ApprovalRequest
from approvals.services import engine
from governance.errors import NotAllowed
from governance.models import AuditEvent
from inventory.models import Grant, Identity, ScopeChange
from tests.factories import GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def assistant(owner):
    identity = IdentityFactory(name="docs-assistant", owner=owner, environments=["dev"], risk_tier="low")
    GrantFactory(identity=identity, resource_kind="repository", resource_name="docs", actions=["read_code"])
    GrantFactory(identity=identity, resource_kind="ticketing", resource_name="DOCS", actions=["read_tickets"])
    return identity


def approval(change):
    return ApprovalRequest.objects.get(kind="scope_change", object_id=change.pk)


def test_a_pure_removal_is_applied_at_once_without_approval(owner, assistant):
    ticket_grant = assistant.grants.get(resource_kind="ticketing")
    change = scope.request_scope_change(owner, assistant, remove=[ticket_grant.pk], reason="no longer needed")
    assert change.state == ScopeChange.State.APPLIED
    assert not ApprovalRequest.objects.filter(kind="scope_change").exists()
    ticket_grant.refresh_from_db()
    assert ticket_grant.ended_at is not None
    assert list(
        Grant.objects.current().filter(identity=assistant).values_list("resource_name", flat=True)
    ) == ["docs"]
    assert AuditEvent.objects.filter(verb="identity.scope_changed", subject_id=str(assistant.pk)).exists()


def test_a_scope_increase_is_re_tiered_and_needs_iam_then_security(owner, iam, security, assistant):
    change = scope.request_scope_change(
        owner,
        assistant,
        add=[{"resource_kind": "ci_pipeline", "resource_name": "docs-release", "actions": ["deploy"]}],
        environments=["dev", "prod"],
        reason="publish the docs site",
    )
    assert change.state == ScopeChange.State.PENDING
    assert change.risk_tier in ("high", "critical")
    request = approval(change)
    assert [s.role for s in request.current_steps()][:2] == ["iam", "security"]
    # Nothing changes before the last approval.
    assert not Grant.objects.filter(identity=assistant, resource_name="docs-release").exists()
    with pytest.raises(NotAllowed):
        engine.approve(owner, request)  # nobody approves their own request

    engine.approve(iam, request)
    assert not Grant.objects.filter(identity=assistant, resource_name="docs-release").exists()
    engine.approve(security, approval(change))
    change.refresh_from_db()
    assistant.refresh_from_db()
    assert change.state == ScopeChange.State.APPLIED
    grant = Grant.objects.get(identity=assistant, resource_name="docs-release")
    assert grant.actions == ["deploy"] and grant.origin == Grant.Origin.SCOPE_CHANGE
    assert assistant.environments == ["dev", "prod"]
    assert assistant.risk_tier == change.risk_tier


def test_a_rejected_scope_change_changes_nothing(owner, iam, assistant):
    change = scope.request_scope_change(
        owner,
        assistant,
        add=[{"resource_kind": "repository", "resource_name": "docs", "actions": ["write_code"]}],
        reason="fix typos",
    )
    engine.reject(iam, approval(change), comment="use a PR from a person")
    change.refresh_from_db()
    assert change.state == ScopeChange.State.REJECTED
    assert Grant.objects.current().filter(identity=assistant).count() == 2
    assert Identity.objects.get(pk=assistant.pk).risk_tier == "low"


def test_bad_input_is_refused_with_field_errors(owner, owner2, assistant):
    with pytest.raises(ValidationError) as err:
        scope.request_scope_change(owner, assistant, add=[{"resource_kind": "nope"}], reason="x")
    assert "add_grants" in err.value.message_dict
    with pytest.raises(ValidationError) as err:
        scope.request_scope_change(owner, assistant, remove=[999999], reason="x")
    assert "remove_grants" in err.value.message_dict
    with pytest.raises(ValidationError):
        scope.request_scope_change(owner, assistant, reason="nothing")
    with pytest.raises(NotAllowed):
        scope.request_scope_change(owner2, assistant, remove=[assistant.grants.first().pk], reason="x")
    assert not ScopeChange.objects.exists()


def test_the_scope_change_shows_in_the_approvers_inbox(client, owner, iam, assistant):
    change = scope.request_scope_change(
        owner,
        assistant,
        add=[{"resource_kind": "repository", "resource_name": "docs", "actions": ["write_code"]}],
        reason="fix typos",
    )
    client.force_login(iam)
    assert "Scope change for docs-assistant" in client.get("/approvals/").content.decode()
    page = client.get(f"/approvals/{approval(change).pk}/", follow=True)
    assert page.status_code == 200
    assert page.redirect_chain[-1][0] == f"/inventory/scope-changes/{change.pk}/"
    response = client.post(f"/inventory/scope-changes/{change.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302
    change.refresh_from_db()
    assert change.state == ScopeChange.State.APPLIED  # low tier: IAM alone approves


def test_owner_requests_a_removal_from_the_scope_form(client, owner, assistant):
    grant = assistant.grants.get(resource_kind="ticketing")
    client.force_login(owner)
    assert client.get(f"/inventory/{assistant.pk}/scope/").status_code == 200
    response = client.post(
        f"/inventory/{assistant.pk}/scope/",
        {"remove": [grant.pk], "environments": ["dev"], "reason": "unused"},
    )
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.ended_at is not None
    bad = client.post(f"/inventory/{assistant.pk}/scope/", {"environments": ["dev"], "reason": ""})
    assert bad.status_code == 400


def test_scope_changes_over_the_api(api_as, owner, iam, assistant):
    grant = assistant.grants.get(resource_kind="ticketing")
    removal = api_as(owner).post(
        "/api/v1/scope-changes/",
        {"identity": assistant.pk, "remove_grants": [grant.pk], "reason": "unused"},
        format="json",
    )
    assert removal.status_code == 201, removal.json()
    assert removal.json()["state"] == "applied"
    addition = api_as(owner).post(
        "/api/v1/scope-changes/",
        {
            "identity": assistant.pk,
            "add_grants": [{"resource_kind": "repository", "resource_name": "docs", "actions": ["merge"]}],
            "reason": "merge doc fixes",
        },
        format="json",
    )
    assert addition.status_code == 201 and addition.json()["state"] == "pending"
    assert addition.json()["risk_tier"] != "low"  # re-tiered on the resulting scope
    bad = api_as(owner).post(
        "/api/v1/scope-changes/",
        {
            "identity": assistant.pk,
            "add_grants": [{"resource_kind": "x", "resource_name": "y", "actions": []}],
            "reason": "r",
        },
        format="json",
    )
    assert bad.status_code == 400 and "add_grants" in bad.json()
    assert api_as(iam).get("/api/v1/scope-changes/?state=pending").json()["count"] == 1


PROD_SECRETS = [{"resource_kind": "secret_store", "resource_name": "vault/prod", "actions": ["read_secrets"]}]


def test_a_scope_change_that_breaks_a_deny_rule_is_refused_and_writes_nothing(owner, assistant):
    with pytest.raises(ValidationError) as excinfo:
        scope.request_scope_change(
            owner,
            assistant,
            add=[
                {"resource_kind": "secret_store", "resource_name": "vault/prod", "actions": ["read_secrets"]}
            ],
            environments=["dev", "prod"],
            reason="read deploy secrets",
        )
    assert "assistant_prod_secrets" in str(excinfo.value.message_dict["add_grants"])
    assert not ScopeChange.objects.exists()


def test_an_active_exception_lets_the_deny_rule_pass_and_is_cited(owner, security, assistant):
    from governance.exceptions import services as exceptions
    from tests.governance.exceptions_support import request as request_exception

    exc = exceptions.approve(security, request_exception(owner, assistant, rule="assistant_prod_secrets"))
    change = scope.request_scope_change(
        owner,
        assistant,
        add=PROD_SECRETS,
        environments=["dev", "prod"],
        reason="read deploy secrets under the approved exception",
    )
    assert change.state == ScopeChange.State.PENDING
    event = AuditEvent.objects.filter(verb="identity.scope_change_requested").latest("seq")
    assert event.after["deny_rules_excepted"][0]["exception"] == exc.pk


@pytest.mark.django_db(transaction=True)
def test_a_scope_request_outside_a_test_transaction_is_one_atomic_write(client, owner, assistant):
    """The page calls the service in autocommit mode, as in production: the service must open its own
    transaction (its row lock and audit event need one), and a failure halfway writes nothing."""
    client.force_login(owner)
    response = client.post(
        f"/inventory/{assistant.pk}/scope/",
        {
            "resource_kind": "repository",
            "resource_name": "docs",
            "actions": ["write_code"],
            "environments": ["dev"],
            "reason": "fix typos",
        },
    )
    assert response.status_code == 302, response.content.decode()[:500]
    change = ScopeChange.objects.get()
    assert change.state == ScopeChange.State.PENDING and approval(change).state == "pending"

    engine_down = mock.patch(
        "approvals.services.engine.open_identity_request", side_effect=RuntimeError("engine down")
    )
    with engine_down, pytest.raises(RuntimeError):
        scope.request_scope_change(
            owner,
            assistant,
            add=[{"resource_kind": "ticketing", "resource_name": "DOCS", "actions": ["write_tickets"]}],
            reason="close tickets",
        )
    assert ScopeChange.objects.count() == 1
    assert AuditEvent.objects.filter(verb="identity.scope_change_requested").count() == 1
