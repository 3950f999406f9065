"""Agent threat profiles (issue 25): Cedar decides what counts as controlled, the sweep raises and closes
agent_threat_uncontrolled, the demo tells the story, and the pack, pages and card agree."""

import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.decisions.models import DecisionRecord
from governance.demo import (
    RELEASE_TRAIN_NOTE,
    release_train_policy_text,
    seed_people,
    seed_release_train_policy,
)
from governance.evidence.catalogue import CONTROLS_BY_CODE
from governance.findings.models import Finding, Rule, Severity
from governance.findings.sweep import run_sweep
from governance.models import AuditEvent
from governance.policy import cedar, cedar_sets
from governance.threats import profiles
from inventory.demo import build_small
from inventory.models import Grant, Identity, UsageEvent
from tests.decisions.conftest import clear_caches, fresh_caches  # noqa: F401 (an autouse fixture)
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def release_agent(owner, iam2):
    agent = IdentityFactory(
        name="release-train agent", kind=Identity.Kind.AI_AGENT, owner=owner, backup_owner=iam2,
        environments=["prod"], autonomous=True, risk_tier="high", vendor="Anthropic",
        next_review_due=timezone.localdate() + timedelta(days=60),
    )  # fmt: skip
    GrantFactory(
        identity=agent,
        resource_kind="repository",
        resource_name="release/*",
        actions=["read_code", "open_pr", "merge"],
    )
    CredentialFactory(identity=agent, kind="oidc_federation", expires_at=timezone.now() + timedelta(days=1))
    return agent


def _threat(profile, code):
    return next(t for t in profile.threats if t.code == code)


def _carve_out(actor_label="seed_demo"):
    from governance.actors import system

    cedar_sets.ensure_defaults()
    saved = cedar_sets.save_version(
        system(actor_label),
        text=release_train_policy_text(),
        schema=cedar.default_schema_text(),
        note=RELEASE_TRAIN_NOTE,
    )
    return cedar_sets.activate(system(actor_label), saved)


def test_merge_in_prod_is_controlled_by_the_shipped_jit_rule_and_nothing_is_recorded(release_agent):
    profile = profiles.profile_of(release_agent)
    misuse = _threat(profile, "ASI02")
    assert misuse.controlled
    assert misuse.controls == [
        "merge on repository release/* in prod: Cedar answers step_up (prod_privileged_needs_jit)"
    ]
    assert not DecisionRecord.objects.exists() and not UsageEvent.objects.exists()
    assert {layer.code for layer in profile.spanned_layers} >= {"L3", "L6", "L7"}


def test_a_live_jit_grant_does_not_count_as_the_control(release_agent):
    GrantFactory(
        identity=release_agent, resource_kind="repository", resource_name="release/*", actions=["merge"],
        origin=Grant.Origin.JIT, expires_at=timezone.now() + timedelta(hours=1),
    )  # fmt: skip
    assert _threat(profiles.profile_of(release_agent), "ASI02").controlled  # step_up: JIT still needed


def test_without_the_jit_rule_tool_misuse_is_uncontrolled_the_sweep_raises_it_and_the_rule_back_closes_it(
    release_agent, security, iam
):
    _carve_out()
    profile = profiles.profile_of(release_agent)
    assert _threat(profile, "ASI02").gaps == [
        "merge on repository release/* in prod without JIT: Cedar answers allow"
    ]
    assert "Uncontrolled agentic threat ASI02 Tool Misuse and Exploitation" in profile.risk_reasons()[0]

    run_sweep()
    finding = Finding.objects.get(rule=Rule.AGENT_THREAT_UNCONTROLLED, identity=release_agent)
    assert finding.status == Finding.Status.OPEN and finding.severity == Severity.HIGH
    assert "ASI02" in [t["code"] for t in finding.evidence["threats"]]
    assert "merge on repository release/* in prod without JIT" in finding.evidence["summary"]
    opened = AuditEvent.objects.filter(subject_type="governance.finding", subject_id=str(finding.pk)).first()
    assert opened.actor == "system:sweep"

    # Security adds the JIT rule back (the shipped policies), a second person activates it.
    fixed = cedar_sets.save_version(
        security, text=cedar.default_policy_text(), schema=cedar.default_schema_text(),
        note="Release train merges need JIT again",
    )  # fmt: skip
    cedar_sets.propose_activation(security, fixed)
    cedar_sets.approve_activation(iam, fixed)
    run_sweep()
    finding.refresh_from_db()
    assert finding.status == Finding.Status.RESOLVED
    assert _threat(profiles.profile_of(release_agent), "ASI02").controlled


def test_an_exception_to_the_jit_rule_leaves_tool_misuse_uncontrolled_and_says_so(release_agent, owner):
    from governance.exceptions.models import PolicyException

    PolicyException.objects.create(
        identity=release_agent, rule="prod_privileged_needs_jit", justification="release freeze",
        compensating_controls="branch protection", state=PolicyException.State.ACTIVE, requested_by=owner,
        expires_at=timezone.now() + timedelta(days=10), approved_at=timezone.now(),
    )  # fmt: skip
    gap = _threat(profiles.profile_of(release_agent), "ASI02").gaps[0]
    assert "Cedar answers allow (exception #" in gap


def test_profiles_cost_the_same_number_of_queries_for_3_and_for_12_identities(owner):
    def estate(n):
        for i in range(n):
            agent = IdentityFactory(kind=Identity.Kind.AI_AGENT, owner=owner, environments=["prod", "dev"])
            GrantFactory(
                identity=agent,
                resource_kind="repository",
                resource_name=f"r{i}/*",
                actions=["merge", "open_pr"],
            )
            GrantFactory(
                identity=agent, resource_kind="ticketing", resource_name="JIRA", actions=["read_tickets"]
            )
            CredentialFactory(identity=agent, kind="pat")

    def measured():
        clear_caches()
        # The active Cedar set is compiled once per process (cached by digest): read it first, or the
        # first measurement alone pays for it when this test runs first in its worker.
        cedar_sets.active_compiled()
        with CaptureQueriesContext(connection) as ctx:
            found = profiles.profiles()
        return len(found), len(ctx.captured_queries)

    estate(3)
    small_n, small = measured()
    estate(9)
    large_n, large = measured()
    assert (small_n, large_n) == (3, 12)
    assert large == small, (small, large)

    # In batches (the sweep and the evidence pack): the same profiles in the same order, a fixed number
    # of queries a batch, one batch's profiles held at a time.
    whole = [(p.identity_id, p.threats) for p in profiles.profiles()]
    clear_caches()
    with CaptureQueriesContext(connection) as ctx:
        batched = [(p.identity_id, p.threats) for p in profiles.profiles_in_batches(size=5)]
    assert batched == whole
    assert len(ctx.captured_queries) <= 1 + 3 * small, len(ctx.captured_queries)


def test_non_ai_identities_get_no_profile(owner):
    account = IdentityFactory(kind=Identity.Kind.SERVICE_ACCOUNT, owner=owner)
    assert profiles.profile_of(account) is None
    assert profiles.profiles(Identity.objects.filter(pk=account.pk)) == []


# ---------------------------------------------------------------- the demo estate


@pytest.fixture
def demo(db):
    users = seed_people()
    build_small(users)
    seed_release_train_policy()
    return users


def test_the_demo_gives_every_ai_identity_a_profile_and_the_release_agent_a_finding(demo):
    live_ai = Identity.objects.filter(kind__in=profiles.rules.AI_KINDS).exclude(status="decommissioned")
    found = profiles.profiles()
    assert {p.identity_id for p in found} == set(live_ai.values_list("pk", flat=True))
    assert all(p.threats for p in found)
    agent = next(p for p in found if p.identity_name == "release-train agent")
    assert not _threat(agent, "ASI02").controlled
    assert seed_release_train_policy() is None  # idempotent
    run_sweep()
    assert Finding.objects.filter(
        rule=Rule.AGENT_THREAT_UNCONTROLLED, identity_id=agent.identity_id, status="open"
    ).exists()


def test_the_packs_threat_profiles_csv_matches_the_pages(
    demo, auditor, django_capture_on_commit_callbacks, settings, tmp_path
):
    from tests.governance.evidence_support import export_now

    settings.MEDIA_ROOT = tmp_path / "media"
    export = export_now(auditor, django_capture_on_commit_callbacks)
    assert export.state == "ready", export.error
    with zipfile.ZipFile(Path(settings.MEDIA_ROOT) / export.file_path) as zf:
        text = zf.read("threat_profiles.csv").decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == profiles.CSV_HEADER
    expected = [[str(v) for v in row] for row in profiles.csv_rows(profiles.profiles())]
    assert rows[1:] == expected
    release = [r for r in rows[1:] if r[1] == "release-train agent" and r[6] == "ASI02"]
    assert release and release[0][9] == "no" and "without JIT" in release[0][12]


def test_the_control_catalogue_cites_maestro_with_a_why_for_each_mapping(client, auditor):
    maestro = "CSA MAESTRO (2025)"
    for info in CONTROLS_BY_CODE.values():
        if maestro in info.references:
            assert info.rationale.get(maestro), info.code
    assert CONTROLS_BY_CODE["STW-09"].name == "Agent threat profiles"
    client.force_login(auditor)
    body = client.get("/evidence/controls/").content.decode()
    assert body.count('data-framework="CSA MAESTRO (2025)"') >= 6
    assert "Why: Each agent is modelled layer by layer" in body


def test_the_policy_names_its_threat_catalogue_and_refuses_an_unknown_one(security, api_as):
    from governance.policy.services import DEFAULT_POLICY, current_policy

    assert current_policy().get("threat_catalogue") == DEFAULT_POLICY["threat_catalogue"] == "2026.1"
    document = {**DEFAULT_POLICY, "threat_catalogue": "1999"}
    response = api_as(security).put("/api/v1/policy/", {"document": document, "note": "x"}, format="json")
    assert response.status_code == 400
    assert "threat_catalogue" in response.json()


def test_the_intake_preview_judges_the_answers_with_the_active_cedar_set(db):
    answers = {
        "name": "new agent", "kind": "ai_agent", "vendor": "Anthropic", "environments": ["prod"],
        "autonomous": True,
        "grants": [
            {"resource_kind": "repository", "resource_name": "release/*", "actions": ["merge", "open_pr"]}
        ],
    }  # fmt: skip
    assert _threat(profiles.preview(answers), "ASI02").controlled  # the shipped JIT rule steps it up
    _carve_out()
    preview = profiles.preview(answers)
    assert not _threat(preview, "ASI02").controlled
    assert preview.risk_reasons()[0].startswith("Uncontrolled agentic threat ASI02")
    assert profiles.preview({**answers, "kind": "service_account"}) is None
    assert not DecisionRecord.objects.exists()


def test_the_dashboard_card_counts_agents_and_its_total_opens_their_list(client, iam, release_agent):
    _carve_out()
    run_sweep()
    client.force_login(iam)
    body = client.get("/dashboard/card/threats/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-figure="threats-total" data-testid="threats-total" title="Open the list">1</a>' in body
    assert "ASI02 Tool Misuse and Exploitation" in body
    listed = client.get("/findings/?rule=agent_threat_uncontrolled&status=open").content.decode()
    assert "release-train agent" in listed and "1 in all" in listed


# ---------------------------------------------------------------- the sweep's remembered verdicts


def _verdicts():
    return {
        pk: (name, [t.code for t in v.uncontrolled], v.cedar_version)
        for pk, name, v in profiles.sweep_verdicts(
            profiles.ai_identities([Identity.Status.ACTIVE]), timezone.now()
        )
    }


def _as_profiles_judge():
    found = profiles.profiles(profiles.ai_identities([Identity.Status.ACTIVE]))
    return {
        p.identity_id: (p.identity_name, [t.code for t in p.uncontrolled], p.cedar_version) for p in found
    }


@pytest.fixture
def judged(release_agent, owner, monkeypatch):
    monkeypatch.setattr(profiles, "_remembering", lambda: True)  # the tests' cache is per-process memory
    other = IdentityFactory(
        name="helper agent", kind=Identity.Kind.AI_AGENT, owner=owner, environments=["dev"]
    )
    GrantFactory(identity=other, resource_kind="repository", resource_name="tools/*", actions=["read_code"])
    _carve_out()  # the release agent's merge in prod is then uncontrolled
    first = _verdicts()
    assert first == _as_profiles_judge()
    assert first[release_agent.pk][1] and "ASI02" in first[release_agent.pk][1]
    return first, other


def test_an_unchanged_estate_is_judged_from_the_cache_alike(judged, monkeypatch):
    first, _other = judged

    def never(*args, **kwargs):
        raise AssertionError("nothing changed: no rule runs and Cedar is not asked")

    monkeypatch.setattr(profiles, "_assess", never)
    monkeypatch.setattr(profiles, "_ask_cedar", never)
    assert _verdicts() == first


@pytest.mark.parametrize("change", ["grant", "cedar set", "policy"])
def test_a_change_is_judged_afresh(judged, release_agent, security, iam, change, monkeypatch):
    first, other = judged
    judged_now = []
    assess = profiles._assess
    monkeypatch.setattr(profiles, "_assess", lambda f, *a: judged_now.append(f.identity_id) or assess(f, *a))
    if change == "grant":
        GrantFactory(identity=other, resource_kind="repository", resource_name="tools/*", actions=["merge"])
        expected_fresh = {other.pk}
    elif change == "cedar set":  # the shipped rules back: merge in prod needs JIT again
        fixed = cedar_sets.save_version(
            security, text=cedar.default_policy_text(), schema=cedar.default_schema_text(), note="JIT again"
        )
        cedar_sets.propose_activation(security, fixed)
        cedar_sets.approve_activation(iam, fixed)
        expected_fresh = {release_agent.pk, other.pk}
    else:  # a new policy document (an allowed-vendor list) is active
        from governance.policy.models import PolicyVersion
        from governance.policy.services import current_policy

        policy = current_policy()
        PolicyVersion.objects.filter(state=PolicyVersion.State.ACTIVE).update(
            state=PolicyVersion.State.SUPERSEDED
        )
        PolicyVersion.objects.create(
            version=policy.version + 1,
            document={**policy.document, "allowed_vendors": ["Anthropic"]},
            state=PolicyVersion.State.ACTIVE,
        )
        expected_fresh = {release_agent.pk, other.pk}
    again = _verdicts()
    assert set(judged_now) == expected_fresh
    assert again == _as_profiles_judge()
    if change == "cedar set":
        assert "ASI02" not in again[release_agent.pk][1] and "ASI02" in first[release_agent.pk][1]


def test_both_verdict_keys_read_every_fact_but_cedars_answers():
    """The facts' key (KEYED_FACTS) and PostgreSQL's fingerprint (FINGERPRINTED) each say where they read
    every fact from: a fact added to `rules.Facts` fails here until both do."""
    from dataclasses import fields

    from governance.threats import rules

    facts = {f.name for f in fields(rules.Facts)} - {"answers"}
    assert facts == set(profiles.KEYED_FACTS) == set(profiles.FINGERPRINTED)
    sources = {*profiles.IDENTITY_COLUMNS, *profiles.READ, "context"}
    assert {source for read in profiles.FINGERPRINTED.values() for source in read} <= sources


def test_without_a_shared_cache_nothing_is_remembered(release_agent, monkeypatch):
    from django.core.cache import cache

    _carve_out()
    stored = []
    set_many = cache.set_many
    monkeypatch.setattr(
        cache, "set_many", lambda items, *a, **k: stored.extend(items) or set_many(items, *a, **k)
    )
    assert _verdicts() == _as_profiles_judge()
    assert stored and not [key for key in stored if "threats:verdict" in key]  # decision facts only


def test_a_verdict_reached_while_its_identity_changed_is_not_kept(judged, release_agent, monkeypatch):
    from governance.decisions.subjects import identity_changed

    first, _other = judged
    cache_keys_before = set(_cache_keys())
    assert len(cache_keys_before) == 2  # the fixture's sweep kept both verdicts
    identity_changed(release_agent.pk)  # an edit: the next sweep must judge the release agent afresh
    ask = profiles._ask_cedar

    def ask_while_it_changes_again(facts, now):
        answered = ask(facts, now)
        identity_changed(release_agent.pk)  # changed again while its answers were being worked out
        return answered

    monkeypatch.setattr(profiles, "_ask_cedar", ask_while_it_changes_again)
    assert _verdicts() == first
    assert set(_cache_keys()) == cache_keys_before  # the verdict keyed by the old state was not kept


def _cache_keys():
    from django.core.cache import cache

    return [key for key in cache._cache if "threats:verdict" in key]


def test_the_verdict_key_changes_with_any_fact_and_not_with_a_sets_order():
    from dataclasses import replace

    from governance.threats import rules

    facts = rules.Facts(
        identity_id=1, name="a", kind="ai_agent", open_findings=frozenset({"x", "y"}),
        grants=(rules.GrantFacts("repository", "r/*", frozenset({"merge", "open_pr"})),),
    )  # fmt: skip
    key = profiles._verdict_key(facts, "subject", ("context",))
    same = replace(
        facts,
        open_findings=frozenset(["y", "x"]),
        grants=(rules.GrantFacts("repository", "r/*", frozenset(["open_pr", "merge"])),),
    )
    assert profiles._verdict_key(same, "subject", ("context",)) == key
    for changed in (
        replace(facts, status="suspended"),
        replace(facts, grants=(rules.GrantFacts("repository", "r/*", frozenset({"merge"})),)),
        replace(facts, open_findings=frozenset({"x"})),
        replace(facts, exceptions=("prod_privileged_needs_jit",)),
        replace(facts, last_used_at=timezone.now() - timedelta(days=3)),
    ):
        assert profiles._verdict_key(changed, "subject", ("context",)) != key
    # The rules read the day of the last use: another minute of the same day is the same verdict.
    used = timezone.now().replace(hour=12, minute=0)
    at_noon = profiles._verdict_key(replace(facts, last_used_at=used), "subject", ("context",))
    later = replace(facts, last_used_at=used + timedelta(minutes=30))
    assert profiles._verdict_key(later, "subject", ("context",)) == at_noon
    assert profiles._verdict_key(facts, "other subject", ("context",)) != key
    assert profiles._verdict_key(facts, "subject", ("other context",)) != key


OWN_COLUMNS = {
    "autonomous": False, "vendor": "Other", "status": Identity.Status.SUSPENDED, "environments": ["dev"],
    "model_name": "another-model", "next_review_due": timezone.localdate() - timedelta(days=1),
}  # fmt: skip


def _change(agent, change):
    """One change to what the agent's facts are read from (`profiles._related` and its own columns)."""
    from governance.exceptions.models import PolicyException

    now = timezone.now()
    grant = agent.grants.get()
    credential = agent.credentials.get()
    if change == "grant added":
        GrantFactory(identity=agent, resource_kind="repository", resource_name="tools/*", actions=["merge"])
    elif change == "grant's actions":
        Grant.objects.filter(pk=grant.pk).update(actions=["read_code"])
    elif change == "grant made just-in-time":
        Grant.objects.filter(pk=grant.pk).update(origin=Grant.Origin.JIT)
    elif change == "grant ended":
        Grant.objects.filter(pk=grant.pk).update(ended_at=now)
    elif change == "grant expired":
        Grant.objects.filter(pk=grant.pk).update(expires_at=now - timedelta(minutes=1))
    elif change == "credential without expiry":
        type(credential).objects.filter(pk=credential.pk).update(expires_at=None)
    elif change == "credential revoked":
        type(credential).objects.filter(pk=credential.pk).update(revoked_at=now)
    elif change == "finding opened":
        Finding.objects.create(
            rule=Rule.STALE_UNUSED, identity=agent, severity=Severity.MEDIUM, first_seen_at=now,
            last_seen_at=now, due_at=now + timedelta(days=7), evidence={},
        )  # fmt: skip
    elif change == "exception active":
        PolicyException.objects.create(
            identity=agent, rule=Rule.STALE_UNUSED, justification="migration", compensating_controls="x",
            expires_at=now + timedelta(days=5), state=PolicyException.State.ACTIVE, requested_by=agent.owner,
        )  # fmt: skip
    elif change == "owner left":
        type(agent.owner).objects.filter(pk=agent.owner_id).update(is_active=False)
    elif change == "owner reassigned":
        Identity.objects.filter(pk=agent.pk).update(owner=agent.backup_owner, backup_owner=None)
    elif change == "credential's expiry moved":
        type(credential).objects.filter(pk=credential.pk).update(expires_at=now + timedelta(days=9))
    elif change == "used another day":
        Identity.objects.filter(pk=agent.pk).update(last_used_at=now - timedelta(days=3))
    else:  # one of the identity's own columns
        Identity.objects.filter(pk=agent.pk).update(**{change: OWN_COLUMNS[change]})


CHANGES = [
    "grant added", "grant's actions", "grant made just-in-time", "grant ended", "grant expired",
    "credential without expiry", "credential revoked", "finding opened", "exception active", "owner left",
    "owner reassigned", "credential's expiry moved", "used another day", *OWN_COLUMNS,
]  # fmt: skip
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's fingerprints")


@postgresql_only
@pytest.mark.parametrize("change", CHANGES)
def test_the_fingerprint_changes_with_what_the_facts_are_read_from(release_agent, change):
    now = timezone.now()
    Identity.objects.filter(pk=release_agent.pk).update(last_used_at=now.replace(hour=12, minute=0))
    before = profiles._fingerprints([release_agent.pk], now)[release_agent.pk]
    assert profiles._fingerprints([release_agent.pk], now)[release_agent.pk] == before
    _change(release_agent, change)
    after = profiles._fingerprints([release_agent.pk], now)[release_agent.pk]
    assert after[0] == before[0] == "release-train agent"
    assert after[1] != before[1]


@postgresql_only
def test_the_fingerprint_reads_the_day_of_the_last_use_and_only_ai_identities(release_agent, owner):
    noon = timezone.now().replace(hour=12, minute=0)
    Identity.objects.filter(pk=release_agent.pk).update(last_used_at=noon)
    bot = IdentityFactory(name="plain bot", kind=Identity.Kind.BOT, owner=owner)
    before = profiles._fingerprints([release_agent.pk, bot.pk], noon)
    assert set(before) == {release_agent.pk}
    Identity.objects.filter(pk=release_agent.pk).update(last_used_at=noon + timedelta(minutes=30))
    assert profiles._fingerprints([release_agent.pk], noon) == before


@postgresql_only
def test_a_verdict_is_not_kept_when_its_facts_changed_while_it_was_judged(judged, release_agent, monkeypatch):
    """Keyed by the fingerprint read first, judged from facts read after it: a grant changed in between
    must not leave the later facts' verdict under the earlier fingerprint's key."""
    cache_keys_before = set(_cache_keys())
    Identity.objects.filter(pk=release_agent.pk).update(autonomous=False)  # judged afresh next time
    ask, asked = profiles._ask_cedar, []

    def ask_while_its_grant_changes(facts, now):
        answered = ask(facts, now)
        asked.extend(f.identity_id for f in facts)
        # A change only the fingerprint sees (the decisions' subject key counts grants, not actions).
        Grant.objects.filter(identity=release_agent).update(actions=["read_code"])
        return answered

    monkeypatch.setattr(profiles, "_ask_cedar", ask_while_its_grant_changes)
    _verdicts()
    assert release_agent.pk in asked
    assert set(_cache_keys()) == cache_keys_before  # nothing new kept for the release agent
