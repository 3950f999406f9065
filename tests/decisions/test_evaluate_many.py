"""`CompiledPolicySet.evaluate_many` (one Cedar call per subject, used where nothing is recorded: threat
profiles, the intake's preview) answers each question exactly as `evaluate` does one at a time; and an
outcome reused for an identity of the same shape (`reads_only_shape`) is the answer Cedar would give."""

from dataclasses import replace
from datetime import timedelta
from itertools import product

import pytest
from django.utils import timezone

from governance.policy import cedar

NOW = timezone.now()
LATER = (NOW + timedelta(days=3)).timestamp()
EARLIER = (NOW - timedelta(days=3)).timestamp()


@pytest.fixture(scope="module")
def compiled():
    return cedar.compile_policy_set(0, cedar.default_policy_text(), cedar.default_schema_text())


GRANTS = (
    cedar.GrantFact("1", "repository", "platform/*", frozenset({"read_code", "write_code", "merge"})),
    # The same resource again, for one action only: merge and write_code on platform/api are covered by
    # different grants, so they cannot share one resource entity (separate rounds).
    cedar.GrantFact("2", "repository", "platform/api", frozenset({"merge"})),
    cedar.GrantFact("3", "secret_store", "vault/*", frozenset({"read_secrets", "write_secrets"})),
    cedar.GrantFact("4", "ci_pipeline", "deploy-*", frozenset({"deploy"}), jit=True, expires_at=LATER),
    cedar.GrantFact("5", "ci_pipeline", "old-*", frozenset({"deploy"}), jit=True, expires_at=EARLIER),
)

QUESTIONS = [
    cedar.Question(action, kind, name, environment)
    for (action, kind, name), environment in product(
        [
            ("read_code", "repository", "platform/api"),
            ("write_code", "repository", "platform/api"),
            ("merge", "repository", "platform/api"),
            ("merge", "repository", "platform/web"),
            ("admin", "repository", "platform/api"),
            ("read_secrets", "secret_store", "vault/prod"),
            ("write_secrets", "secret_store", "vault/prod"),
            ("deploy", "ci_pipeline", "deploy-web"),
            ("deploy", "ci_pipeline", "old-web"),
            ("read_data", "database", "warehouse"),
        ],
        ["prod", "dev"],
    )
]

SUBJECTS = {
    "active agent": cedar.Subject("7", "agent", "ai_agent", "high", "active", ("prod", "dev"), True),
    "assistant": cedar.Subject("8", "helper", "ai_assistant", "medium", "active", ("prod",), True),
    "orphaned": cedar.Subject("9", "orphan", "ai_agent", "high", "active", ("prod", "dev"), False),
    "critical findings": cedar.Subject(
        "10", "hot", "ai_agent", "critical", "active", ("prod",), True, open_critical_findings=2
    ),
    "suspended": cedar.Subject("11", "off", "ai_agent", "high", "suspended", ("prod",), True),
    "excepted": cedar.Subject(
        "12",
        "waived",
        "ai_assistant",
        "high",
        "active",
        ("dev",),
        True,
        exceptions=(
            cedar.ExceptionFact("40", "prod_privileged_needs_jit", LATER),
            cedar.ExceptionFact("41", "environment_not_approved", None),
            cedar.ExceptionFact("42", "assistant_prod_secrets", EARLIER),  # expired: lifts nothing
        ),
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", SUBJECTS)
def test_evaluate_many_answers_each_question_as_evaluate_does(compiled, name):
    subject = replace(SUBJECTS[name], grants=GRANTS)
    together = compiled.evaluate_many(subject, QUESTIONS, NOW)
    alone = [compiled.evaluate(subject, q, NOW) for q in QUESTIONS]
    assert [v.as_dict() | {"out_of_scope": v.out_of_scope, "jit": v.jit} for v in together] == [
        v.as_dict() | {"out_of_scope": v.out_of_scope, "jit": v.jit} for v in alone
    ]


def test_the_subjects_cover_every_decision_and_a_lifted_rule(compiled):
    seen = set()
    lifted = False
    for subject in SUBJECTS.values():
        for verdict in compiled.evaluate_many(replace(subject, grants=GRANTS), QUESTIONS, NOW):
            seen.add(verdict.decision)
            lifted = lifted or bool(verdict.exceptions)
    assert seen == {"allow", "deny", "step_up"} and lifted


def test_no_questions_no_call(compiled):
    assert compiled.evaluate_many(replace(SUBJECTS["active agent"], grants=GRANTS), [], NOW) == []


def test_the_policies_that_fired_are_named_in_the_sets_own_order(compiled):
    """Cedar reports fired policies in no fixed order; a verdict names them as the set lists them."""
    subject = replace(SUBJECTS["suspended"], grants=GRANTS)
    question = cedar.Question("write_code", "repository", "platform/api", "dev")
    seen = {tuple(compiled.evaluate(subject, question, NOW).policies) for _ in range(30)}
    assert seen == {("identity_revoked", "environment_not_approved")}


# ---------------------------------------------------------------- reusing outcomes by shape


def fresh(text=None, reuse=True):
    """A compiled set of its own (an empty cache); `reuse=False`: every request goes to Cedar."""
    compiled = cedar.CompiledPolicySet(0, text or cedar.default_policy_text(), cedar.default_schema_text())
    compiled.reuses_outcomes = compiled.reuses_outcomes and reuse
    return compiled


def test_the_default_policies_read_only_the_shape():
    assert fresh().reuses_outcomes


AGENT = SUBJECTS["active agent"]
DATA = cedar.Question("read_data", "repository", "platform/api", "dev")  # no grant covers it: deny
OTHER = replace(DATA, resource_name="platform/web")
GRANT_9 = replace(GRANTS[0], id="9")  # grant 1 under another id

# A policy that tells apart two requests of one shape, and the two requests (subject, question).
NAMING = {
    "a principal by id": (
        'permit (principal == Steward::Identity::"7", action, resource);',
        [(replace(AGENT, id="7"), DATA), (replace(AGENT, id="8"), DATA)],
    ),
    "the principal as a value": (
        'permit (principal, action, resource) when { principal == Steward::Identity::"7" };',
        [(replace(AGENT, id="7"), DATA), (replace(AGENT, id="8"), DATA)],
    ),
    "a resource by id": (
        'permit (principal, action, resource == Steward::Resource::"repository:platform/api");',
        [(AGENT, DATA), (AGENT, OTHER)],
    ),
    "the resource's name": (
        'permit (principal, action, resource) when { resource.name like "*/api" };',
        [(AGENT, DATA), (AGENT, OTHER)],
    ),
    "a grant in a condition": (
        'forbid (principal, action, resource) when { resource in Steward::Grant::"9" };',
        [
            (replace(AGENT, grants=(GRANT_9,)), replace(DATA, action="read_code")),
            (replace(AGENT, grants=GRANTS[:1]), replace(DATA, action="read_code")),
        ],
    ),
}


@pytest.mark.parametrize("name", NAMING)
def test_a_set_that_tells_identities_or_resources_apart_is_asked_every_time(name):
    policy, requests = NAMING[name]
    text = cedar.default_policy_text() + f'\n@id("extra")\n@reason("x")\n{policy}\n'
    assert cedar.validate(text, cedar.default_schema_text()) == []
    compiled = fresh(text)
    assert not compiled.reuses_outcomes
    decisions = [compiled.evaluate(subject, question, NOW).decision for subject, question in requests]
    assert decisions[0] != decisions[1]
    forced = fresh(text)  # were its outcomes reused anyway, the second request would get the first's
    forced.reuses_outcomes = True
    assert len({forced.evaluate(subject, question, NOW).decision for subject, question in requests}) == 1


def test_reused_outcomes_give_the_answers_cedar_gives_for_every_identity_of_a_shape():
    reused, asked = fresh(), fresh(reuse=False)
    for name, subject in SUBJECTS.items():
        for pk in ("100", "200"):  # the same shape under two ids: the second is served from the cache
            one = replace(subject, id=pk, grants=GRANTS)
            for got, want in zip(
                reused.evaluate_many(one, QUESTIONS, NOW),
                [asked.evaluate(one, q, NOW) for q in QUESTIONS],
                strict=True,
            ):
                assert got.as_dict() | {"oos": got.out_of_scope, "jit": got.jit} == want.as_dict() | {
                    "oos": want.out_of_scope,
                    "jit": want.jit,
                }, name
    assert reused._outcomes and not asked._outcomes
