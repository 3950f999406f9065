"""Drift: use outside the approved grants is flagged at ingestion and opens one out_of_scope_use finding."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from inventory.models import UsageEvent
from inventory.usage import ingest_usage
from tests.factories import GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(owner):
    identity = IdentityFactory(name="review-agent", owner=owner)
    GrantFactory(
        identity=identity, resource_kind="repository", resource_name="platform/*", actions=["read_code"]
    )
    GrantFactory(identity=identity, resource_kind="repository", resource_name="docs", actions=["write_code"])
    # An ended grant no longer covers anything.
    GrantFactory(
        identity=identity,
        resource_kind="ci_pipeline",
        resource_name="release",
        actions=["deploy"],
        ended_at=timezone.now(),
    )
    return identity


def event(identity, action, kind="", name=""):
    raw = {
        "identity": identity.pk,
        "at": (timezone.now() - timedelta(minutes=1)).isoformat(),
        "action": action,
    }
    if kind:
        raw["resource"] = {"kind": kind, "name": name}
    return raw


@pytest.mark.parametrize(
    "action,kind,name,expected",
    [
        ("read_code", "repository", "platform/api", False),  # glob match
        ("write_code", "repository", "docs", False),  # exact name
        ("write_code", "repository", "platform/api", True),  # resource covered, action not
        ("read_code", "repository", "payments/api", True),  # resource not covered
        ("deploy", "ci_pipeline", "release", True),  # only an ended grant covered it
        ("read_code", "", "", False),  # action alone, allowed somewhere
        ("read_secrets", "", "", True),  # action alone, allowed nowhere
    ],
)
def test_use_is_out_of_scope_only_when_no_current_grant_covers_it(iam, agent, action, kind, name, expected):
    ingest_usage(iam, [event(agent, action, kind, name)])
    assert UsageEvent.objects.get().out_of_scope is expected


def test_an_out_of_scope_event_opens_one_finding_and_an_in_scope_one_none(iam, owner, agent):
    tidy = IdentityFactory(name="tidy-agent", owner=owner)
    GrantFactory(identity=tidy, resource_kind="repository", resource_name="platform/*", actions=["read_code"])
    ingest_usage(
        iam,
        [
            event(tidy, "read_code", "repository", "platform/web"),
            event(agent, "read_secrets", "secret_store", "vault/prod"),
            event(agent, "merge", "repository", "platform/api"),
        ],
    )
    run_sweep()
    run_sweep()
    findings = Finding.objects.filter(rule="out_of_scope_use")
    assert list(findings.values_list("identity__name", "status")) == [("review-agent", "open")]
    assert findings.get().severity == "high"
    assert findings.get().evidence["events"] == 2


def test_a_batch_is_checked_with_a_fixed_number_of_queries(iam, agent, django_assert_max_num_queries):
    small = [event(agent, "read_code", "repository", "platform/a")] * 2
    large = [event(agent, "merge", "repository", f"platform/{i}") for i in range(200)]
    with django_assert_max_num_queries(20) as small_ctx:
        ingest_usage(iam, small)
    with django_assert_max_num_queries(len(small_ctx.captured_queries)):
        ingest_usage(iam, large)


def test_the_identity_page_shows_out_of_scope_use_with_a_prefilled_scope_request(client, owner, iam, agent):
    ingest_usage(iam, [event(agent, "merge", "repository", "platform/api")])
    client.force_login(owner)
    html = client.get(f"/inventory/{agent.pk}/").content.decode()
    assert 'data-testid="drift"' in html
    query = "resource_kind=repository&amp;resource_name=platform/api&amp;actions=merge"
    link = f"/inventory/{agent.pk}/scope/?{query}"
    assert link in html
    form = client.get(link.replace("&amp;", "&")).content.decode()
    assert 'value="platform/api"' in form and 'value="merge" id="action-merge" checked' in form


@pytest.mark.parametrize(
    "tier,action,severity",
    [
        ("low", "read_code", "low"),
        ("medium", "write_code", "medium"),
        ("high", "read_code", "high"),
        ("critical", "read_tickets", "high"),
        ("low", "read_secrets", "high"),
        ("low", "merge", "high"),
        ("medium", "deploy", "high"),
        ("critical", "deploy", "critical"),
    ],
)
def test_out_of_scope_severity_follows_the_tier_and_the_action(iam, owner, tier, action, severity):
    identity = IdentityFactory(owner=owner, risk_tier=tier)
    ingest_usage(iam, [event(identity, action, "repository", "payments/api")])
    run_sweep()
    finding = Finding.objects.get(rule="out_of_scope_use", identity=identity)
    assert finding.severity == severity
    assert finding.evidence["sensitive_events"] == (1 if action in ("read_secrets", "merge", "deploy") else 0)


def test_iam_suspends_a_drifting_identity_in_one_click_with_the_observed_use_as_reason(
    client, owner, iam, agent
):
    ingest_usage(iam, [event(agent, "merge", "repository", "platform/api")])
    client.force_login(owner)
    assert 'data-testid="drift-suspend"' not in client.get(f"/inventory/{agent.pk}/").content.decode()
    client.force_login(iam)
    html = client.get(f"/inventory/{agent.pk}/").content.decode()
    assert 'data-testid="drift-suspend"' in html
    reason = "Out-of-scope use: merge on repository:platform/api"
    assert reason in html
    start = html.index('name="reason" value="') + len('name="reason" value="')
    response = client.post(
        f"/inventory/{agent.pk}/suspend/", {"reason": html[start : html.index('"', start)]}
    )
    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.status == "suspended" and agent.status_reason.startswith(reason)
