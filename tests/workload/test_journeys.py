"""The guidance's journeys, end to end through the API with tokens from a loopback issuer:

- a CI job exchanges its OIDC token and asks to merge to prod → step_up → its owner's just-in-time
  request, approved by IAM → allow, with the same access token;
- an assistant acting for a person is denied what that person could not do;
- a sub-agent spawned by an agent inherits at most its parent's scope;
- drift ends sessions: suspending the identity makes the next decision with the same token `deny`,
  introspection says inactive, and a signed Security Event Token reaches the receiver.
"""

from __future__ import annotations

import json

import jwt
import pytest
from django.test import Client

from governance.decisions import jit
from governance.decisions.models import DecisionRecord
from governance.models import AuditEvent
from inventory import services as inventory_services
from inventory.models import UsageEvent
from tests.conftest import bearer
from tests.factories import GrantFactory, IdentityFactory, request_merge_access
from tests.workload.conftest import (
    MERGE_PROD,
    bind,
    delegation_token,
    exchange,
    exchange_acting_for,
    sub_agent_exchange,
)
from workload import services
from workload.models import IssuedToken, SetDelivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def ci(owner):
    identity = IdentityFactory(
        owner=owner, name="payments-deploy", kind="workload", environments=["prod"], risk_tier="medium"
    )
    GrantFactory(identity=identity, resource_name="acme/payments", actions=["read_code", "open_pr", "merge"])
    return identity


@pytest.fixture
def ci_token(oidc_issuer, trusted, ci):
    bind(trusted, ci, {"sub": "repo:acme/payments:environment:prod"})
    response = exchange(Client(), oidc_issuer.github())
    assert response.status_code == 200, response.json()
    return response.json()["access_token"]


def test_ci_job_steps_up_its_owner_gets_jit_approved_and_the_same_token_is_allowed(ci_token, ci, owner, iam):
    agent = bearer(ci_token)
    first = agent.post("/api/v1/decisions/", MERGE_PROD, format="json")  # identity left out: the token's
    assert first.status_code == 200, first.content
    assert first.json()["decision"] == "step_up"
    assert first.json()["identity"] == ci.pk
    assert any(r.startswith("prod_merge_needs_human_in_chain") for r in first.json()["reasons"])

    ar = request_merge_access(owner, ci, **MERGE_PROD, reason="Release 4.2", task_ref="REL-42")
    jit.approve(iam, ar, "ok for the release")

    second = agent.post("/api/v1/decisions/", MERGE_PROD, format="json")
    assert second.json()["decision"] == "allow", second.json()
    record = DecisionRecord.objects.order_by("-pk").first()
    assert record.actor == f"workload:{ci.pk}:payments-deploy"
    assert record.on_behalf_of == ""  # nobody behind a CI job


def test_a_workload_token_asks_about_itself_only(ci_token, owner):
    other = IdentityFactory(owner=owner)
    response = bearer(ci_token).post(
        "/api/v1/decisions/", {**MERGE_PROD, "identity": other.pk}, format="json"
    )
    assert response.status_code == 403
    assert "own identity" in response.json()["detail"]


def test_a_workload_token_works_on_decisions_usage_and_access_requests_only(ci_token, ci):
    agent = bearer(ci_token)
    for path in ("/api/v1/identities/", "/api/v1/audit-events/", "/api/v1/findings/", "/api/v1/decisions/"):
        response = agent.get(path)
        assert response.status_code == 403, path
        assert "decisions/, usage-events/ and access-requests/" in response.json()["detail"]
    assert agent.post("/api/v1/trust-bindings/", {}, format="json").status_code == 403


def test_usage_reports_with_a_workload_token_record_the_chain(ci_token, ci):
    response = bearer(ci_token).post(
        "/api/v1/usage-events/",
        [
            {
                "at": "2026-12-06T09:00:00Z",
                "action": "read_code",
                "resource_kind": "repository",
                "resource_name": "acme/payments",
                "environment": "prod",
            }
        ],
        format="json",
    )
    assert response.status_code == 201, response.content
    event = UsageEvent.objects.get(identity=ci)
    assert event.reported_by == f"workload:{ci.pk}:payments-deploy"


def test_a_workload_asks_for_jit_itself_in_its_owners_name(ci_token, ci, owner, iam):
    response = bearer(ci_token).post(
        "/api/v1/access-requests/",
        {**MERGE_PROD, "duration_minutes": 30, "reason": "Release 4.3"},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["requester"] == owner.username
    assert response.json()["requested_via"] == f"workload:{ci.pk}:payments-deploy"


# ---------------------------------------------------------------- delegation


# The assistant's question: may it open a pull request on its own repository in dev?
OPEN_PR_DEV = {
    "action": "open_pr",
    "environment": "dev",
    "resource": {"kind": "repository", "name": "acme/assistant"},
}


def _assistant(trusted, oidc_issuer, owner_user, *, repo="acme/assistant"):
    assistant = IdentityFactory(
        owner=owner_user,
        name=f"assistant-{repo}",
        kind="ai_assistant",
        environments=["dev"],
        team=owner_user.team,
    )
    GrantFactory(identity=assistant, resource_name=repo, actions=["read_code", "open_pr"])
    bind(trusted, assistant, {"sub": f"repo:{repo}:environment:dev"})
    return assistant


def test_an_assistant_acting_for_its_owner_is_allowed_and_the_chain_is_recorded(trusted, oidc_issuer, owner):
    assistant = _assistant(trusted, oidc_issuer, owner)
    response = exchange_acting_for(
        oidc_issuer.github(repository="acme/assistant", environment="dev"), delegation_token(owner, assistant)
    )
    assert response.status_code == 200, response.json()
    token = response.json()["access_token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["act"] == {"sub": "user:owner"}  # RFC 8693: the party behind the subject
    assert [link["kind"] for link in claims["chain"]] == ["person", "identity"]
    answer = bearer(token).post("/api/v1/decisions/", OPEN_PR_DEV, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["decision"] == "allow", answer.json()
    record = DecisionRecord.objects.get()
    assert record.on_behalf_of == "owner"  # who intended; `actor` is who executed
    assert record.actor.startswith(f"workload:{assistant.pk}:")


def test_an_assistant_acting_for_a_person_is_denied_what_that_person_could_not_do(
    trusted, oidc_issuer, owner, owner2
):
    _assistant(trusted, oidc_issuer, owner)  # owner's assistant, owner's team
    response = exchange_acting_for(
        oidc_issuer.github(repository="acme/assistant", environment="dev"),
        delegation_token(owner2),  # another team's person
    )
    token = response.json()["access_token"]
    answer = bearer(token).post("/api/v1/decisions/", OPEN_PR_DEV, format="json")
    assert answer.json()["decision"] == "deny"
    assert "delegation_within_persons_reach" in answer.json()["policies"]


def test_a_delegation_for_another_identity_is_refused(trusted, oidc_issuer, owner):
    _assistant(trusted, oidc_issuer, owner)
    elsewhere = IdentityFactory(owner=owner)
    response = exchange_acting_for(
        oidc_issuer.github(repository="acme/assistant", environment="dev"), delegation_token(owner, elsewhere)
    )
    assert response.status_code == 400 and "another identity" in response.json()["error_description"]


def test_an_api_token_cannot_get_a_delegation_token(owner):
    from inventory.tokens import issue_token

    _row, value = issue_token(owner, owner, scope="write")
    response = bearer(value).post("/api/v1/token/delegation/", {}, format="json")
    assert response.status_code in (401, 403)


def test_a_sub_agent_inherits_at_most_its_parents_scope(trusted, oidc_issuer, owner):
    planner = _assistant(trusted, oidc_issuer, owner, repo="acme/planner")
    coder = _assistant(trusted, oidc_issuer, owner, repo="acme/coder")
    GrantFactory(identity=planner, resource_name="acme/shared", actions=["read_code"])
    GrantFactory(identity=coder, resource_name="acme/shared", actions=["read_code"])
    child = sub_agent_exchange(oidc_issuer, "acme/planner", "acme/coder")
    assert child.status_code == 200, child.json()
    claims = jwt.decode(child.json()["access_token"], options={"verify_signature": False})
    assert claims["act"] == {"sub": f"identity:{planner.pk}"}
    agent = bearer(child.json()["access_token"])
    shared = {
        "action": "read_code",
        "environment": "dev",
        "resource": {"kind": "repository", "name": "acme/shared"},
    }
    own = {
        "action": "read_code",
        "environment": "dev",
        "resource": {"kind": "repository", "name": "acme/coder"},
    }
    assert agent.post("/api/v1/decisions/", shared, format="json").json()["decision"] == "allow"
    beyond = agent.post("/api/v1/decisions/", own, format="json").json()
    assert beyond["decision"] == "deny" and "subagent_within_parent_scope" in beyond["policies"]
    assert IssuedToken.objects.get(jti=claims["jti"]).parent.identity_id == planner.pk


# ---------------------------------------------------------------- drift


def _introspect(token, user):
    client = Client()
    client.force_login(user)
    return client.post("/api/v1/token/introspect/", {"token": token}).json()


def test_suspension_revokes_the_token_the_next_decision_is_deny_and_a_signed_set_arrives(
    ci_token, ci, iam, security, receiver, django_capture_on_commit_callbacks
):
    services.add_receiver(security, {"name": "gateway", "endpoint": receiver.endpoint, "audience": "gateway"})
    assert _introspect(ci_token, iam)["active"] is True
    with django_capture_on_commit_callbacks(execute=True):
        inventory_services.suspend(iam, ci, reason="exfiltration suspected")
    answer = bearer(ci_token).post("/api/v1/decisions/", MERGE_PROD, format="json")
    assert answer.status_code == 200
    assert answer.json()["decision"] == "deny"
    assert "revoked" in " ".join(answer.json()["reasons"])
    assert _introspect(ci_token, iam) == {"active": False}
    # Everywhere else the revoked token is simply refused.
    assert (
        bearer(ci_token)
        .post("/api/v1/usage-events/", [{"at": "2026-12-06T09:00:00Z"}], format="json")
        .status_code
        == 401
    )

    assert len(receiver.requests) == 1
    pushed = receiver.requests[0]
    assert pushed["content_type"] == "application/secevent+jwt"
    header = jwt.get_unverified_header(pushed["body"])
    assert header["typ"] == "secevent+jwt"
    jwks = Client().get("/.well-known/jwks.json").json()
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == header["kid"]))
    event = jwt.decode(pushed["body"], key.key, algorithms=["ES256"], audience="gateway")
    revoked = event["events"]["https://schemas.openid.net/secevent/caep/event-type/session-revoked"]
    assert event["sub_id"] == {"format": "opaque", "id": f"identity:{ci.pk}"}
    assert revoked["reason_admin"]["en"] == "exfiltration suspected"
    assert SetDelivery.objects.get().state == "delivered"
    assert AuditEvent.objects.filter(verb="workload.sessions_ended", subject_id=str(ci.pk)).exists()


def test_ending_jit_early_revokes_the_session(ci_token, ci, owner, iam, django_capture_on_commit_callbacks):
    ar = jit.request_access(owner, {"identity": ci.pk, **MERGE_PROD, "duration_minutes": 30, "reason": "r"})
    ar = jit.approve(iam, ar, "ok")
    assert (
        bearer(ci_token).post("/api/v1/decisions/", MERGE_PROD, format="json").json()["decision"] == "allow"
    )
    jit.end_access(owner, ar, "done")
    assert bearer(ci_token).post("/api/v1/decisions/", MERGE_PROD, format="json").json()["decision"] == "deny"


def test_a_revoked_binding_revokes_its_tokens_with_a_credential_change_event(
    ci_token, ci, iam, security, receiver, django_capture_on_commit_callbacks
):
    services.add_receiver(security, {"name": "gateway", "endpoint": receiver.endpoint})
    binding = ci.trust_bindings.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_binding(iam, binding.pk, "repository moved")
    assert _introspect(ci_token, iam) == {"active": False}
    body = jwt.decode(receiver.requests[0]["body"], options={"verify_signature": False})
    assert set(body["events"]) == {
        "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
        "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    }


def test_the_sweep_finding_out_of_scope_use_ends_the_session(ci_token, ci, iam):
    from governance.findings.sweep import run_sweep

    bearer(ci_token).post(
        "/api/v1/usage-events/",
        [
            {
                "at": "2026-12-06T09:00:00Z",
                "action": "deploy",
                "resource_kind": "cloud_account",
                "resource_name": "prod-billing",
                "environment": "prod",
            }
        ],
        format="json",
    )
    run_sweep()
    assert ci.findings.filter(rule="out_of_scope_use").exists()
    assert _introspect(ci_token, iam) == {"active": False}


def test_a_receiver_that_fails_is_retried_until_it_acknowledges(
    ci_token, ci, iam, security, receiver, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from workload.sets import deliver_due

    services.add_receiver(security, {"name": "gateway", "endpoint": receiver.endpoint})
    receiver.fail_next = 1
    with django_capture_on_commit_callbacks(execute=True):
        inventory_services.suspend(iam, ci, reason="drift")
    delivery = SetDelivery.objects.get()
    assert delivery.state == "pending" and delivery.attempts == 1 and "HTTP 400" in delivery.last_error
    assert deliver_due()["delivered"] == 0  # not due yet: backoff
    assert deliver_due(timezone.now() + timedelta(minutes=5))["delivered"] == 1
    delivery.refresh_from_db()
    assert delivery.state == "delivered" and len(receiver.requests) == 2
    assert json.loads(json.dumps(delivery.event_types))  # recorded which events it carried
