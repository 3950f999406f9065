"""The /findings/ page and the findings/ API: who sees what, filters, links, fixed query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.findings.models import Finding
from tests.factories import IdentityFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db


def make_finding(identity, rule="stale_unused", severity="medium", status="open", **extra):
    return Finding.objects.create(
        rule=rule,
        identity=identity,
        severity=severity,
        status=status,
        resolved_at=timezone.now() if status == "resolved" else None,
        evidence={"summary": f"{rule} evidence"},
        **extra,
    )


@pytest.fixture
def estate(owner, owner2):
    mine = IdentityFactory(owner=owner, name="mine-assistant")
    theirs = IdentityFactory(owner=owner2, name="their-agent", team=owner2.team)
    return {
        "mine_stale": make_finding(mine, "stale_unused", "medium"),
        "mine_vendor": make_finding(mine, "unapproved_vendor", "high"),
        "mine_old": make_finding(mine, "environment_crossing", "medium", status="resolved"),
        "theirs": make_finding(theirs, "review_overdue", "critical"),
    }


@pytest.mark.parametrize(
    "username,status",
    [("owner", 200), ("iam", 200), ("security", 200), ("auditor", 200), ("outsider", 403)],
)
def test_findings_page_by_role(client_as, estate, username, status):
    assert client_as(username).get("/findings/").status_code == status


@pytest.mark.parametrize(
    "username,status",
    [("owner", 200), ("iam", 200), ("security", 200), ("auditor", 200), ("outsider", 403), (None, 401)],
)
def test_findings_api_by_role(api_as, role_users, estate, username, status):
    user = role_users[username] if username else None
    assert api_as(user).get("/api/v1/findings/").status_code == status


def test_findings_api_is_read_only(api_as, iam, estate):
    client = api_as(iam)
    assert client.post("/api/v1/findings/", {}, format="json").status_code == 405
    assert client.delete(f"/api/v1/findings/{estate['theirs'].pk}/").status_code == 405


def test_owners_see_findings_on_identities_they_own_and_governors_see_all(
    api_as, owner, iam, auditor, estate
):
    mine = {r["id"] for r in api_as(owner).get("/api/v1/findings/").json()["results"]}
    assert mine == {estate["mine_stale"].pk, estate["mine_vendor"].pk, estate["mine_old"].pk}
    assert api_as(owner).get(f"/api/v1/findings/{estate['theirs'].pk}/").status_code == 404
    assert api_as(iam).get("/api/v1/findings/").json()["count"] == 4
    assert api_as(auditor).get("/api/v1/findings/").json()["count"] == 4


def test_backup_owners_see_the_identitys_findings(api_as, owner, estate):
    backup = UserFactory(username="backup", roles=["Tool owner"])
    estate["theirs"].identity.backup_owner = backup
    estate["theirs"].identity.save()
    ids = [r["id"] for r in api_as(backup).get("/api/v1/findings/").json()["results"]]
    assert ids == [estate["theirs"].pk]


def test_findings_api_filters_and_fields(api_as, iam, estate):
    client = api_as(iam)
    get = lambda q: client.get(f"/api/v1/findings/?{q}").json()  # noqa: E731
    assert {r["rule"] for r in get("rule=stale_unused")["results"]} == {"stale_unused"}
    assert get("status=resolved")["count"] == 1
    assert get("severity=critical")["results"][0]["id"] == estate["theirs"].pk
    assert get(f"identity={estate['theirs'].identity_id}")["count"] == 1
    row = get("rule=review_overdue")["results"][0]
    assert row["identity"] == estate["theirs"].identity_id and row["identity_name"] == "their-agent"
    assert row["evidence"] == {"summary": "review_overdue evidence"}
    assert "CIS Controls v8: 5.5" in row["references"]
    assert row["exception_request_url"] == f"/exceptions/new/?identity={row['identity']}&rule=review_overdue"
    assert {"first_seen_at", "last_seen_at", "resolved_at", "severity", "status"} <= set(row)


def test_findings_api_rejects_bad_filter_values_with_400(api_as, iam, estate):
    response = api_as(iam).get("/api/v1/findings/?severity=extreme&status=gone")
    assert response.status_code == 400
    assert set(response.json()) == {"severity", "status"}


def test_findings_page_shows_open_findings_by_default_with_links(client, iam, estate):
    client.force_login(iam)
    html = client.get("/findings/").content.decode()
    assert "Stale, unused access" in html and "Access review overdue" in html
    assert 'data-rule="environment_crossing"' not in html  # resolved: hidden unless asked for
    assert 'data-rule="stale_unused"' in html
    identity_id = estate["mine_stale"].identity_id
    assert f'href="/inventory/{identity_id}/"' in html
    assert f'href="/exceptions/new/?identity={identity_id}&amp;rule=stale_unused"' in html
    assert "OWASP NHI Top 10 2025: NHI1 Improper Offboarding" in html


def test_findings_page_filters_by_rule_status_severity_identity_and_team(client, iam, owner2, estate):
    client.force_login(iam)

    def rules(query):
        response = client.get(f"/findings/?{query}")
        assert response.status_code == 200
        return {f.rule for f in response.context["page"].object_list}

    assert rules("rule=stale_unused") == {"stale_unused"}
    assert rules("status=") == {"stale_unused", "unapproved_vendor", "environment_crossing", "review_overdue"}
    assert rules("status=resolved") == {"environment_crossing"}
    assert rules("severity=high") == {"unapproved_vendor"}
    assert rules(f"identity={estate['theirs'].identity_id}") == {"review_overdue"}
    assert rules(f"team={owner2.team.slug}") == {"review_overdue"}
    assert rules("search=mine") == {"stale_unused", "unapproved_vendor"}


def test_findings_page_lists_worst_first(client, iam, estate):
    client.force_login(iam)
    severities = [f.severity for f in client.get("/findings/").context["page"].object_list]
    assert severities == ["critical", "high", "medium"]


def test_auditors_get_no_request_exception_link(client, auditor, estate):
    client.force_login(auditor)
    html = client.get("/findings/").content.decode()
    assert "Stale, unused access" in html and "Request exception" not in html


def test_findings_page_htmx_returns_the_results_fragment(client, iam, estate):
    client.force_login(iam)
    fragment = client.get("/findings/?rule=review_overdue", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'id="results"' in fragment and "their-agent" in fragment


def test_findings_page_empty_state_for_an_owner_with_nothing_open(client, owner):
    client.force_login(owner)
    html = client.get("/findings/").content.decode()
    assert "No findings match these filters." in html


def _fill(n):
    owner = UserFactory(roles=["Tool owner"], team=TeamFactory(slug=f"t{n}"))
    for i in range(n):
        make_finding(IdentityFactory(owner=owner), rule=["stale_unused", "review_overdue"][i % 2])


def _count(client, url):
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize("url", ["/findings/", "/api/v1/findings/"])
def test_findings_list_query_count_is_fixed(client, iam, url, django_assert_max_num_queries):
    client.force_login(iam)
    _fill(3)
    few = _count(client, url)
    _fill(45)
    many = _count(client, url)
    assert few == many
    with django_assert_max_num_queries(10):
        client.get(url)


@pytest.mark.parametrize("page", ["1", "2", "3", "9", "x"])
def test_the_pages_count_in_the_pass_that_finds_them_with_the_same_rows(
    client, api_as, iam, page, monkeypatch
):
    """Worst first has no index, so a page reads every match: the count comes from that pass (one
    query, no COUNT(*) before it) and the pages are what Django's own paginator gives."""
    from django.core.paginator import Paginator

    from governance.api_common import StewardPagination
    from governance.findings import api, views

    owner = UserFactory(roles=["Tool owner"])
    for i in range(23):
        make_finding(
            IdentityFactory(owner=owner),
            ["stale_unused", "review_overdue"][i % 2],
            ["low", "high"][i % 3 == 0],
        )
    monkeypatch.setattr(StewardPagination, "page_size", 10)
    monkeypatch.setattr(views, "PAGE_SIZE", 10)
    client.force_login(iam)
    with CaptureQueriesContext(connection) as captured:
        fast = client.get(f"/findings/?page={page}").context["page"]
        body = api_as(iam).get(f"/api/v1/findings/?page_size=10&page={page}")
    counted = [q for q in captured if q["sql"].startswith("SELECT COUNT(*)")]
    assert not counted or page == "9"  # past the end: the plain count says which page to show
    monkeypatch.setattr(views, "OnePassPaginator", Paginator)
    monkeypatch.setattr(api.FindingViewSet, "pagination_class", StewardPagination)
    slow = client.get(f"/findings/?page={page}").context["page"]
    assert [f.pk for f in fast.object_list] == [f.pk for f in slow.object_list]
    assert (fast.number, fast.paginator.count) == (slow.number, slow.paginator.count) == (fast.number, 23)
    expected = api_as(iam).get(f"/api/v1/findings/?page_size=10&page={page}")
    assert body.status_code == expected.status_code
    if page in ("1", "2", "3"):
        assert body.json() == expected.json() and body.json()["count"] == 23
