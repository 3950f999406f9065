"""Every figure on the dashboard links to a list whose row count equals the figure."""

import html
import re

import pytest

from tests.governance.dashboard_estate import build_estate

pytestmark = pytest.mark.django_db

FIGURE_LINK = re.compile(
    r'<a [^>]*href="(?P<href>[^"]+)"[^>]*data-figure="(?P<name>[^"]*)"[^>]*>(?P<text>[^<]+)</a>'
)
IN_ALL = re.compile(r"(?:· |mt-2\">)(\d+) in all")  # the pagination line under the list
POSTURE = ["identities", "ownership", "stale", "findings"]


def _rows_listed(client, href: str) -> int:
    response = client.get(href)
    assert response.status_code == 200, href
    found = IN_ALL.search(response.content.decode())
    return int(found.group(1)) if found else 0


def _figure_links(client, card: str, query: str = "") -> list[tuple[str, str, int]]:
    body = client.get(f"/dashboard/card/{card}/{query}", HTTP_HX_REQUEST="true").content.decode()
    links = []
    for m in FIGURE_LINK.finditer(body):
        value = int(re.search(r"(\d+)\s*$", m["text"].strip())[1])
        links.append((m["name"], html.unescape(m["href"]), value))
    return links


@pytest.mark.parametrize("query", ["", "?team=platform"])
def test_each_posture_figure_links_to_a_list_with_that_many_rows(client, iam, owner, owner2, query):
    build_estate(owner, owner2)
    client.force_login(iam)
    checked = 0
    for card in POSTURE:
        for name, href, value in _figure_links(client, card, query):
            if query:
                assert "team=platform" in href, (card, name, href)
            assert _rows_listed(client, href) == value, (card, name, href)
            checked += 1
    assert checked >= 20  # kinds, tiers, statuses, ownership, stale tiers, findings by rule and severity


def test_the_governance_queue_links_match_their_lists(client, security, owner, owner2):
    build_estate(owner, owner2)
    client.force_login(security)
    links = {name: (href, value) for name, href, value in _figure_links(client, "queue")}
    for name in ("review-overdue", "critical"):
        href, value = links[name]
        assert value > 0
        assert _rows_listed(client, href) == value, name


def test_an_owners_open_findings_figure_matches_the_findings_they_see(client, owner, owner2):
    build_estate(owner, owner2)
    client.force_login(owner)
    links = {name: (href, value) for name, href, value in _figure_links(client, "my-work")}
    href, value = links["my-findings"]
    assert value > 0
    assert _rows_listed(client, href) == value


def test_an_owners_reviews_and_transfers_waiting_match_the_lists_behind_them(client, iam, owner, owner2):
    from datetime import timedelta

    from django.utils import timezone

    from governance.reviews.models import ReviewItem
    from governance.reviews.services.launch import launch_campaign
    from inventory import ownership
    from inventory.models import Identity

    build_estate(owner, owner2)
    launch_campaign(iam, "Quarterly", {"risk_tiers": ["low", "medium"]}, timezone.now() + timedelta(days=14))
    expected_reviews = ReviewItem.objects.filter(reviewer=owner, decision="pending").count()
    moving = list(Identity.objects.filter(owner=owner2).exclude(status="decommissioned").order_by("pk")[:2])
    ownership.propose_transfer(owner2, moving, owner, "team change")
    client.force_login(owner)
    links = {name: (href, value) for name, href, value in _figure_links(client, "my-work")}

    href, value = links["reviews-waiting"]
    assert value == expected_reviews > 0
    assert _rows_listed(client, href) == value
    href, value = links["transfers-waiting"]
    assert value == len(moving) == 2
    waiting = client.get(href).content.decode()
    table = waiting.split('data-testid="waiting"', 1)[1].split("</table>", 1)[0]
    assert table.count("transfers/") // 2 == value  # an accept and a decline form per row


def test_the_campaigns_in_progress_figure_matches_the_open_campaign_list(client, iam, owner, owner2):
    from datetime import timedelta

    from django.utils import timezone

    from governance.reviews.population import scope_queryset
    from governance.reviews.services.campaigns import close_campaign
    from governance.reviews.services.launch import launch_campaign

    build_estate(owner, owner2)
    due = timezone.now() + timedelta(days=14)
    tiers = sorted(set(scope_queryset({}).values_list("risk_tier", flat=True)))
    assert len(tiers) >= 3
    campaigns = [launch_campaign(iam, f"{tier} tier", {"risk_tiers": [tier]}, due) for tier in tiers[:3]]
    close_campaign(iam, campaigns[-1])
    client.force_login(iam)
    links = {name: (href, value) for name, href, value in _figure_links(client, "queue")}
    href, value = links["campaigns-open"]
    assert value == 2
    assert _rows_listed(client, href) == value


@pytest.mark.parametrize("query", ["", "?team=platform"])
def test_each_ai_vendor_and_model_figure_links_to_a_list_with_that_many_rows(
    client, iam, owner, owner2, query
):
    build_estate(owner, owner2)
    client.force_login(iam)
    links = _figure_links(client, "ai", query)
    assert len(links) >= 3  # Anthropic, OpenAI and "no vendor recorded" in the estate
    assert any("vendor=%28none%29" in href for _, href, _ in links)
    for name, href, value in links:
        assert value > 0
        assert _rows_listed(client, href) == value, (name, href)


CREDENTIAL_ROW = re.compile(r"<tr>\s*<td[^>]*><span class=\"mono\">")  # one per row of the credentials table


def _expected_credential_figures(team: str | None) -> dict[str, int]:
    """The credential figures counted row by row in Python, independently of the queries under test."""
    from collections import Counter
    from datetime import timedelta

    from django.utils import timezone

    from inventory.models import Credential

    now = timezone.now()
    rows = [
        c
        for c in Credential.objects.select_related("identity__team")
        if team is None or c.identity.team.slug == team
    ]
    live = [c for c in rows if c.revoked_at is None and c.identity.status != "decommissioned"]
    bands = Counter()
    for c in live:
        since = c.last_rotated_at or c.issued_at
        if since is None:
            bands["No issue or rotation date"] += 1
            continue
        age = now - since
        label = next(
            (
                name
                for name, days in (("0-90", 91), ("91-180", 181), ("181-365", 366))
                if age < timedelta(days=days)
            ),
            ">365",
        )
        bands[f"{label} days"] += 1
    revoked = [c for c in rows if c.revoked_at is not None]
    return {
        **{f"age:{label}": n for label, n in bands.items()},
        "static": sum(1 for c in live if not c.is_federated),
        "federated": sum(1 for c in live if c.is_federated),
        "credentials-live": len(live),
        "confirmed": sum(1 for c in revoked if c.revocation_confirmed_at),
        "pending": sum(1 for c in revoked if not c.revocation_confirmed_at),
    }


@pytest.mark.parametrize("slug", [None, "platform", "payments"])
def test_each_credential_figure_links_to_a_credentials_list_with_that_many_rows(
    client, iam, owner, owner2, slug
):
    build_estate(owner, owner2)
    client.force_login(iam)
    query = f"?team={slug}" if slug else ""
    expected = _expected_credential_figures(slug)
    links = [*_figure_links(client, "credentials", query), *_figure_links(client, "revocation", query)]
    seen = {}
    for raw_name, href, value in links:
        name = html.unescape(raw_name)
        assert href.startswith("/credentials/?"), (name, href)
        if slug:
            assert f"team={slug}" in href, (name, href)
        assert value == expected.get(name, 0), (name, value)
        page = client.get(href)
        assert page.status_code == 200, href
        body = page.content.decode()
        assert "Some filters are not valid" not in body, href
        assert _rows_listed(client, href) == value, (name, href)
        assert len(CREDENTIAL_ROW.findall(body)) == value, (name, href)  # one page: every row shown
        seen[name] = value
    # Every band, both kinds, the unrevoked total and both revocation states are linked.
    assert {"static", "federated", "credentials-live", "confirmed", "pending"} <= seen.keys()
    assert {n for n in seen if n.startswith("age:")} >= {"age:0-90 days", "age:91-180 days", "age:>365 days"}
    assert sum(seen[n] for n in seen if n.startswith("age:")) == seen["credentials-live"]
    assert seen["static"] + seen["federated"] == seen["credentials-live"] > 0
    if slug is None:
        assert len([n for n in seen if n.startswith("age:")]) == 5  # the four bands and "no date"
        assert seen["confirmed"] > 0 and seen["pending"] > 0
