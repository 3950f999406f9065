"""Each default policy's allow and deny cases: the shipped test cases, then the same rules on live data."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.decisions import services
from governance.policy import cedar
from inventory.models import Grant, Identity
from tests.decisions.conftest import question
from tests.factories import GrantFactory, IdentityFactory

CASES = cedar.default_test_cases()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_default_policy_case(case):
    compiled = cedar.compile_policy_set(0, cedar.default_policy_text(), cedar.default_schema_text())
    verdict = cedar.run_case(compiled, case["request"], timezone.now())
    assert verdict.decision == case["expected"], verdict.reasons


def test_every_default_policy_has_an_allowing_and_a_denying_case():
    ids = {line.split('"')[1] for line in cedar.default_policy_text().splitlines() if line.startswith("@id(")}
    for policy_id in ids:
        outcomes = {c["expected"] for c in CASES if c["name"].startswith(f"{policy_id}:")}
        assert "allow" in outcomes and outcomes & {"deny", "step_up"}, policy_id


def ask(identity, **kw):
    return services.parse(question(identity, **kw))[0]


def decide(actor, identity, **kw):
    return services.decide(actor, ask(identity, **kw))[0].verdict


pytestmark = pytest.mark.django_db


def test_a_standing_glob_grant_allows_and_names_the_policy_and_grant(agent, owner):
    verdict = decide(owner, agent, action="read_code", name="platform/api")
    assert verdict.decision == "allow"
    assert verdict.policies == ["in_scope"]
    grant = agent.grants.get()
    assert verdict.grants == [str(grant.pk)]
    assert any("platform/*" in r for r in verdict.reasons)


def test_out_of_scope_is_denied_and_flagged(agent, owner):
    verdict = decide(owner, agent, action="write_code", name="platform/api")
    assert verdict.decision == "deny" and verdict.out_of_scope
    assert any(r.startswith("Out of scope") for r in verdict.reasons)


def test_an_environment_the_identity_is_not_approved_for_is_denied(agent, owner):
    verdict = decide(owner, agent, action="read_code", environment="staging")
    assert verdict.decision == "deny" and verdict.policies == ["environment_not_approved"]


def test_an_ai_assistant_with_standing_secret_access_in_prod_must_step_up(owner):
    assistant = IdentityFactory(owner=owner, kind=Identity.Kind.AI_ASSISTANT, environments=["prod"])
    GrantFactory(
        identity=assistant, resource_kind="secret_store", resource_name="vault/*", actions=["read_secrets"]
    )
    verdict = decide(
        owner, assistant, action="read_secrets", kind="secret_store", name="vault/app", environment="prod"
    )
    assert verdict.decision == "step_up" and verdict.policies == ["assistant_prod_secrets"]


def test_an_expired_grant_counts_as_absent(agent, owner):
    agent.grants.update(expires_at=timezone.now() - timedelta(seconds=1))
    verdict = decide(owner, agent, action="read_code")
    assert verdict.decision == "deny" and verdict.out_of_scope


def test_an_orphaned_identity_may_read_but_not_merge(agent, owner):
    agent.owner.is_active = False
    agent.owner.save(update_fields=["is_active"])
    from governance.actors import system

    actor = system("gateway")
    assert decide(actor, agent, action="read_code").decision == "allow"
    verdict = decide(actor, agent, action="merge", environment="dev")
    assert verdict.decision == "deny" and verdict.policies == ["orphaned_no_privileged"]


def test_a_live_jit_grant_allows_merge_in_prod_and_is_cited_first(agent, owner):
    jit = GrantFactory(
        identity=agent,
        resource_name="platform/api",
        actions=["merge"],
        origin=Grant.Origin.JIT,
        expires_at=timezone.now() + timedelta(minutes=20),
    )
    verdict = decide(owner, agent, action="merge", environment="prod")
    assert verdict.decision == "allow" and verdict.jit
    assert verdict.grants[0] == str(jit.pk)
    assert verdict.reasons[1].startswith(f"Just-in-time grant #{jit.pk}")


def test_an_active_exception_permits_what_a_rule_forbids_and_is_cited(agent, owner, monkeypatch):
    from governance.decisions import subjects

    monkeypatch.setattr(
        subjects,
        "active_exceptions",
        lambda ids: {
            agent.pk: [cedar.ExceptionFact(id="7", rule="prod_privileged_needs_jit", expires_at=None)]
        },
    )
    verdict = decide(owner, agent, action="merge", environment="prod")
    assert verdict.decision == "allow"
    assert verdict.exceptions == ["7"]
    assert any(r.startswith("Exception #7") and "prod_privileged_needs_jit" in r for r in verdict.reasons)
