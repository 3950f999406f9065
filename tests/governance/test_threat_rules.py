"""Each threat rule of governance/threats/rules.py: when it applies, when it does not, and what is a gap.

Pure functions of `Facts`; the Cedar answers are given here as the profiles would fill them in.
"""

from datetime import date

from governance.threats import rules
from governance.threats.catalogue import CATALOGUES, DEFAULT_VERSION, catalogue
from governance.threats.rules import ALLOW, DENY, STEP_UP, CedarAnswer, Facts, GrantFacts


def facts(kind="ai_agent", grants=(), answers=(), **extra) -> Facts:
    return Facts(
        identity_id=1,
        name="agent",
        kind=kind,
        environments=extra.pop("environments", ("prod",)),
        grants=tuple(GrantFacts(k, n, frozenset(a)) for k, n, a in grants),
        answers=tuple(CedarAnswer(a, k, n, d, p) for a, k, n, d, p in answers),
        **extra,
    )


MERGE = ("repository", "release/*", ["read_code", "open_pr", "merge"])


def test_the_table_covers_each_threat_of_the_catalogue_once():
    book = catalogue(DEFAULT_VERSION)
    assert [row.threat for row in rules.TABLE] == [t.code for t in book.threats]
    assert len(book.threats) == 10 and [layer.code for layer in book.layers][:7] == [
        f"L{i}" for i in range(1, 8)
    ]
    assert book.threat("ASI02").name == "Tool Misuse and Exploitation"
    assert catalogue("no-such-version") is CATALOGUES[DEFAULT_VERSION]


def test_questions_are_asked_in_prod_for_standing_grants_only():
    f = facts(grants=[MERGE])
    assert ("merge", "repository", "release/*") in rules.questions(f)
    assert rules.questions(facts(grants=[MERGE], environments=("dev",))) == []
    jit = Facts(
        1,
        "a",
        "ai_agent",
        environments=("prod",),
        grants=(GrantFacts("repository", "x", frozenset(["merge"]), jit=True),),
    )
    assert rules.questions(jit) == []


def test_only_the_actions_a_rule_reads_are_asked_and_leaving_the_rest_out_changes_no_verdict():
    """Cedar is asked only for `CEDAR_ACTIONS` (the sweep asks it for every AI identity). Every rule,
    given answers for every action and given only the asked ones, says the same, for each decision."""
    from inventory.models import ACTION_VALUES

    everything = [("repository", "app", sorted(ACTION_VALUES)), ("database", "db", sorted(ACTION_VALUES))]
    asked = rules.questions(facts(grants=everything))
    assert {a for a, _k, _n in asked} == set(rules.CEDAR_ACTIONS) and "read_code" not in rules.CEDAR_ACTIONS
    for decision in (ALLOW, DENY, STEP_UP):
        for kind in rules.AI_KINDS:
            full = [(a, k, n, decision, ("p",)) for k, n, acts in everything for a in acts]
            trimmed = [answer for answer in full if answer[0] in rules.CEDAR_ACTIONS]
            for extra in ({}, {"autonomous": True}, {"data_classification": "restricted"}):
                whole = facts(kind, grants=everything, answers=full, **extra)
                asked_only = facts(kind, grants=everything, answers=trimmed, **extra)
                for row in rules.TABLE:
                    assert row.rule(whole) == row.rule(asked_only), (row.threat, decision, kind, extra)


# ---------------------------------------------------------------- ASI02 tool misuse


def test_tool_misuse_applies_to_a_privileged_tool_and_is_a_gap_when_cedar_allows_it_without_jit():
    allowed = rules.tool_misuse(
        facts(grants=[MERGE], answers=[("merge", "repository", "release/*", ALLOW, ())])
    )
    assert allowed is not None and not allowed.controlled
    assert allowed.gaps == ["merge on repository release/* in prod without JIT: Cedar answers allow"]


def test_tool_misuse_is_controlled_when_cedar_steps_up_or_denies():
    held = rules.tool_misuse(
        facts(
            grants=[MERGE],
            answers=[("merge", "repository", "release/*", STEP_UP, ("prod_privileged_needs_jit",))],
        )
    )
    assert held.controlled and "Cedar answers step_up (prod_privileged_needs_jit)" in held.controls[0]
    denied = rules.tool_misuse(
        facts(grants=[MERGE], answers=[("merge", "repository", "release/*", DENY, ())])
    )
    assert denied.controlled
    outside = rules.tool_misuse(facts(grants=[MERGE], environments=("dev",)))
    assert outside.controlled and outside.controls == ["Approved outside prod only (dev)"]


def test_tool_misuse_does_not_apply_without_a_privileged_tool():
    assert rules.tool_misuse(facts(grants=[("repository", "x", ["read_code", "open_pr"])])) is None


# ---------------------------------------------------------------- ASI01 goal hijack


TICKETS = ("ticketing", "JIRA", ["read_tickets", "write_tickets"])


def test_goal_hijack_is_a_gap_for_an_autonomous_reader_of_tickets_allowed_to_write_in_prod():
    f = facts(grants=[TICKETS], autonomous=True, answers=[("write_tickets", "ticketing", "JIRA", ALLOW, ())])
    result = rules.goal_hijack(f)
    assert result is not None and not result.controlled and "write_tickets" in result.gaps[0]


def test_goal_hijack_is_controlled_with_a_person_in_the_loop_and_absent_without_untrusted_input():
    f = facts(grants=[TICKETS], autonomous=False, answers=[("write_tickets", "ticketing", "JIRA", ALLOW, ())])
    assert rules.goal_hijack(f).controlled
    assert rules.goal_hijack(facts(grants=[("repository", "x", ["read_code"])])) is None
    assert rules.goal_hijack(facts(kind="service_account", grants=[TICKETS])) is None


# ---------------------------------------------------------------- ASI03 identity and privilege abuse


def test_privilege_abuse_gaps_are_an_overdue_review_an_absent_owner_and_secrets_that_never_expire():
    f = facts(
        grants=[MERGE], next_review_due=date(2026, 1, 1), today=date(2026, 6, 1), owner_active=False,
        static_without_expiry=2, credential_kinds=("static_key", "pat"),
    )  # fmt: skip
    gaps = rules.privilege_abuse(f).gaps
    assert gaps == [
        "Access review overdue since 2026-01-01",
        "No active owner answers for its privileges",
        "2 static credential(s) never expire",
    ]


def test_privilege_abuse_is_controlled_when_reviewed_owned_and_federated_and_absent_with_nothing_held():
    f = facts(
        grants=[MERGE], next_review_due=date(2026, 9, 1), today=date(2026, 6, 1),
        credential_kinds=("oidc_federation",),
    )  # fmt: skip
    result = rules.privilege_abuse(f)
    assert result.controlled and "Short-lived federated credentials only" in result.controls
    assert rules.privilege_abuse(facts()) is None


# ---------------------------------------------------------------- ASI04 supply chain


def test_supply_chain_applies_to_every_ai_kind_and_is_a_gap_for_a_vendor_or_model_not_allowed():
    bad = rules.supply_chain(facts(vendor="Acme", model_name="m1", vendor_allowed=False, model_allowed=False))
    assert bad.gaps == [
        "Vendor 'Acme' is not on the policy's allowed list",
        "Model 'm1' is not on the policy's allowed list",
    ]
    assert rules.supply_chain(facts(kind="mcp_server", vendor="GitHub")).controlled
    assert rules.supply_chain(facts(kind="service_account")) is None


# ---------------------------------------------------------------- ASI05 code execution


DEPLOY = ("cloud_account", "prod-eu", ["deploy"])


def test_code_execution_is_a_gap_when_deploy_in_prod_is_allowed_without_jit():
    gap = rules.code_execution(
        facts(grants=[DEPLOY], answers=[("deploy", "cloud_account", "prod-eu", ALLOW, ())])
    )
    assert not gap.controlled
    held = rules.code_execution(
        facts(grants=[DEPLOY], answers=[("deploy", "cloud_account", "prod-eu", STEP_UP, ())])
    )
    assert held.controlled


def test_code_execution_does_not_apply_to_a_reader_and_applies_to_an_mcp_server():
    assert rules.code_execution(facts(grants=[("repository", "x", ["read_code"])])) is None
    assert rules.code_execution(facts(kind="mcp_server")).controlled


# ---------------------------------------------------------------- ASI06 context poisoning


DOCS = ("documentation", "confluence/eng", ["read_data", "write_data"])


def test_context_poisoning_is_a_gap_for_an_autonomous_writer_to_a_shared_store_in_prod():
    answers = [("write_data", "documentation", "confluence/eng", ALLOW, ())]
    assert not rules.context_poisoning(facts(grants=[DOCS], autonomous=True, answers=answers)).controlled
    assert rules.context_poisoning(facts(grants=[DOCS], autonomous=False, answers=answers)).controlled


def test_context_poisoning_does_not_apply_to_readers_or_non_model_kinds():
    assert rules.context_poisoning(facts(grants=[("documentation", "x", ["read_data"])])) is None
    assert rules.context_poisoning(facts(kind="mcp_server", grants=[DOCS])) is None


# ---------------------------------------------------------------- ASI07 inter-agent communication


def test_inter_agent_gaps_are_static_secrets_only_or_one_in_an_mcp_configuration():
    static = rules.inter_agent(facts(credential_kinds=("pat",), static_kinds=("pat", "static_key")))
    assert static.gaps == ["Authenticates with static secrets only: pat"]
    mcp = rules.inter_agent(
        facts(kind="mcp_server", open_findings=frozenset({"static_secret_in_mcp_config"}))
    )
    assert "MCP configuration" in mcp.gaps[0]
    assert rules.inter_agent(
        facts(credential_kinds=("oidc_federation", "pat"), static_kinds=("pat",))
    ).controlled


def test_inter_agent_does_not_apply_to_assistants_and_plugins():
    assert rules.inter_agent(facts(kind="ai_assistant")) is None
    assert rules.inter_agent(facts(kind="ide_plugin")) is None


# ---------------------------------------------------------------- ASI08 cascading failures


def test_cascading_is_a_gap_when_a_prod_write_is_allowed_for_an_identity_that_also_reaches_dev():
    answers = [("merge", "repository", "release/*", ALLOW, ())]
    result = rules.cascading(facts(grants=[MERGE], environments=("dev", "prod"), answers=answers))
    assert not result.controlled and "spans prod and dev" in result.gaps[0]


def test_cascading_does_not_apply_to_one_environment_or_to_readers():
    assert rules.cascading(facts(grants=[MERGE], environments=("prod",))) is None
    assert (
        rules.cascading(facts(grants=[("repository", "x", ["read_code"])], environments=("dev", "prod")))
        is None
    )


# ---------------------------------------------------------------- ASI09 human-agent trust


def test_trust_exploitation_is_a_gap_when_it_opens_pull_requests_and_may_merge_them_in_prod():
    answers = [("merge", "repository", "release/*", ALLOW, ())]
    assert not rules.trust_exploitation(facts(grants=[MERGE], answers=answers)).controlled
    pr_only = rules.trust_exploitation(facts(grants=[("repository", "x", ["open_pr"])]))
    assert pr_only.controlled and pr_only.controls == ["Cannot merge: a person approves what it proposes"]


def test_trust_exploitation_applies_to_assistants_acting_for_a_person_but_not_to_a_silent_agent():
    assert rules.trust_exploitation(facts(kind="ide_plugin")).controlled
    assert rules.trust_exploitation(facts(grants=[("repository", "x", ["read_code"])])) is None


# ---------------------------------------------------------------- ASI10 rogue agents


def test_rogue_agent_gaps_are_open_use_after_revocation_or_out_of_scope_findings():
    result = rules.rogue_agent(facts(open_findings=frozenset({"out_of_scope_use", "used_after_revocation"})))
    assert result.gaps == [
        "Used after revocation (open finding)",
        "Used outside its approved grants (open finding)",
    ]
    assert rules.rogue_agent(facts()).controlled


def test_rogue_agent_does_not_apply_to_an_assistant_a_person_drives():
    assert rules.rogue_agent(facts(kind="ai_assistant", autonomous=False)) is None
    assert rules.rogue_agent(facts(kind="ai_assistant", autonomous=True)) is not None
