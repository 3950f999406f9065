"""The inventory list: filters, search and sorting combine; fixed query counts; htmx; CSV export."""

import csv
import io
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.http import QueryDict
from django.utils import timezone

from inventory.filters import IdentityFilter, base_queryset
from inventory.models import Identity
from tests.factories import IdentityFactory, TeamFactory, UserFactory


def names(params):
    query = QueryDict(urlencode(params, doseq=True))
    filterset = IdentityFilter(query, queryset=base_queryset(), request=None)
    assert filterset.is_valid(), filterset.errors
    return [i.name for i in filterset.qs]


@pytest.fixture
def estate(owner, owner2, team, other_team):
    now = timezone.now()
    return {
        "stale-prod-bot": IdentityFactory(
            name="stale-prod-bot",
            kind="bot",
            owner=owner,
            environments=["prod"],
            last_used_at=now - timedelta(days=200),
            risk_tier="high",
            vendor="Internal",
        ),
        "fresh-prod-bot": IdentityFactory(
            name="fresh-prod-bot",
            kind="bot",
            owner=owner2,
            environments=["prod", "staging"],
            last_used_at=now,
        ),
        "never-used-prod-agent": IdentityFactory(
            name="never-used-prod-agent",
            kind="ai_agent",
            owner=owner2,
            environments=["prod"],
            risk_tier="critical",
            purpose="Summarises incident tickets",
        ),
        "dev-copilot": IdentityFactory(
            name="dev-copilot",
            kind="ide_plugin",
            owner=owner,
            environments=["dev"],
            vendor="GitHub",
            product="Copilot",
            model_name="gpt-4.1",
            last_used_at=now - timedelta(days=100),
            next_review_due=timezone.localdate() - timedelta(days=3),
        ),
        "orphan-key": IdentityFactory(
            name="orphan-key",
            kind="api_key",
            owner=None,
            team=other_team,
            status=Identity.Status.DISCOVERED,
            environments=["prod"],
            external_id="AKIA-like-id-7",
            source="aws",
        ),
    }


@pytest.mark.django_db
def test_each_filter_narrows_the_list(estate, owner, team, other_team):
    assert names({"kind": "bot"}) == ["fresh-prod-bot", "stale-prod-bot"]
    assert names({"status": "discovered"}) == ["orphan-key"]
    assert names({"risk_tier": "critical"}) == ["never-used-prod-agent"]
    assert names({"owner": "owner"}) == ["dev-copilot", "stale-prod-bot"]
    assert names({"team": "payments"}) == ["fresh-prod-bot", "never-used-prod-agent", "orphan-key"]
    assert names({"environment": "staging"}) == ["fresh-prod-bot"]
    assert names({"no_owner": "true"}) == ["orphan-key"]
    assert names({"review_overdue": "true"}) == ["dev-copilot"]


@pytest.mark.django_db
def test_unused_for_n_days_counts_never_used(estate):
    assert names({"unused_days": "90"}) == [
        "dev-copilot",
        "never-used-prod-agent",
        "orphan-key",
        "stale-prod-bot",
    ]
    assert names({"unused_days": "150"}) == ["never-used-prod-agent", "orphan-key", "stale-prod-bot"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "term,expected",
    [
        ("copilot", ["dev-copilot"]),  # product
        ("gpt-4.1", ["dev-copilot"]),  # model
        ("incident", ["never-used-prod-agent"]),  # purpose
        ("AKIA-like", ["orphan-key"]),  # external id
        ("internal", ["stale-prod-bot"]),  # vendor, case-insensitive
    ],
)
def test_search_looks_in_name_vendor_product_model_purpose_external_id(estate, term, expected):
    assert names({"search": term}) == expected


@pytest.mark.django_db
def test_filters_search_and_sort_combine(estate):
    params = {"environment": "prod", "unused_days": "90", "ordering": "-risk_tier"}
    assert names(params) == ["never-used-prod-agent", "stale-prod-bot", "orphan-key"]
    params = {"environment": "prod", "kind": "bot", "search": "prod", "ordering": "-last_used_at"}
    assert names(params) == ["fresh-prod-bot", "stale-prod-bot"]


@pytest.mark.django_db
def test_sorting_by_tier_follows_severity_not_alphabet(estate):
    tiers = [Identity.objects.get(name=n).risk_tier for n in names({"ordering": "risk_tier"})]
    order = ["low", "medium", "high", "critical"]
    assert tiers == sorted(tiers, key=order.index)


@pytest.mark.django_db
def test_sorting_by_last_used_puts_never_used_as_oldest(estate):
    assert names({"ordering": "last_used_at", "kind": "bot"})[0] == "stale-prod-bot"
    ordered = names({"ordering": "last_used_at"})
    assert set(ordered[:2]) == {"never-used-prod-agent", "orphan-key"}
    assert ordered[-1] == "fresh-prod-bot"


@pytest.mark.django_db
def test_list_page_filters_and_htmx_returns_only_the_results(client, iam, estate):
    client.force_login(iam)
    page = client.get("/inventory/?environment=prod&unused_days=90").content.decode()
    assert "stale-prod-bot" in page and "fresh-prod-bot" not in page and "<html" in page
    fragment = client.get("/inventory/?kind=bot", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and "fresh-prod-bot" in fragment and "dev-copilot" not in fragment


@pytest.mark.django_db
def test_sort_headers_toggle_direction_and_keep_filters(client, iam, estate):
    client.force_login(iam)
    page = client.get("/inventory/?kind=bot&ordering=name").content.decode()
    assert "kind=bot&amp;ordering=-name" in page
    assert 'aria-sort="ascending"' in page


@pytest.mark.django_db
def test_owner_lands_on_mine_and_can_switch_to_all(client, owner, estate):
    client.force_login(owner)
    mine = client.get("/inventory/").content.decode()
    assert "stale-prod-bot" in mine and "dev-copilot" in mine and "fresh-prod-bot" not in mine
    everything = client.get("/inventory/?mine=false").content.decode()
    assert "fresh-prod-bot" in everything
    # In "All", what the owner owns comes first.
    assert everything.index("dev-copilot") < everything.index("fresh-prod-bot")
    assert everything.index("stale-prod-bot") < everything.index("fresh-prod-bot")


@pytest.mark.django_db
def test_empty_state_when_nothing_matches(client, iam, estate):
    client.force_login(iam)
    assert (
        "No identities match these filters." in client.get("/inventory/?search=zzz-nothing").content.decode()
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status", [("owner", 200), ("iam", 200), ("auditor", 200), ("outsider", 403)]
)
def test_list_page_by_role(client_as, username, status):
    assert client_as(username).get("/inventory/").status_code == status


def _many(count):
    team = TeamFactory(slug="bulk")
    owner = UserFactory(username="bulk-owner", team=team)
    backup = UserFactory(username="bulk-backup", team=team)
    for n in range(count):
        IdentityFactory(
            name=f"bulk-{n:03d}", owner=owner, backup_owner=backup, team=team, environments=["prod"]
        )


@pytest.mark.django_db
@pytest.mark.parametrize("count", [3, 30])
def test_list_page_query_count_is_fixed(client, iam, django_assert_num_queries, count):
    _many(count)
    client.force_login(iam)
    with django_assert_num_queries(7):  # 6, plus the viewer's list preference (columns, saved filters)
        response = client.get("/inventory/?environment=prod&ordering=-last_used_at")
    assert response.status_code == 200 and response.content.decode().count("bulk-0") == count


@pytest.mark.django_db
@pytest.mark.parametrize("count", [3, 30])
def test_api_list_query_count_is_fixed(api_as, iam, django_assert_num_queries, count):
    _many(count)
    client = api_as(iam)
    with django_assert_num_queries(3):
        body = client.get("/api/v1/identities/?environment=prod").json()
    assert body["count"] == count


@pytest.mark.django_db
def test_csv_export_streams_the_filtered_list_and_defuses_formulas(client, auditor, owner):
    IdentityFactory(name='=HYPERLINK("http://evil")', owner=owner, purpose="+cmd", environments=["prod"])
    IdentityFactory(name="dev-only", owner=owner, environments=["dev"])
    client.force_login(auditor)
    response = client.get("/inventory/export.csv?environment=prod")
    assert response.status_code == 200 and response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["name"] for r in rows] == ['\'=HYPERLINK("http://evil")']
    assert rows[0]["purpose"] == "'+cmd" and rows[0]["owner"] == "owner" and rows[0]["environments"] == "prod"


@pytest.mark.django_db
def test_empty_form_fields_are_ignored_and_invalid_filters_are_explained(client, iam, estate):
    client.force_login(iam)
    page = client.get(
        "/inventory/?search=&kind=&status=&risk_tier=&environment=prod&team=&unused_days=90"
    ).content.decode()
    assert "stale-prod-bot" in page and "fresh-prod-bot" not in page
    assert "Some filters are not valid" in client.get("/inventory/?kind=robot").content.decode()
