"""Versioned Cedar policy sets: save, validate, test, activate, roll back — and who may.

Activation takes two people (Security proposes, another person approves); the two-person rule's own
tests are in tests/governance/test_policy_two_person.py."""

import pytest

from governance.decisions import services
from governance.errors import IllegalTransition, NotAllowed
from governance.models import AuditEvent
from governance.policy import cedar, cedar_sets
from governance.policy.models import CedarPolicySet, PolicyTestCase
from tests.decisions.conftest import question

pytestmark = pytest.mark.django_db

# Drops the JIT requirement for deploy: merge and write_secrets still need it.
NO_DEPLOY_JIT = cedar.default_policy_text().replace(
    'Steward::Action::"merge", Steward::Action::"deploy", Steward::Action::"write_secrets"',
    'Steward::Action::"merge", Steward::Action::"write_secrets"',
)
DEPLOY_CASE = "prod_privileged_needs_jit: deploy in prod"


def test_the_default_set_is_loaded_active_with_its_test_cases():
    active = CedarPolicySet.objects.get(is_active=True)
    assert active.version == 1 and active.is_valid
    assert PolicyTestCase.objects.count() == len(cedar.default_test_cases())
    assert cedar_sets.run_test_cases(cedar_sets.active_compiled())["failed"] == 0


def test_security_saves_a_version_that_is_validated_and_tested_but_not_yet_active(security):
    saved = cedar_sets.save_version(
        security, text=NO_DEPLOY_JIT, schema=cedar.default_schema_text(), note="x"
    )
    assert saved.version == 2 and not saved.is_active and saved.is_valid
    assert [t["name"] for t in saved.failing_tests] == [
        "prod_privileged_needs_jit: deploy in prod with a standing grant steps up"
    ]
    assert AuditEvent.objects.filter(verb="cedar_policy.saved").exists()


def test_a_version_that_fails_a_test_case_cannot_be_activated(security):
    saved = cedar_sets.save_version(
        security, text=NO_DEPLOY_JIT, schema=cedar.default_schema_text(), note="x"
    )
    with pytest.raises(Exception) as refused:
        cedar_sets.propose_activation(security, saved)
    problems = refused.value.message_dict["activation"]
    assert problems == [
        "Test case 'prod_privileged_needs_jit: deploy in prod with a standing grant steps up' "
        "expects step_up but got allow."
    ]
    assert CedarPolicySet.objects.get(is_active=True).version == 1


def test_an_invalid_version_is_kept_with_its_errors_and_cannot_be_activated(security):
    broken = cedar.default_policy_text().replace("principal.owner_active", "principal.owner_is_here")
    saved = cedar_sets.save_version(security, text=broken, schema=cedar.default_schema_text(), note="typo")
    assert saved.validation_errors and "orphaned_no_privileged" in saved.validation_errors[0]
    with pytest.raises(Exception) as refused:
        cedar_sets.propose_activation(security, saved)
    assert refused.value.message_dict["activation"][0].startswith("Invalid: orphaned_no_privileged")


def test_policies_without_an_id_are_refused_by_validation(security):
    text = cedar.default_policy_text() + "\npermit (principal, action, resource);\n"
    assert any("@id" in e for e in cedar.validate(text, cedar.default_schema_text()))


def test_activation_changes_decisions_and_rollback_is_an_audited_activation(security, iam, agent, owner):
    ask = services.parse(question(agent, action="deploy", name="platform/api", environment="prod"))[0]
    cedar_sets.add_test_case(
        security,
        name="deploy without JIT is now fine",
        request=next(c["request"] for c in cedar.default_test_cases() if c["name"].startswith(DEPLOY_CASE)),
        expected="allow",
    )
    PolicyTestCase.objects.filter(name__startswith=DEPLOY_CASE).delete()
    saved = cedar_sets.save_version(
        security, text=NO_DEPLOY_JIT, schema=cedar.default_schema_text(), note="x"
    )
    agent.grants.create(resource_kind="repository", resource_name="platform/api", actions=["deploy"])
    assert services.decide(owner, ask)[0].verdict.decision == "step_up"

    cedar_sets.propose_activation(security, saved)
    assert services.decide(owner, ask)[0].verdict.decision == "step_up"  # not until a second person
    cedar_sets.approve_activation(iam, saved)
    answer = services.decide(owner, ask)[0].verdict
    assert (answer.decision, answer.policy_version) == ("allow", 2)

    with pytest.raises(
        Exception, match="deploy without JIT is now fine"
    ):  # the saved cases guard rollbacks too
        cedar_sets.propose_activation(security, CedarPolicySet.objects.get(version=1))
    cedar_sets.delete_test_case(security, PolicyTestCase.objects.get(name="deploy without JIT is now fine"))
    v1 = CedarPolicySet.objects.get(version=1)
    cedar_sets.propose_activation(security, v1, reason="deploys need JIT again")
    cedar_sets.approve_activation(iam, v1, comment="agreed")
    answer = services.decide(owner, ask)[0].verdict
    assert (answer.decision, answer.policy_version) == ("step_up", 1)
    events = list(
        AuditEvent.objects.filter(verb__startswith="cedar_policy.")
        .order_by("seq")
        .values_list("verb", "actor")
    )
    assert events[-5:] == [
        ("cedar_policy.activation_proposed", "security"),
        ("cedar_policy.activated", "iam"),
        ("cedar_policy.test_removed", "security"),
        ("cedar_policy.activation_proposed", "security"),
        ("cedar_policy.rolled_back", "iam"),
    ]


def test_activating_the_active_version_is_a_conflict(security):
    with pytest.raises(IllegalTransition):
        cedar_sets.propose_activation(security, CedarPolicySet.objects.get(version=1))


@pytest.mark.parametrize("who", ["auditor", "iam", "owner"])
def test_only_security_changes_policies_and_test_cases(role_users, who):
    user = role_users[who]
    with pytest.raises(NotAllowed):
        cedar_sets.save_version(user, text=NO_DEPLOY_JIT, schema=cedar.default_schema_text(), note="x")
    with pytest.raises(NotAllowed):
        cedar_sets.propose_activation(user, CedarPolicySet.objects.get(version=1))
    with pytest.raises(NotAllowed):
        cedar_sets.add_test_case(user, name="n", request={}, expected="allow")


def test_bad_test_cases_are_refused_per_field(security):
    with pytest.raises(Exception) as refused:
        cedar_sets.add_test_case(security, name="", request="{not json", expected="maybe")
    assert set(refused.value.message_dict) == {"name", "request", "expected"}


def test_the_diff_shows_added_and_removed_lines(security):
    saved = cedar_sets.save_version(
        security, text=NO_DEPLOY_JIT, schema=cedar.default_schema_text(), note="x"
    )
    lines = cedar_sets.diff_lines(CedarPolicySet.objects.get(version=1), saved)
    assert (
        "diff-del",
        '-  action in [Steward::Action::"merge", Steward::Action::"deploy", '
        'Steward::Action::"write_secrets"],',
    ) in lines
    assert any(css == "diff-add" and "write_secrets" in line for css, line in lines)


def test_defaults_are_created_on_first_use_when_the_table_is_empty():
    CedarPolicySet.objects.all().delete()
    created = cedar_sets.ensure_defaults()
    assert created.version == 1 and created.is_active
    assert created.test_results["failed"] == 0
    assert cedar_sets.ensure_defaults() is None
