"""Policy changes take two people (issue 18 item 1): the governance policy document through the API
and the pages, Cedar activation and rollback, and automatic approval capped at medium."""

import copy

import pytest
from django.test import Client

from approvals.models import IntakeRequest
from approvals.routing import auto_approval_rule
from governance.actors import Actor, system
from governance.decisions import services as decisions
from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from governance.people.models import Role
from governance.policy import cedar, cedar_sets
from governance.policy.models import CedarActivation, CedarPolicySet, PolicyVersion
from governance.policy.services import (
    DEFAULT_POLICY,
    Policy,
    approve_policy,
    current_policy,
    install_policy,
    propose_policy,
    reject_policy,
)
from tests.approvals.conftest import answers
from tests.decisions.conftest import question
from tests.factories import GrantFactory, IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db

EVERY_ENVIRONMENT = ["sandbox", "dev", "staging", "prod"]
# The document the hostile tester sent: everything approved automatically, up to critical, anywhere.
ATTACK = {
    **copy.deepcopy(DEFAULT_POLICY),
    "auto_approve": {
        "enabled": True,
        "max_tier": "critical",
        "environments": EVERY_ENVIRONMENT,
        "read_only": False,
        "allowed_vendor_only": False,
    },
}
# The same, at the highest tier a document may name.


@pytest.fixture
def security2(db, team):
    return UserFactory(username="security2", roles=[Role.SECURITY], team=team)


def file_intake(requester, team, tier, **overrides):
    from approvals.services import intake as intake_services

    data = answers(tier, **overrides)
    data["team"] = team
    return intake_services.submit(requester, intake_services.create_draft(requester, data))


def critical_intake(requester, team):
    """The tester's intake: an autonomous agent reading and writing secrets in prod."""
    return file_intake(
        requester,
        team,
        "critical",
        kind="ai_agent",
        grants=[
            {
                "resource_kind": "secret_store",
                "resource_name": "prod/payments",
                "actions": ["read_secrets", "write_secrets"],
                "expires_at": None,
            }
        ],
    )


def auto_approved(intake) -> bool:
    return AuditEvent.objects.filter(
        verb="approval.auto_approved", subject_id=str(intake.approval_id)
    ).exists() or (intake.state == IntakeRequest.State.APPROVED)


# ---------------------------------------------------------------- the attack, as it was sent


def test_one_security_admin_cannot_switch_off_separation_of_duties(security, iam, team, api_as):
    api = api_as(security)
    before = api.get("/api/v1/policy/").json()

    proposed = api.put("/api/v1/policy/", {"document": ATTACK, "note": "speed things up"}, format="json")
    assert proposed.status_code == 202
    body = proposed.json()
    assert (body["state"], body["proposed_by"]) == ("proposed", "security")
    assert api.get("/api/v1/policy/").json() == before  # nothing in force changed

    # The same person files the critical intake, and a medium one in prod, while the proposal waits.
    critical = critical_intake(security, team)
    assert critical.risk_tier == "critical" and critical.state == IntakeRequest.State.SUBMITTED
    assert not auto_approved(critical)
    medium_prod = file_intake(security, team, "medium", environments=["prod"])
    assert medium_prod.risk_tier == "medium" and not auto_approved(medium_prod)

    approved = api_as(iam).post(f"/api/v1/policy/versions/{body['version']}/approve/", {"comment": "ok"})
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    assert api.get("/api/v1/policy/").json()["version"] == body["version"]

    # In force now (the document says critical), but critical still needs people: the cap is in code.
    assert api.get("/api/v1/policy/").json()["document"]["auto_approve"]["max_tier"] == "critical"
    again = critical_intake(security, team)
    assert again.state == IntakeRequest.State.SUBMITTED and not auto_approved(again)
    assert file_intake(security, team, "medium", environments=["prod"]).state == IntakeRequest.State.APPROVED


def test_a_stored_document_above_the_cap_still_never_auto_approves_high_or_critical(security, team):
    """A database from before the cap may hold such a document; routing caps it anyway."""
    PolicyVersion.objects.filter(state="active").update(state="superseded")
    PolicyVersion.objects.create(
        version=99, document=ATTACK, state="active", created_by="system:legacy", note="before the cap"
    )
    assert current_policy().get("auto_approve")["max_tier"] == "critical"
    for tier in ("high", "critical"):
        rule, why_not = auto_approval_rule(
            tier=tier, environments=["prod"], actions=["write_secrets"], vendor="Anthropic"
        )
        assert rule is None and f"Tier {tier} always needs people" in why_not[0]
    rule, _ = auto_approval_rule(tier="medium", environments=["prod"], actions=["merge"], vendor="x")
    assert rule and "tier ≤ medium" in rule
    assert not auto_approved(critical_intake(security, team))


def test_the_cap_holds_for_a_document_passed_in_directly():
    policy = Policy(ATTACK, 7)
    rule, why_not = auto_approval_rule(
        tier="critical", environments=["prod"], actions=["admin"], vendor="Anthropic", policy=policy
    )
    assert rule is None and "automatic approval stops at medium" in why_not[0]


# ---------------------------------------------------------------- proposing


def test_a_bad_document_is_refused_per_field_and_nothing_is_written(security, api_as):
    count, events = PolicyVersion.objects.count(), AuditEvent.objects.count()
    document = {
        **DEFAULT_POLICY,
        "tiers": {"low": {}},
        "auto_approve": {"max_tier": "highest", "enabled": "yes"},
    }
    response = api_as(security).put("/api/v1/policy/", {"document": document}, format="json")
    assert response.status_code == 400
    assert {"tiers", "auto_approve"} <= set(response.json())
    assert any("max_tier" in m for m in response.json()["auto_approve"])
    assert any("enabled" in m for m in response.json()["auto_approve"])
    assert (PolicyVersion.objects.count(), AuditEvent.objects.count()) == (count, events)


@pytest.mark.parametrize("who", ["iam", "auditor", "owner"])
def test_only_security_proposes(role_users, api_as, who):
    response = api_as(role_users[who]).put("/api/v1/policy/", {"document": DEFAULT_POLICY}, format="json")
    assert response.status_code == 403
    assert not PolicyVersion.objects.filter(state="proposed").exists()


def test_people_cannot_install_a_policy_directly_but_setup_can(security):
    with pytest.raises(NotAllowed):
        install_policy(security, DEFAULT_POLICY)
    installed = install_policy(system("seed_demo"), {**DEFAULT_POLICY, "min_owners": 2}, note="demo")
    assert installed.state == "active" and current_policy().get("min_owners") == 2
    assert AuditEvent.objects.filter(verb="policy.installed", actor="system:seed_demo").exists()


# ---------------------------------------------------------------- deciding


@pytest.mark.parametrize(
    "who, status",
    [("security", 403), ("security2", 200), ("iam", 200), ("auditor", 403), ("owner", 403)],
)
@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_who_may_decide_a_proposal(role_users, security2, api_as, who, status, decision):
    users = {**role_users, "security2": security2}
    proposal = propose_policy(role_users["security"], {**DEFAULT_POLICY, "min_owners": 2}, note="two owners")
    response = api_as(users[who]).post(
        f"/api/v1/policy/versions/{proposal.version}/{decision}/", {"comment": "seen"}, format="json"
    )
    assert response.status_code == status
    proposal.refresh_from_db()
    if status == 200:
        assert proposal.state == ("active" if decision == "approve" else "rejected")
        assert (proposal.decided_by, proposal.decision_comment) == (who, "seen")
        assert (current_policy().get("min_owners") == 2) == (decision == "approve")
    else:
        assert proposal.state == "proposed" and current_policy().get("min_owners") == 1
    if who == "security":
        assert "You proposed version" in response.json()["detail"]


def test_the_proposers_own_token_cannot_approve(security):
    proposal = propose_policy(security, {**DEFAULT_POLICY, "min_owners": 2})
    token = Actor(label="token:abc123", kind="token", user=security, on_behalf_of="security")
    with pytest.raises(NotAllowed):
        approve_policy(token, proposal)


def test_a_second_approval_is_a_conflict(security, iam, iam2, api_as):
    proposal = propose_policy(security, {**DEFAULT_POLICY, "min_owners": 2})
    assert api_as(iam).post(f"/api/v1/policy/versions/{proposal.version}/approve/").status_code == 200
    again = api_as(iam2).post(f"/api/v1/policy/versions/{proposal.version}/approve/")
    assert again.status_code == 409 and "active" in again.json()["detail"]
    assert api_as(iam2).post(f"/api/v1/policy/versions/{proposal.version}/reject/").status_code == 409
    assert AuditEvent.objects.filter(verb="policy.approved").count() == 1


def test_approving_the_version_in_force_is_a_conflict(iam, api_as):
    in_force = PolicyVersion.objects.get(state="active")
    assert api_as(iam).post(f"/api/v1/policy/versions/{in_force.version}/approve/").status_code == 409


def test_a_stale_proposal_cannot_be_approved(security, security2, iam):
    first = propose_policy(security, {**DEFAULT_POLICY, "min_owners": 2}, note="two owners")
    second = propose_policy(security2, {**DEFAULT_POLICY, "request_expiry_days": 7}, note="expire sooner")
    approve_policy(iam, first)
    with pytest.raises(IllegalTransition, match=f"Version {second.version} is stale"):
        approve_policy(iam, second)
    assert current_policy().version == first.version and current_policy().get("request_expiry_days") == 14
    reject_policy(iam, second, "stale; propose again")
    assert PolicyVersion.objects.get(pk=second.pk).state == "rejected"


def test_versions_are_listed_with_their_state_and_transitions_are_audited(security, iam, api_as):
    in_force = current_policy().version
    approved = propose_policy(security, {**DEFAULT_POLICY, "min_owners": 2}, note="a")
    approve_policy(iam, approved, "fine")
    rejected = propose_policy(security, {**DEFAULT_POLICY, "min_owners": 3}, note="b")
    reject_policy(iam, rejected, "too many")
    pending = propose_policy(
        security, {**DEFAULT_POLICY, "min_owners": 2, "allowed_models": ["claude-sonnet"]}, note="c"
    )

    listing = api_as(iam).get("/api/v1/policy/versions/").json()
    states = {row["version"]: row["state"] for row in listing["results"]}
    assert states == {
        in_force: "superseded",
        approved.version: "active",
        rejected.version: "rejected",
        pending.version: "proposed",
    }
    only = api_as(iam).get("/api/v1/policy/versions/", {"state": "proposed"}).json()["results"]
    assert [row["version"] for row in only] == [pending.version]
    detail = api_as(iam).get(f"/api/v1/policy/versions/{pending.version}/").json()
    assert detail["changes"] == [
        {
            "path": "allowed_models",
            "before": [],
            "after": ["claude-sonnet"],
            "added": ["claude-sonnet"],
            "removed": [],
        }
    ]
    events = list(
        AuditEvent.objects.filter(verb__startswith="policy.").order_by("seq").values_list("verb", "actor")
    )
    assert events == [
        ("policy.proposed", "security"),
        ("policy.approved", "iam"),
        ("policy.proposed", "security"),
        ("policy.rejected", "iam"),
        ("policy.proposed", "security"),
    ]
    assert AuditEvent.objects.get(verb="policy.approved").after["proposed_by"] == "security"


# ---------------------------------------------------------------- the pages


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_proposer_sees_waiting_and_the_second_person_sees_the_diff(security, iam, auditor):
    proposal = propose_policy(security, {**DEFAULT_POLICY, "min_owners": 2}, note="two owners")
    mine = browser(security).get("/policy/").content.decode()
    assert 'data-testid="waiting-second-person"' in mine and 'data-testid="decide-proposal"' not in mine
    theirs = browser(iam).get(f"/policy/document/{proposal.version}/").content.decode()
    assert 'data-testid="decide-proposal"' in theirs and "min_owners" in theirs
    assert 'data-testid="decide-proposal"' not in browser(auditor).get("/policy/").content.decode()
    own = browser(security).post(f"/policy/document/{proposal.version}/approve/", {"comment": "me"})
    assert own.status_code == 403 and "You proposed version" in own.content.decode()
    assert browser(auditor).post(f"/policy/document/{proposal.version}/approve/").status_code == 403
    assert (
        browser(iam).post(f"/policy/document/{proposal.version}/reject/", {"comment": "no"}).status_code
        == 302
    )
    assert PolicyVersion.objects.get(pk=proposal.pk).state == "rejected"
    assert browser(iam).post(f"/policy/document/{proposal.version}/approve/").status_code == 409


def test_a_document_above_the_cap_is_only_proposed_from_the_page(security, team):
    import json

    client = browser(security)
    response = client.post("/policy/document/", {"document": json.dumps(ATTACK), "note": "x"})
    assert response.status_code == 302
    assert PolicyVersion.objects.filter(state="proposed").count() == 1
    assert current_policy().get("auto_approve", {}).get("max_tier") != "critical"
    assert not auto_approved(critical_intake(security, team))


# ---------------------------------------------------------------- Cedar activation and rollback

REWORDED = cedar.default_policy_text().replace(
    "merge, deploy and write_secrets in prod need a live just-in-time grant.",
    "Production merges, deploys and secret writes need a live just-in-time grant.",
)


def save(security, text=REWORDED, note="clearer wording") -> CedarPolicySet:
    return cedar_sets.save_version(security, text=text, schema=cedar.default_schema_text(), note=note)


def active_version() -> int:
    return CedarPolicySet.objects.get(is_active=True).version


def test_cedar_activation_waits_for_a_second_person(security, iam, owner):
    agent = IdentityFactory(owner=owner, environments=["prod"])
    GrantFactory(identity=agent, resource_name="platform/*", actions=["read_code"])
    saved = save(security)
    cedar_sets.propose_activation(security, saved, reason="wording")
    ask = decisions.parse(question(agent, environment="prod"))[0]
    assert decisions.decide(owner, ask)[0].verdict.policy_version == 1
    with pytest.raises(NotAllowed, match="You proposed activating version 2"):
        cedar_sets.approve_activation(security, saved)
    with pytest.raises(IllegalTransition, match="already waiting"):
        cedar_sets.propose_activation(security, saved)
    cedar_sets.approve_activation(iam, saved, comment="reads better")
    assert active_version() == 2
    assert decisions.decide(owner, ask)[0].verdict.policy_version == 2
    with pytest.raises(IllegalTransition, match="No activation of version 2 is waiting"):
        cedar_sets.approve_activation(iam, saved)
    proposal = CedarActivation.objects.get()
    assert (proposal.state, proposal.proposed_by, proposal.decided_by) == ("approved", "security", "iam")


@pytest.mark.parametrize("who", ["auditor", "owner"])
def test_auditors_and_owners_cannot_decide_an_activation(role_users, security, who):
    saved = save(security)
    cedar_sets.propose_activation(security, saved)
    for decide in (cedar_sets.approve_activation, cedar_sets.reject_activation):
        with pytest.raises(NotAllowed):
            decide(role_users[who], saved)
    assert active_version() == 1


def test_a_rollback_needs_a_second_person_too_and_a_stale_proposal_is_refused(security, security2, iam):
    v2, v3 = save(security), save(security, note="the same, again")
    cedar_sets.propose_activation(security, v2)
    cedar_sets.propose_activation(security, v3)
    cedar_sets.approve_activation(security2, v2)
    with pytest.raises(IllegalTransition, match="stale"):
        cedar_sets.approve_activation(iam, v3)
    cedar_sets.reject_activation(iam, v3, comment="stale")

    v1 = CedarPolicySet.objects.get(version=1)
    rollback = cedar_sets.propose_activation(security2, v1, reason="back to the shipped set")
    assert rollback.is_rollback and active_version() == 2
    cedar_sets.approve_activation(security, v1)
    assert active_version() == 1
    verbs = list(AuditEvent.objects.filter(verb__startswith="cedar_policy.").values_list("verb", flat=True))
    assert "cedar_policy.activation_rejected" in verbs and "cedar_policy.rolled_back" in verbs


def test_a_rejected_activation_leaves_the_active_version(security, iam):
    saved = save(security)
    cedar_sets.propose_activation(security, saved)
    cedar_sets.reject_activation(iam, saved, comment="not now")
    assert active_version() == 1
    assert CedarActivation.objects.get().state == "rejected"
    cedar_sets.propose_activation(security, saved)  # may be proposed again


def test_people_cannot_activate_directly(security):
    with pytest.raises(NotAllowed, match="two people"):
        cedar_sets.activate(security, save(security))
    cedar_sets.activate(system("migration"), CedarPolicySet.objects.get(version=2))
    assert active_version() == 2


def test_the_activation_pages_follow_the_same_rule(security, iam, auditor):
    save(security)
    proposed = browser(security).post("/policy/versions/2/activate/", {"reason": "wording"})
    assert proposed.status_code == 302 and proposed["Location"] == "/policy/versions/2/"
    mine = browser(security).get("/policy/versions/2/").content.decode()
    assert 'data-testid="waiting-second-person"' in mine and 'data-testid="decide-activation"' not in mine
    assert 'data-testid="decide-activation"' in browser(iam).get("/policy/versions/2/").content.decode()
    assert 'data-testid="pending-activations"' in browser(auditor).get("/policy/").content.decode()
    own = browser(security).post("/policy/versions/2/activation/approve/")
    assert own.status_code == 403 and "You proposed activating version 2" in own.content.decode()
    assert browser(auditor).post("/policy/versions/2/activation/approve/").status_code == 403
    assert browser(iam).post("/policy/versions/2/activation/approve/", {"comment": "ok"}).status_code == 302
    assert active_version() == 2
    assert browser(iam).post("/policy/versions/2/activation/approve/").status_code == 409
