"""The credentials list (/credentials/): states, kinds, age bands; bad filters explained; roles; queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.people.models import Role
from inventory.models import Identity
from tests.factories import CredentialFactory, IdentityFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.django_db

LABEL = re.compile(r'<span class="mono">([^<]*)</span>')  # the credential cell of each row


def labels(client, query: str = "") -> set[str]:
    response = client.get(f"/credentials/{query}")
    assert response.status_code == 200, query
    body = response.content.decode()
    assert "Some filters are not valid" not in body, query
    return set(LABEL.findall(body))


@pytest.fixture
def estate(owner, owner2):
    """One credential per case, named for it; `owner` owns the platform ones, `owner2` the payments ones."""
    now = timezone.now()
    day = timedelta(days=1)
    mine = IdentityFactory(name="ci-deployer", owner=owner)
    theirs = IdentityFactory(name="payments-bot", owner=owner2, kind="bot")
    gone = IdentityFactory(name="old-agent", owner=owner, status="decommissioned")
    made = [
        CredentialFactory(identity=mine, label="fresh-key", issued_at=now - 10 * day),
        CredentialFactory(
            identity=mine,
            label="rotated-pat",
            kind="pat",
            issued_at=now - 500 * day,
            last_rotated_at=now - 100 * day,
        ),
        CredentialFactory(
            identity=mine, label="oidc-trust", kind="oidc_federation", issued_at=now - 200 * day
        ),
        CredentialFactory(
            identity=theirs, label="ancient-password", kind="password", issued_at=now - 400 * day
        ),
        CredentialFactory(identity=theirs, label="svid", kind="spiffe_svid", issued_at=None),
        CredentialFactory(identity=theirs, label="pending-key", revoked_at=now - 3 * day),
        CredentialFactory(
            identity=mine,
            label="confirmed-key",
            revoked_at=now - 2 * day,
            revocation_confirmed_at=now - 2 * day + timedelta(hours=6),
            revocation_confirmed_by="iam",
        ),
        # Not revoked, but its identity is decommissioned: not "live", not revoked either.
        CredentialFactory(identity=gone, label="orphan-key", issued_at=now - 5 * day),
        CredentialFactory(identity=gone, label="gone-revoked", revoked_at=now - day),
    ]
    return {c.label: c for c in made}


LIVE = {"fresh-key", "rotated-pat", "oidc-trust", "ancient-password", "svid"}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", LIVE | {"pending-key", "confirmed-key", "orphan-key", "gone-revoked"}),
        ("?state=live", LIVE),
        ("?state=revoked", {"pending-key", "confirmed-key", "gone-revoked"}),
        ("?state=revocation_pending", {"pending-key", "gone-revoked"}),
        ("?state=revocation_confirmed", {"confirmed-key"}),
        ("?kind=pat&kind=password", {"rotated-pat", "ancient-password"}),
        ("?state=live&kind_class=federated", {"oidc-trust", "svid"}),
        ("?state=live&kind_class=static", {"fresh-key", "rotated-pat", "ancient-password"}),
        ("?state=live&age_band=0-90", {"fresh-key"}),
        ("?state=live&age_band=91-180", {"rotated-pat"}),  # the rotation counts, not the issue
        ("?state=live&age_band=181-365", {"oidc-trust"}),
        ("?state=live&age_band=%3E365", {"ancient-password"}),
        ("?state=live&age_band=unknown", {"svid"}),
        ("?team=payments", {"ancient-password", "svid", "pending-key"}),
        ("?q=PAYMENTS", {"ancient-password", "svid", "pending-key"}),
        ("?q=ci-dep&state=live&kind_class=static", {"fresh-key", "rotated-pat"}),
        (
            "?state=&kind=&age_band=&team=&q=",
            LIVE | {"pending-key", "confirmed-key", "orphan-key", "gone-revoked"},
        ),
    ],
)
def test_each_filter_lists_exactly_its_credentials(client, iam, estate, query, expected):
    client.force_login(iam)
    assert labels(client, query) == expected


def test_the_list_shows_identity_team_kind_age_and_status_but_never_a_secret(client, auditor, estate, owner):
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    CredentialFactory(identity=estate["fresh-key"].identity, label=secret)  # written past the guard
    client.force_login(auditor)
    body = client.get("/credentials/").content.decode()
    assert secret not in body and "…Q7r8" in body
    identity = estate["fresh-key"].identity
    assert f'href="{identity.get_absolute_url()}"' in body and '<td class="small">Platform</td>' in body
    assert 'badge text-bg-success">federated' in body and 'badge text-bg-warning">static' in body
    assert 'data-age-band="91-180"' in body and 'data-age-band="unknown"' in body
    assert "revoked — confirmed" in body and "after 6" in body  # the lag, revoked -> confirmed
    assert "revoked — confirmation pending" in body
    assert "identity decommissioned" in body  # the unrevoked credential of a decommissioned identity


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?state=gone", "state"),
        ("?kind=robot", "kind"),
        ("?kind_class=quantum", "kind_class"),
        ("?age_band=9000", "age_band"),
        ("?team=no-such-team", "team"),
    ],
)
def test_a_bad_filter_value_is_explained_not_a_server_error(client, iam, estate, query, field):
    client.force_login(iam)
    response = client.get(f"/credentials/{query}")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Some filters are not valid" in body and f"<strong>{field}</strong>" in body
    assert "Select a valid choice" in body
    assert not LABEL.findall(body)  # nothing listed under a filter that was not understood


def test_a_bad_page_number_shows_a_page_not_an_error(client, iam, estate):
    client.force_login(iam)
    assert client.get("/credentials/?page=abc").status_code == 200
    assert client.get("/credentials/?page=999").status_code == 200


def test_empty_state_when_nothing_matches(client, iam, estate):
    client.force_login(iam)
    body = client.get("/credentials/?q=zzz-nothing").content.decode()
    assert "No credentials match these filters." in body and "credentials-table" not in body


def test_htmx_gets_only_the_results(client, iam, estate):
    client.force_login(iam)
    fragment = client.get("/credentials/?state=live", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in fragment and 'data-testid="credentials-table"' in fragment
    assert set(LABEL.findall(fragment)) == LIVE


def test_pages_of_fifty_keep_the_filters(client, iam):
    identity = IdentityFactory(name="many-keys")
    for n in range(55):
        CredentialFactory(identity=identity, label=f"k-{n:02d}")
    client.force_login(iam)
    first = client.get("/credentials/?state=live").content.decode()
    assert len(LABEL.findall(first)) == 50 and "55 in all" in first
    assert "?state=live&page=2" in first
    second = client.get("/credentials/?state=live&page=2").content.decode()
    assert len(LABEL.findall(second)) == 5


def test_an_owner_lands_on_their_own_credentials_and_can_switch_to_all(client, owner, owner2, estate):
    client.force_login(owner)
    assert labels(client) == {
        "fresh-key",
        "rotated-pat",
        "oidc-trust",
        "confirmed-key",
        "orphan-key",
        "gone-revoked",
    }
    everything = labels(client, "?mine=false")
    assert {"ancient-password", "svid", "pending-key"} <= everything
    client.force_login(owner2)
    assert labels(client, "?mine=true") == {"ancient-password", "svid", "pending-key"}


def test_a_backup_owner_sees_the_credentials_they_back_up_as_theirs(client, owner, estate):
    backup = UserFactory(username="backup", roles=[Role.OWNER], team=owner.team)
    estate["svid"].identity.backup_owner = backup
    estate["svid"].identity.save()
    client.force_login(backup)
    assert labels(client) == {"ancient-password", "svid", "pending-key"}


@pytest.mark.parametrize(
    ("username", "status"),
    [("owner", 200), ("owner2", 200), ("iam", 200), ("security", 200), ("auditor", 200), ("outsider", 403)],
)
def test_who_may_read_the_inventory_may_read_the_credentials(client_as, estate, username, status):
    client = client_as(username)
    assert client.get("/credentials/?mine=false").status_code == status
    assert client.get("/inventory/?mine=false").status_code == status  # the same rule


def test_anonymous_visitors_are_sent_to_log_in(client, estate):
    response = client.get("/credentials/?state=live")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_the_navigation_links_the_credentials_list_for_members(client, auditor, outsider):
    client.force_login(auditor)
    assert 'href="/credentials/" data-nav="credentials"' in client.get("/credentials/").content.decode()
    client.force_login(outsider)
    assert 'data-nav="credentials"' not in client.get("/").content.decode()


def _many(count: int) -> None:
    team = TeamFactory(slug="bulk", name="Bulk")
    owner = UserFactory(username="bulk-owner", team=team)
    for n in range(count):
        identity = IdentityFactory(name=f"bulk-{n:03d}", owner=owner, team=team)
        CredentialFactory(
            identity=identity, label=f"bulk-key-{n:03d}", issued_at=timezone.now() - timedelta(days=n)
        )


def _queries_for(client, query: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(query)
    assert response.status_code == 200
    return len(captured)


def test_the_list_runs_a_fixed_number_of_queries_whatever_the_rows(
    client, iam, django_assert_max_num_queries
):
    query = "/credentials/?state=live&kind_class=static&team=bulk&q=bulk"
    client.force_login(iam)
    client.get("/credentials/")  # warm the session
    _many(1)
    one = _queries_for(client, query)
    Identity.objects.filter(name__startswith="bulk-").delete()  # and their credentials
    _many(40)
    with django_assert_max_num_queries(one):
        body = client.get(query).content.decode()
    assert body.count("bulk-key-") == 40
    # session, user, roles; the team filter's lookup, the count, the page, the team choices; the viewer's
    # list preference (columns, saved filters)
    assert one == 8, one


@pytest.mark.parametrize("query", ["", "mine=false", "kind=pat", "state=revoked"])
def test_live_then_revoked_pages_are_the_lists_order_page_by_page(client, rf, iam, monkeypatch, query):
    """Unfiltered, live credentials page by identity name and revoked ones after them by when
    (governance.paging.GroupsPaginator): the same rows, page for page, as sorting the whole list."""
    from django.http import QueryDict

    from inventory.views import credentials

    now = timezone.now()
    for n in range(9):
        identity = IdentityFactory(name=f"agent-{(n * 5) % 9}")
        CredentialFactory(identity=identity, label=f"live-{n}", kind="pat" if n % 2 else "static_key")
        CredentialFactory(
            identity=identity, label=f"gone-{n}", kind="pat", revoked_at=now - timedelta(days=n)
        )
    monkeypatch.setattr(credentials, "PAGE_SIZE", 4)
    client.force_login(iam)
    request = rf.get(f"/credentials/?{query}")
    request.user = iam
    expected = [c.label for c in credentials._filtered(request, QueryDict(query))[1]]  # sorted whole
    shown = []
    for page in range(1, 7):
        response = client.get(f"/credentials/?{query}&page={page}")
        shown += [c.label for c in response.context["page"].object_list]
        grouped = type(response.context["page"].paginator).__name__ == "GroupsPaginator"
        assert grouped is (query in ("", "mine=false"))  # a filter sorts the whole list, as before
        if not response.context["page"].has_next():
            break
    assert shown == expected and len(expected) == {"": 18, "mine=false": 18, "kind=pat": 13}.get(query, 9)
