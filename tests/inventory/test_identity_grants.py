"""The identity page's grants table: current grants first, the first 25 shown, the rest one click away."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory.views.identities import GRANTS_SHOWN
from tests.factories import GrantFactory, IdentityFactory


def grant_rows(html: str) -> list[str]:
    """The resource names of the grant rows in `html`, in order."""
    rows = re.findall(r'<tr[^>]*data-testid="grant">(.*?)</tr>', html, re.S)
    return [re.search(r'<span class="mono">([^<]+)</span>', row).group(1) for row in rows]


def section(html: str, testid: str) -> str:
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</tbody>", start)]


def make_grants(identity, current: int, ended: int, expired: int) -> None:
    now = timezone.now()
    for n in range(current):
        GrantFactory(identity=identity, resource_name=f"org/live-{n:03}")
    for n in range(ended):
        # Named to sort before every current grant: ended ones must still come after them.
        GrantFactory(
            identity=identity,
            resource_name=f"aaa/ended-{n:03}",
            ended_at=now - timedelta(days=n + 1),
            end_reason=f"removed in review {n}",
        )
    for n in range(expired):
        GrantFactory(
            identity=identity, resource_name=f"aaa/expired-{n:03}", expires_at=now - timedelta(hours=1)
        )


def page_with_grants(client, viewer, owner, **counts) -> str:
    """The page of a new identity of `owner` with that many current, ended and expired grants."""
    identity = IdentityFactory(owner=owner)
    make_grants(identity, **counts)
    client.force_login(viewer)
    return client.get(f"/inventory/{identity.pk}/").content.decode()


@pytest.fixture
def busy(owner):
    identity = IdentityFactory(name="busy-bot", owner=owner)
    make_grants(identity, current=30, ended=3, expired=2)
    return identity


@pytest.mark.django_db
def test_page_shows_the_first_current_grants_and_counts_the_rest(client, iam, busy):
    client.force_login(iam)
    page = client.get(f"/inventory/{busy.pk}/").content.decode()
    shown = grant_rows(page)
    assert shown == [f"org/live-{n:03}" for n in range(GRANTS_SHOWN)]
    assert "30 current, 5 ended or expired" in page
    assert f"{GRANTS_SHOWN} of 30 current grants shown" in page
    assert "Show all 30 current grants" in page and "Show 5 ended or expired grants" in page
    # Ended and expired grants are counted, not rendered, until asked for.
    assert "aaa/ended-000" not in page and "aaa/expired-000" not in page


@pytest.mark.django_db
def test_show_all_fragment_returns_every_current_grant(client, iam, busy):
    client.force_login(iam)
    response = client.get(f"/inventory/{busy.pk}/?grants=current", HTTP_HX_REQUEST="true")
    fragment = response.content.decode()
    assert response.status_code == 200 and "<html" not in fragment
    assert grant_rows(fragment) == [f"org/live-{n:03}" for n in range(30)]
    assert "Show all" not in fragment  # the control it replaces does not come back


@pytest.mark.django_db
def test_ended_fragment_lists_ended_and_expired_grants_latest_first_with_their_reason(client, iam, busy):
    client.force_login(iam)
    fragment = client.get(f"/inventory/{busy.pk}/?grants=ended", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment
    # Expired an hour ago, then ended one, two and three days ago.
    assert grant_rows(fragment) == [
        "aaa/expired-000",
        "aaa/expired-001",
        "aaa/ended-000",
        "aaa/ended-001",
        "aaa/ended-002",
    ]
    assert "removed in review 0" in fragment and fragment.count("expired ") == 2
    assert fragment.count('class="text-secondary" data-testid="grant"') == 5


@pytest.mark.django_db
def test_without_javascript_the_show_links_open_every_grant(client, iam, busy):
    client.force_login(iam)
    page = client.get(f"/inventory/{busy.pk}/").content.decode()
    assert 'href="?grants=all#grants-card" hx-get="?grants=current"' in page
    assert 'href="?grants=all#grants-card" hx-get="?grants=ended"' in page
    everything = client.get(f"/inventory/{busy.pk}/?grants=all").content.decode()
    assert "<html" in everything
    assert grant_rows(section(everything, "current-grants")) == [f"org/live-{n:03}" for n in range(30)]
    assert len(grant_rows(section(everything, "ended-grants"))) == 5
    assert "Show all" not in everything and 'data-testid="show-ended-grants"' not in everything


@pytest.mark.django_db
def test_a_few_current_grants_show_without_controls(client, iam, owner):
    page = page_with_grants(client, iam, owner, current=3, ended=0, expired=0)
    assert len(grant_rows(page)) == 3 and "3 current</span>" in page
    assert "Show all" not in page and 'data-testid="ended-grants"' not in page


@pytest.mark.django_db
def test_an_identity_with_only_ended_grants_says_it_reaches_nothing_now(client, iam, owner):
    page = page_with_grants(client, iam, owner, current=0, ended=1, expired=0)
    assert "0 current, 1 ended or expired" in page
    assert "No current grants: this identity may reach nothing now." in page
    assert "Show 1 ended or expired grant<" in page and grant_rows(page) == []


@pytest.mark.django_db
def test_grant_rows_show_translated_kind_and_origin_labels(client, iam, owner):
    identity = IdentityFactory(owner=owner)
    GrantFactory(
        identity=identity, resource_kind="ci_pipeline", origin="jit", resource_name="platform/release"
    )
    client.force_login(iam)
    page = client.get(f"/inventory/{identity.pk}/").content.decode()
    assert '<span class="text-secondary small">CI pipeline</span>' in page
    assert '<td class="small">just-in-time</td>' in page


@pytest.mark.django_db
def test_grant_fragments_follow_the_page_rules(client, outsider, iam, busy):
    client.force_login(outsider)
    assert client.get(f"/inventory/{busy.pk}/?grants=current", HTTP_HX_REQUEST="true").status_code == 403
    client.force_login(iam)
    assert client.get("/inventory/999999/?grants=ended", HTTP_HX_REQUEST="true").status_code == 404


def _queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url, **headers).status_code == 200
    return len(queries)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query,headers",
    [("", {}), ("?grants=all", {}), ("?grants=current", {"HTTP_HX_REQUEST": "true"}),
     ("?grants=ended", {"HTTP_HX_REQUEST": "true"})],
)  # fmt: skip
def test_query_count_does_not_grow_with_the_grants(client, iam, owner, query, headers):
    few = IdentityFactory(owner=owner)
    make_grants(few, current=4, ended=1, expired=0)
    many = IdentityFactory(owner=owner)
    make_grants(many, current=50, ended=6, expired=4)
    client.force_login(iam)
    _queries(client, f"/inventory/{few.pk}/{query}", **headers)  # warm the session and caches
    assert _queries(client, f"/inventory/{few.pk}/{query}", **headers) == _queries(
        client, f"/inventory/{many.pk}/{query}", **headers
    )
