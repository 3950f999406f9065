"""Each dashboard figure equals a count computed independently, row by row, over a known estate."""

from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from governance.dashboard import figures
from governance.findings.models import Finding
from governance.policy.services import current_policy
from inventory.models import Credential, Identity
from tests.governance.dashboard_estate import build_estate

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate(owner, owner2):
    build_estate(owner, owner2)


def _live(team=None):
    return [
        i
        for i in Identity.objects.select_related("owner", "team")
        if i.status != "decommissioned" and (team is None or (i.team and i.team.slug == team))
    ]


def _values(figs):
    return {f.label: f.value for f in figs}


@pytest.mark.parametrize("slug", [None, "platform", "payments"])
def test_identities_by_kind_tier_and_status_match_a_row_count(estate, slug):
    team = slug
    everything = [i for i in Identity.objects.select_related("team") if team is None or i.team.slug == team]
    live = _live(team)
    got = figures.identity_breakdown(team)
    kinds = dict(Identity.Kind.choices)
    assert _values(got["by_kind"]) == {str(kinds[k]): n for k, n in Counter(i.kind for i in live).items()}
    assert _values(got["by_tier"]) == dict(Counter(i.risk_tier for i in live))
    statuses = dict(Identity.Status.choices)
    assert _values(got["by_status"]) == {
        str(statuses[s]): n for s, n in Counter(i.status for i in everything).items()
    }


@pytest.mark.parametrize("slug", [None, "platform"])
def test_owner_and_review_shares_match_a_row_count(estate, slug):
    team = slug
    live = _live(team)
    today = timezone.localdate()
    active_owner = sum(1 for i in live if i.owner and i.owner.is_active)
    overdue = sum(1 for i in live if i.next_review_due and i.next_review_due < today)
    got = figures.ownership_and_reviews(team)
    assert got["live"].value == len(live)
    assert got["with_active_owner"] == active_owner
    assert got["owner_share"] == round(active_owner / len(live), 4)
    assert got["no_owner"].value == sum(1 for i in live if i.owner is None)
    assert got["owner_inactive"] == sum(1 for i in live if i.owner and not i.owner.is_active)
    assert got["review_overdue"].value == overdue
    assert got["review_share"] == round((len(live) - overdue) / len(live), 4)


def _band(credential, now) -> str:
    since = credential.last_rotated_at or credential.issued_at
    if since is None:
        return "No issue or rotation date"
    days = (now - since).days  # a date a little ahead of the clock is negative: fresh
    return (
        "0-90" if days <= 90 else "91-180" if days <= 180 else "181-365" if days <= 365 else ">365"
    ) + " days"


def _in_team(credential, team) -> bool:
    return team is None or (credential.identity.team is not None and credential.identity.team.slug == team)


@pytest.mark.parametrize("slug", [None, "platform", "payments"])
def test_credentials_by_age_band_and_kind_match_a_row_count(estate, slug):
    now = timezone.now()
    live_creds = [
        c
        for c in Credential.objects.select_related("identity__team")
        if c.revoked_at is None and c.identity.status != "decommissioned" and _in_team(c, slug)
    ]
    bands = Counter(_band(c, now) for c in live_creds)
    got = figures.credentials(slug, now=now)
    assert {k: v for k, v in _values(got["by_band"]).items() if v} == dict(bands)
    assert got["federated"].value == sum(1 for c in live_creds if c.is_federated)
    assert got["static"].value == sum(1 for c in live_creds if not c.is_federated)
    assert got["total"] == len(live_creds)
    if slug is None:  # the estate reaches every band, both kinds, and has unrevoked credentials it skips
        assert len(bands) == 5 and got["federated"].value and got["static"].value
        assert Credential.objects.filter(revoked_at=None, identity__status="decommissioned").exists()


def test_stale_identities_use_each_tiers_stale_days(estate):
    now = timezone.now()
    policy = current_policy()
    expected = Counter()
    for i in Identity.objects.filter(status="active"):
        cutoff = now - timedelta(days=policy.tier(i.risk_tier).stale_days)
        if i.last_used_at is None or i.last_used_at < cutoff:
            expected[i.risk_tier] += 1
    got = figures.stale(now=now)
    assert {f.label.split()[0]: f.value for f in got["per_tier"] if f.value} == dict(expected)
    assert got["total"] == sum(expected.values())


def test_open_findings_by_rule_and_severity_match_a_row_count(estate):
    open_ = [f for f in Finding.objects.all() if f.status == "open"]
    got = figures.findings()
    assert got["by_rule_code"] == dict(Counter(f.rule for f in open_))
    assert {f.label: f.value for f in got["by_severity"] if f.value} == dict(
        Counter(f.severity for f in open_)
    )
    assert got["total"] == len(open_)
    cells = {(row["rule"], f.label): f.value for row in got["cells"] for f in row["figures"] if f.value}
    labels = dict(Finding._meta.get_field("rule").choices)
    assert cells == {
        (str(labels[r]), s): n for (r, s), n in Counter((f.rule, f.severity) for f in open_).items()
    }


def test_ai_identities_by_vendor_and_model_match_a_row_count(estate):
    expected = Counter((i.vendor or "—", i.model_name or "—") for i in _live() if i.kind in figures.AI_KINDS)
    got = {(r["vendor"], r["model"]): r["count"] for r in figures.ai_vendors()}
    assert got == dict(expected)


@pytest.mark.parametrize("slug", [None, "platform", "payments"])
def test_revocation_lag_is_the_mean_time_from_revoked_to_confirmed(estate, slug):
    # Revocations count whatever the identity's status: decommissioning is what revokes most of them.
    revoked = [
        c for c in Credential.objects.select_related("identity__team") if c.revoked_at and _in_team(c, slug)
    ]
    done = [c for c in revoked if c.revocation_confirmed_at]
    mean = sum((c.revocation_confirmed_at - c.revoked_at).total_seconds() for c in done) / len(done) / 3600
    got = figures.revocation_lag(slug)
    assert got["confirmed"].value == len(done) > 0
    assert got["pending"].value == len(revoked) - len(done) > 0
    assert got["mean_hours"] == round(mean, 1)


def test_empty_estate_gives_zeros_not_errors(db):
    assert figures.ownership_and_reviews()["owner_share"] is None
    assert figures.revocation_lag()["mean_hours"] is None
    assert figures.findings()["total"] == 0
    assert figures.estate_summary()["live_identities"] == 0


def test_the_snapshot_stores_the_estate_figures(estate):
    summary = figures.estate_summary()
    assert summary["live_identities"] == len(_live())
    assert summary["open_findings"] == Finding.objects.filter(status="open").count()
    assert summary["stale_identities"] == figures.stale()["total"]
