"""The dashboard page: what each role sees, cards that load on their own, trends, and fixed query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.dashboard.snapshot import take_snapshot
from governance.jobs.models import PostureSnapshot
from inventory.models import Identity
from tests.governance.dashboard_estate import build_estate

pytestmark = pytest.mark.django_db

POSTURE_CARDS = ["identities", "ownership", "credentials", "stale", "findings", "ai", "revocation"]
# Queries per request, whatever the estate size (session, user and roles included); a ?team= adds one
# (checking the team exists).
CARD_QUERIES = {
    "mine": 5,
    "my-work": 10,  # + active exceptions count and the soon-expiring list, reviews and transfers waiting
    "queue": 8,  # + exceptions expiring within 14 days and campaigns in progress
    "identities": 4,
    "ownership": 4,
    "credentials": 4,
    "stale": 5,  # + the current policy
    "findings": 4,
    "ai": 4,
    "revocation": 4,
    "trends": 4,
}


def _cards(response) -> set[str]:
    body = response.content.decode()
    return {name for name in [*CARD_QUERIES, "controls"] if f'data-testid="card-{name}"' in body}


def test_a_tool_owner_sees_their_own_work_and_no_estate_figures(client, owner):
    client.force_login(owner)
    response = client.get("/")
    assert response.status_code == 200
    assert _cards(response) == {"mine", "my-work"}
    assert client.get("/dashboard/card/identities/").status_code == 403
    assert client.get("/dashboard/trends.json").status_code == 403


@pytest.mark.parametrize(
    ("role", "extra"),
    [("iam", {"queue"}), ("security", {"queue"}), ("auditor", {"controls"})],
)
def test_governors_and_auditors_see_their_queue_or_controls_and_the_posture(client, role_users, role, extra):
    client.force_login(role_users[role])
    response = client.get("/")
    assert _cards(response) == {"mine", "my-work", "trends", *POSTURE_CARDS, *extra}
    assert 'hx-trigger="load"' in response.content.decode()


def test_auditors_cannot_open_the_governance_queue_and_governors_not_the_controls(client, auditor, iam):
    client.force_login(auditor)
    assert client.get("/dashboard/card/queue/").status_code == 403
    assert client.get("/dashboard/card/controls/").status_code == 200
    client.force_login(iam)
    assert client.get("/dashboard/card/controls/").status_code == 403
    assert client.get("/dashboard/card/nope/").status_code == 404


def test_each_card_has_a_spinner_and_a_real_fallback_link_that_opens_a_full_page(client, iam):
    client.force_login(iam)
    body = client.get("/").content.decode()
    for name in ["mine", "queue", *POSTURE_CARDS, "trends"]:
        assert f'hx-get="/dashboard/card/{name}/' in body
        assert f'<a href="/dashboard/card/{name}/' in body
    assert "spinner-border" in body
    page = client.get("/dashboard/card/findings/")
    assert page.status_code == 200 and b"<nav" in page.content  # full page for people without htmx
    fragment = client.get("/dashboard/card/findings/", HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content


def test_the_team_selector_scopes_the_posture_cards(client, iam, owner, owner2):
    build_estate(owner, owner2)
    client.force_login(iam)
    body = client.get("/?team=payments").content.decode()
    assert 'hx-get="/dashboard/card/identities/?team=payments"' in body
    assert 'hx-get="/dashboard/card/mine/"' in body  # personal cards are never team-scoped
    estate = client.get("/dashboard/card/ownership/", HTTP_HX_REQUEST="true").content.decode()
    payments = client.get("/dashboard/card/ownership/?team=payments", HTTP_HX_REQUEST="true").content.decode()
    live = Identity.objects.live()
    assert f'data-figure="live">{live.count()}<' in estate
    assert f'data-figure="live">{live.filter(team__slug="payments").count()}<' in payments
    assert live.filter(team__slug="payments").count() < live.count()
    # An unknown team is ignored rather than showing an empty estate.
    assert 'hx-get="/dashboard/card/identities/"' in client.get("/?team=nope").content.decode()


def test_the_queue_shows_the_pending_count_and_the_oldest_age(client, iam, owner):
    from django.contrib.contenttypes.models import ContentType

    from approvals.models import ApprovalRequest
    from tests.factories import IdentityFactory

    ct = ContentType.objects.get_for_model(Identity)
    for days in (1, 6):
        identity = IdentityFactory(owner=owner)
        ApprovalRequest.objects.create(
            kind="test",
            content_type=ct,
            object_id=identity.pk,
            title="t",
            requester=owner,
            tier="low",
            submitted_at=timezone.now() - timedelta(days=days, hours=1),
        )
    client.force_login(iam)
    body = client.get("/dashboard/card/queue/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-figure="queue">2<' in body
    assert "oldest 6 days" in body


@pytest.mark.parametrize("scale", [1, 4])
def test_every_card_runs_a_fixed_number_of_queries_whatever_the_estate_size(
    client, iam, owner, owner2, scale, django_assert_num_queries, django_assert_max_num_queries
):
    build_estate(owner, owner2, scale)
    take_snapshot(timezone.now())
    client.force_login(iam)
    client.get("/")  # warm the session
    with django_assert_max_num_queries(4):
        assert client.get("/").status_code == 200
    for name, expected in CARD_QUERIES.items():
        for query in ("", "?team=platform"):
            with django_assert_num_queries(expected + (1 if query and name in POSTURE_CARDS else 0)):
                assert (
                    client.get(f"/dashboard/card/{name}/{query}", HTTP_HX_REQUEST="true").status_code == 200
                )
    with django_assert_num_queries(4):
        client.get("/dashboard/trends.json?days=365")


def test_trends_json_returns_the_snapshots_in_the_chosen_period(client, auditor):
    today = timezone.localdate()
    for back, live in ((0, 12), (20, 10), (60, 7), (200, 3)):
        PostureSnapshot.objects.create(
            date=today - timedelta(days=back), figures={"live_identities": live, "open_findings": back}
        )
    client.force_login(auditor)
    data = client.get("/dashboard/trends.json?days=30").json()
    assert data["days"] == 30
    assert data["dates"] == [(today - timedelta(days=20)).isoformat(), today.isoformat()]
    series = {s["key"]: s["values"] for s in data["series"]}
    assert series["live_identities"] == [10, 12]
    assert series["review_overdue"] == [None, None]  # older snapshots lack newer figures
    assert len(client.get("/dashboard/trends.json?days=365").json()["dates"]) == 4
    assert client.get("/dashboard/trends.json?days=abc").json()["days"] == 30


def test_the_trend_chart_has_a_table_fallback(client, auditor):
    PostureSnapshot.objects.create(date=timezone.localdate(), figures={"live_identities": 42})
    client.force_login(auditor)
    body = client.get("/dashboard/card/trends/?days=90").content.decode()
    assert 'data-trends-url="/dashboard/trends.json?days=90"' in body
    assert 'data-testid="trend-table"' in body and ">42<" in body
    empty = PostureSnapshot.objects.all().delete()
    assert empty and "No daily snapshots yet" in client.get("/dashboard/card/trends/").content.decode()


@pytest.mark.parametrize("scale", [1, 4])
def test_the_auditors_controls_card_runs_a_fixed_number_of_queries(
    client, auditor, owner, owner2, scale, django_assert_num_queries
):
    build_estate(owner, owner2, scale)
    client.force_login(auditor)
    client.get("/")  # warm the session
    with django_assert_num_queries(12):  # session, user, roles + the controls and their live status
        assert client.get("/dashboard/card/controls/", HTTP_HX_REQUEST="true").status_code == 200


def test_the_auditors_controls_card_shows_each_controls_live_status(client, auditor, owner):
    from tests.factories import IdentityFactory, UserFactory

    today = timezone.localdate()
    IdentityFactory(owner=owner, next_review_due=today + timedelta(days=10))
    IdentityFactory(owner=owner, next_review_due=today - timedelta(days=1))
    IdentityFactory(owner=UserFactory(is_active=False), next_review_due=today + timedelta(days=3))
    IdentityFactory(owner=owner, status="suspended", next_review_due=today - timedelta(days=9))
    client.force_login(auditor)
    body = client.get("/dashboard/card/controls/", HTTP_HX_REQUEST="true").content.decode()
    # 3 active identities (the suspended one is not counted): 2 reviewed on time, 1 overdue; 1 orphaned
    assert "67% of active identities reviewed on time; 1 overdue" in body
    assert "67% of active identities have an active owner; 1 orphaned" in body
    assert body.count('<li class="list-group-item" data-code="STW-') == 9
    assert 'href="/evidence/controls/#STW-03"' in body
    # STW-02 and STW-03 need attention; so do approvals (factory identities carry no approval)
    healthy = body.count(">OK</span>")
    assert f"{healthy} of 9 OK" in body and healthy < 9
    controls_page = client.get("/evidence/controls/").content.decode()
    assert 'id="STW-03"' in controls_page


@pytest.mark.django_db
@pytest.mark.parametrize("role, invited", [("owner2", True), ("auditor", False)])
def test_an_empty_my_identities_card_invites_a_request_only_from_who_may_file_one(
    client, role_users, role, invited
):
    client.force_login(role_users[role])
    body = client.get("/dashboard/card/mine/", HTTP_HX_REQUEST="true").content.decode()
    assert "You own no identities" in body
    assert ('href="/intake/new/"' in body) is invited
