"""Just-in-time access: request, route, approve, the window, end early, expire, who may."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.selectors import inbox
from governance.decisions import jit, services
from governance.decisions.models import AccessRequest
from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from inventory import services as inventory
from inventory.models import Grant, Identity
from tests.decisions.conftest import question
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


def body(identity, **overrides):
    return {
        "identity": identity.pk,
        "action": "merge",
        "resource": {"kind": "repository", "name": "platform/api"},
        "environment": "prod",
        "duration_minutes": 30,
        "reason": "release 1.2",
        "task_ref": "JIRA-9",
        **overrides,
    }


def verdict(actor, identity, **kw):
    return services.decide(actor, services.parse(question(identity, **kw))[0], record=False)[0].verdict


def test_a_request_goes_to_iam_with_a_short_deadline_and_shows_in_the_inbox(agent, owner, iam):
    ar = jit.request_access(owner, body(agent))
    assert ar.state == "pending" and ar.grant is None
    assert ar.deadline - ar.created_at == timedelta(minutes=60)
    approval = jit.approval_of(ar)
    assert approval.kind == "jit" and [s.role for s in approval.current_steps()] == ["iam"]
    assert approval.due_at == ar.deadline
    assert approval.get_absolute_url() == f"/access-requests/{ar.pk}/"
    assert "merge on repository platform/api (prod) for release-agent" in approval.title
    assert list(inbox(iam)) == [approval]


def test_a_critical_identity_also_needs_security(agent, owner):
    Identity.objects.filter(pk=agent.pk).update(risk_tier="critical")
    ar = jit.request_access(owner, body(agent))
    assert [s.role for s in jit.approval_of(ar).current_steps()] == ["iam", "security"]


def test_the_grant_allows_only_inside_its_window(agent, owner, iam):
    ar = jit.request_access(owner, body(agent))
    assert verdict(owner, agent, action="merge", environment="prod").decision == "step_up"
    ar = jit.approve(iam, ar, "go")
    grant = ar.grant
    assert (grant.origin, grant.actions, grant.resource_name) == ("jit", ["merge"], "platform/api")
    assert grant.expires_at == ar.expires_at == ar.decided_at + timedelta(minutes=30)
    assert verdict(owner, agent, action="merge", environment="prod").decision == "allow"
    # exactly that action and resource
    assert verdict(owner, agent, action="deploy", environment="prod").decision == "step_up"
    assert (
        verdict(owner, agent, action="merge", name="platform/web", environment="prod").decision == "step_up"
    )
    with time_machine.travel(grant.expires_at + timedelta(seconds=1)):
        assert verdict(owner, agent, action="merge", environment="prod").decision == "step_up"
        result = jit.expire_stale_access_requests()
        assert result == {"expired_undecided": 0, "closed_windows": 1}
    ar.refresh_from_db()
    grant.refresh_from_db()
    assert ar.state == "expired" and grant.ended_at is not None
    assert AuditEvent.objects.filter(verb="access_request.window_closed").count() == 1


def test_the_requester_ends_access_early(agent, owner, iam):
    ar = jit.approve(iam, jit.request_access(owner, body(agent)), "")
    ar = jit.end_access(owner, ar, "merged")
    assert ar.state == "ended" and ar.grant.ended_at is not None
    assert verdict(owner, agent, action="merge", environment="prod").decision == "step_up"
    with pytest.raises(IllegalTransition):
        jit.end_access(owner, ar, "again")


def test_withdrawing_a_pending_request_ends_it(agent, owner):
    ar = jit.end_access(owner, jit.request_access(owner, body(agent)), "not needed")
    assert ar.state == "ended" and jit.approval_of(ar).state == "withdrawn"


def test_undecided_requests_expire_after_the_deadline(agent, owner):
    ar = jit.request_access(owner, body(agent))
    assert jit.expire_stale_access_requests(ar.deadline - timedelta(seconds=1))["expired_undecided"] == 0
    assert jit.expire_stale_access_requests(ar.deadline)["expired_undecided"] == 1
    ar.refresh_from_db()
    assert ar.state == "expired" and jit.approval_of(ar).state == "withdrawn"
    assert jit.expire_stale_access_requests(ar.deadline)["expired_undecided"] == 0


def test_rejected_requests_grant_nothing(agent, owner, iam):
    ar = jit.reject(iam, jit.request_access(owner, body(agent)), "not during the freeze")
    assert ar.state == "rejected" and ar.grant is None
    assert not Grant.objects.filter(origin="jit").exists()


def test_what_policy_already_allows_is_auto_approved_as_system_policy(agent, owner):
    ar = jit.request_access(owner, body(agent, action="read_code", environment="dev"))
    assert ar.state == "approved" and ar.decided_by == "system:policy"
    step = jit.approval_of(ar).steps.get()
    assert step.decided_by_system == "system:policy" and "already allows" in step.rule


def test_a_request_policy_would_deny_anyway_is_refused(agent, owner, iam):
    inventory.suspend(iam, agent, reason="incident")
    with pytest.raises(Exception) as refused:
        jit.request_access(owner, body(agent))
    assert "even with just-in-time access" in refused.value.message_dict["action"][0]
    assert not AccessRequest.objects.exists()


def test_owners_cannot_approve_their_own_identitys_access(agent, owner, iam2, iam):
    ar = jit.request_access(iam, body(agent))  # IAM asks; the owner and backup owner are parties
    with pytest.raises(NotAllowed):
        jit.approve(iam2, ar, "")  # iam2 is the backup owner
    with pytest.raises(NotAllowed):
        jit.approve(iam, ar, "")  # the requester


@pytest.mark.parametrize("who", ["owner2", "auditor", "outsider"])
def test_only_owners_iam_and_security_may_request(agent, role_users, who):
    with pytest.raises(NotAllowed):
        jit.request_access(role_users[who], body(agent))


def test_bad_input_is_refused_per_field_without_writes(agent, owner):
    with pytest.raises(Exception) as refused:
        jit.request_access(
            owner,
            body(
                agent,
                duration_minutes=481,
                action="fly",
                resource={"kind": "repository", "name": "platform/*"},
                reason="",
            ),
        )
    assert set(refused.value.message_dict) == {"duration_minutes", "action", "resource", "reason"}
    assert not AccessRequest.objects.exists()


def test_the_api_creates_approves_and_ends(agent, owner, iam, api_as):
    created = api_as(owner).post("/api/v1/access-requests/", body(agent), format="json")
    assert created.status_code == 201
    rid = created.json()["id"]
    assert api_as(owner).post(f"/api/v1/access-requests/{rid}/approve/", {}, format="json").status_code == 403
    assert (
        api_as(iam).post(f"/api/v1/access-requests/{rid}/approve/", {}, format="json").json()["state"]
        == "approved"
    )
    assert api_as(iam).post(f"/api/v1/access-requests/{rid}/approve/", {}, format="json").status_code == 409
    ended = api_as(owner).post(f"/api/v1/access-requests/{rid}/end/", {"comment": "done"}, format="json")
    assert ended.json()["state"] == "ended"
    listed = api_as(owner).get("/api/v1/access-requests/", {"state": "ended"}).json()
    assert [r["id"] for r in listed["results"]] == [rid]
    assert api_as(IdentityFactory().owner).get(f"/api/v1/access-requests/{rid}/").status_code == 404


def test_an_api_400_for_bad_access_requests(agent, owner, api_as):
    response = api_as(owner).post("/api/v1/access-requests/", body(agent, duration_minutes=0), format="json")
    assert response.status_code == 400 and "duration_minutes" in response.json()


def test_an_expired_approval_cannot_be_approved_later(agent, owner, iam):
    ar = jit.request_access(owner, body(agent))
    jit.expire_stale_access_requests(ar.deadline + timedelta(minutes=1))
    with pytest.raises(IllegalTransition):
        jit.approve(iam, ar, "")
    assert ApprovalRequest.objects.get().state == "withdrawn"


def test_attestations_verify_with_the_published_keys_and_survive_rotation(agent, owner, iam, api_as, client):
    from governance.actors import system
    from governance.decisions import attestation

    jit.approve(iam, jit.request_access(owner, body(agent)), "")
    answer = api_as(owner).post(
        "/api/v1/decisions/", question(agent, action="merge", environment="prod"), format="json"
    )
    token = answer.json()["attestation"]
    jwks = client.get("/.well-known/jwks.json")
    assert jwks.status_code == 200 and jwks["Content-Type"] == "application/json"
    claims = attestation.verify(token, jwks.json())
    assert claims["sub"] == f"identity:{agent.pk}" and claims["action"] == "merge"
    assert claims["exp"] - claims["iat"] <= attestation.ATTESTATION_SECONDS
    attestation.rotate(system("test"), reason="test")
    published = client.get("/.well-known/jwks.json").json()["keys"]
    keys = [k for k in published if k["kid"].startswith("attestation-")]  # other purposes' keys too
    assert len(keys) == 2 and published[0] == keys[0]
    assert attestation.verify(token, {"keys": keys})["jti"] == claims["jti"]
    fresh = api_as(owner).post(
        "/api/v1/decisions/", question(agent, action="merge", environment="prod"), format="json"
    )
    import jwt

    assert (
        jwt.get_unverified_header(fresh.json()["attestation"])["kid"] == keys[0]["kid"] != claims.get("kid")
    )
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        later = client.get("/.well-known/jwks.json").json()["keys"]
        assert [k["kid"] for k in later if k["kid"].startswith("attestation-")] == [keys[0]["kid"]]
