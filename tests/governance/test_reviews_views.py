"""Review pages: my reviews, the item page with htmx decisions, campaign pages, report, CSV."""

import csv
import io
from datetime import timedelta

import pytest
from django.template import Context, Template
from django.utils import timezone

from governance.models import AuditEvent
from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.services import decide, launch_campaign, record_shown
from inventory.models import Identity, UsageEvent
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory, UserFactory

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def campaign(iam, owner, owner2):
    high = IdentityFactory(owner=owner, name="deploy-agent", risk_tier="high")
    GrantFactory(identity=high, resource_name="org/api", actions=["deploy", "read_code"])
    CredentialFactory(identity=high, label="deploy-key")
    UsageEvent.objects.create(
        identity=high,
        at=timezone.now() - timedelta(days=2),
        action="read_code",
        resource_kind="repository",
        resource_name="org/api",
        identity_status="active",
    )
    IdentityFactory(owner=owner, name="low-helper", risk_tier="low")
    IdentityFactory(owner=owner2, name="other-bot", risk_tier="low")
    return launch_campaign(iam, "Q1 review", {}, "2099-01-31")


def item_of(campaign, name):
    return campaign.items.get(identity__name=name)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "username,status", [("owner", 200), ("iam", 200), ("auditor", 200), ("security", 200), ("outsider", 403)]
)
def test_my_reviews_page_by_role(client_as, campaign, username, status):
    assert client_as(username).get("/reviews/").status_code == status


@pytest.mark.django_db
def test_my_reviews_lists_my_open_items_with_counts_and_due_dates(client, owner, campaign):
    client.force_login(owner)
    page = client.get("/reviews/").content.decode()
    assert "deploy-agent" in page and "low-helper" in page and "other-bot" not in page
    assert "2099-01-31" in page and "Q1 review" in page
    fragment = client.get("/reviews/?risk_tier=high", **HTMX).content.decode()
    assert "<html" not in fragment and "deploy-agent" in fragment and "low-helper" not in fragment


@pytest.mark.django_db
def test_my_reviews_empty_state(client, owner2):
    client.force_login(owner2)
    assert "No review is waiting for you" in client.get("/reviews/").content.decode()


@pytest.mark.django_db
def test_listing_low_tier_items_records_them_as_shown_for_bulk_certify(client, owner, campaign):
    low, high = item_of(campaign, "low-helper"), item_of(campaign, "deploy-agent")
    client.force_login(owner)
    response = client.post("/reviews/bulk-certify/", {"items": [low.pk]}, follow=True)
    assert "never displayed" in response.content.decode()
    client.get("/reviews/")
    low.refresh_from_db()
    high.refresh_from_db()
    assert low.shown_at is not None and high.shown_at is None
    response = client.post("/reviews/bulk-certify/", {"items": [low.pk], "reason": "in use"}, follow=True)
    assert "Certified 1 low-tier item" in response.content.decode()
    low.refresh_from_db()
    assert low.decision == "certify" and low.reason == "in use"


@pytest.mark.django_db
def test_item_page_shows_grants_usage_credentials_and_empty_states(client, owner, campaign):
    item = item_of(campaign, "deploy-agent")
    client.force_login(owner)
    page = client.get(item.get_absolute_url()).content.decode()
    assert "org/api" in page and "read_code × 1" in page and "never used: deploy" in page
    assert "deploy-key" in page
    assert "No open findings." in page and "No active exception" in page
    assert "Record decision" in page
    item.refresh_from_db()
    assert item.shown_at is not None  # opening it counts as displaying it to the reviewer


@pytest.mark.django_db
def test_item_page_shows_findings_and_the_exception_covering_one(client, iam, owner, security):
    from governance.exceptions import services as exceptions
    from governance.findings.sweep import run_sweep
    from tests.governance.exceptions_support import RULE, old_key_identity, request

    identity = old_key_identity(owner, name="legacy-bot")
    run_sweep()
    exc = exceptions.approve(security, request(owner, identity, days=20))
    run_sweep()
    item = launch_campaign(iam, "Q2", {}, "2099-01-31").items.get(identity=identity)

    client.force_login(owner)
    page = client.get(item.get_absolute_url()).content.decode()

    assert 'data-testid="live-findings"' in page
    assert f'<li data-rule="{RULE}">' in page and "Credential rotation overdue" in page
    assert f'<a href="/exceptions/{exc.pk}/">exception #{exc.pk}</a>' in page  # beside the suppressed one
    assert 'data-testid="review-exceptions"' in page and "Legacy bot cannot use OIDC" in page
    assert "exception #" not in page.split('data-rule="credential_no_expiry"')[1].split("</li>")[0]


@pytest.mark.django_db
@pytest.mark.parametrize("username,status", [("owner2", 403), ("outsider", 403), ("auditor", 200)])
def test_item_page_visibility(client_as, campaign, username, status):
    assert client_as(username).get(item_of(campaign, "deploy-agent").get_absolute_url()).status_code == status


@pytest.mark.django_db
def test_auditor_sees_the_item_but_no_decision_form(client, auditor, campaign):
    client.force_login(auditor)
    page = client.get(item_of(campaign, "deploy-agent").get_absolute_url()).content.decode()
    assert "Record decision" not in page and "Waiting for" in page


@pytest.mark.django_db
def test_htmx_revoke_swaps_the_panel_and_suspends(client, owner, campaign):
    item = item_of(campaign, "deploy-agent")
    client.force_login(owner)
    client.get(item.get_absolute_url())
    missing = client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "revoke", "reason": ""}, **HTMX)
    assert missing.status_code == 400 and "Give a reason" in missing.content.decode()
    assert "<html" not in missing.content.decode()
    response = client.post(
        f"/reviews/items/{item.pk}/decide/", {"decision": "revoke", "reason": "replaced by OIDC"}, **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200 and "replaced by OIDC" in body and "remediation pending" in body
    assert "Confirm revocation" not in body  # the decider never confirms their own revoke
    assert "Waiting for IAM or Security" in body
    assert Identity.objects.get(name="deploy-agent").status == "suspended"
    again = client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "certify"}, **HTMX)
    assert again.status_code == 409 and "already decided" in again.content.decode()


@pytest.mark.django_db
def test_plain_post_decision_redirects_back_to_the_item(client, owner, campaign):
    item = item_of(campaign, "low-helper")
    client.force_login(owner)
    response = client.post(
        f"/reviews/items/{item.pk}/decide/", {"decision": "certify", "reason": "used daily"}
    )
    assert response.status_code == 302 and response.url == item.get_absolute_url()
    bad = client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "bogus"})
    assert bad.status_code == 400


@pytest.mark.django_db
def test_decision_refused_for_someone_else(client, owner2, campaign):
    item = item_of(campaign, "other-bot")
    other = item_of(campaign, "low-helper")
    client.force_login(owner2)
    assert client.post(f"/reviews/items/{other.pk}/decide/", {"decision": "certify"}).status_code == 403
    assert client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "certify"}).status_code == 302


@pytest.mark.django_db
def test_closed_campaign_refuses_decisions_in_the_browser(client, owner, iam, campaign):
    item = item_of(campaign, "low-helper")
    client.force_login(iam)
    assert client.post(f"/reviews/campaigns/{campaign.pk}/close/").status_code == 302
    client.force_login(owner)
    response = client.post(f"/reviews/items/{item.pk}/decide/", {"decision": "certify"}, **HTMX)
    assert response.status_code == 409
    assert ReviewItem.objects.get(pk=item.pk).decision == "not_reviewed"


@pytest.mark.django_db
def test_sign_off_and_owner_refused(client, owner, iam, iam2, campaign):
    item = item_of(campaign, "deploy-agent")
    decide(owner, item, "certify", "needed for releases")
    client.force_login(owner)
    assert client.post(f"/reviews/items/{item.pk}/sign-off/", **HTMX).status_code == 403
    client.force_login(iam)
    page = client.get(item.get_absolute_url()).content.decode()
    assert "Sign off this certification" in page
    response = client.post(f"/reviews/items/{item.pk}/sign-off/", **HTMX)
    assert response.status_code == 200 and "signed off by iam" in response.content.decode()


@pytest.mark.django_db
def test_campaign_pages_by_role(client, role_users, campaign):
    for username, status in [("owner", 403), ("auditor", 200), ("iam", 200), ("security", 200)]:
        client.force_login(role_users[username])
        assert client.get("/reviews/campaigns/").status_code == status, username
        assert client.get(campaign.get_absolute_url()).status_code == status, username
        assert client.get(f"/reviews/campaigns/{campaign.pk}/report/").status_code == status, username
        assert client.get(f"/reviews/campaigns/{campaign.pk}/report.csv").status_code == status, username
    client.force_login(role_users["auditor"])
    assert client.post(f"/reviews/campaigns/{campaign.pk}/close/").status_code == 403
    assert client.get("/reviews/campaigns/new/").status_code == 403


@pytest.mark.django_db
def test_launch_form_launches_and_shows_errors(client, iam, owner):
    IdentityFactory(owner=owner, risk_tier="high")
    client.force_login(iam)
    bad = client.post("/reviews/campaigns/new/", {"name": "", "due_at": "2000-01-01"})
    assert bad.status_code == 400
    body = bad.content.decode()
    assert "This field is required" in body
    empty = client.post(
        "/reviews/campaigns/new/", {"name": "Crit", "risk_tiers": ["critical"], "due_at": "2099-01-01"}
    )
    assert empty.status_code == 400 and "No identity in this scope" in empty.content.decode()
    response = client.post(
        "/reviews/campaigns/new/", {"name": "High Q1", "risk_tiers": ["high"], "due_at": "2099-01-01"}
    )
    campaign = ReviewCampaign.objects.get(name="High Q1")
    assert response.status_code == 302 and response.url == campaign.get_absolute_url()
    assert campaign.population_count == 1


@pytest.mark.django_db
def test_campaign_page_shows_progress_reassign_and_rubber_stamp_flag(client, iam, owner, campaign):
    low_items = []
    for n in range(10):
        bot = IdentityFactory(owner=owner, name=f"fast-{n}")
        low_items.append(bot)
    fast = launch_campaign(iam, "Fast", {}, "2099-01-31")
    items = list(fast.items.all())
    record_shown(owner, items)
    for item in items:
        decide(owner, item, "certify", "")
    client.force_login(iam)
    page = client.get(fast.get_absolute_url()).content.decode()
    assert "Possible rubber-stamping" in page and "owner certified 10 items" in page
    page = client.get(campaign.get_absolute_url()).content.decode()
    assert "Possible rubber-stamping" not in page
    assert "By team" in page and "platform" in page and "Reassign" in page


@pytest.mark.django_db
def test_reassign_and_reminders_from_the_campaign_page(client, iam, iam2, owner, campaign, mailoutbox):
    item = item_of(campaign, "low-helper")
    client.force_login(iam)
    response = client.post(f"/reviews/items/{item.pk}/reassign/", {"reviewer": "iam2", "reason": "leave"})
    assert response.status_code == 302
    assert ReviewItem.objects.get(pk=item.pk).reviewer == iam2
    with_mail = client.post(f"/reviews/campaigns/{campaign.pk}/remind/", follow=True)
    assert "Sent 3 reminder(s)" in with_mail.content.decode()
    assert AuditEvent.objects.filter(verb="review.reminders_sent").count() == 1


@pytest.mark.django_db
def test_report_html_and_csv_list_every_item_with_decisions(client, iam, owner, campaign):
    decide(owner, item_of(campaign, "deploy-agent"), "revoke", "=HYPERLINK(bad) no longer used")
    decide(owner, item_of(campaign, "low-helper"), "certify", "used daily")
    client.force_login(iam)
    page = client.get(f"/reviews/campaigns/{campaign.pk}/report/?verify=1").content.decode()
    assert "used daily" in page and "remediation" in page.lower() and "verified" in page
    response = client.get(f"/reviews/campaigns/{campaign.pk}/report.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    by_name = {r["identity_name"]: r for r in rows}
    assert len(rows) == 3
    assert by_name["deploy-agent"]["decision"] == "revoke"
    assert by_name["deploy-agent"]["reason"].startswith("'=")  # no formula injection
    assert by_name["deploy-agent"]["remediation_state"] == "pending"
    assert by_name["low-helper"]["reason"] == "used daily" and by_name["other-bot"]["decision"] == "pending"


@pytest.mark.django_db
def test_pages_run_a_fixed_number_of_queries(client, iam, owner, django_assert_max_num_queries):
    def build(n, tag):
        for i in range(n):
            person = UserFactory(username=f"{tag}-{i}", roles=["Tool owner"])
            bot = IdentityFactory(owner=person, name=f"{tag}-bot-{i}")
            GrantFactory(identity=bot)
        return launch_campaign(iam, tag, {"kinds": ["ai_assistant"]}, "2099-01-31")

    small = build(3, "small")
    small_items = list(small.items.all())
    decide(iam, small_items[0], "certify", "")
    client.force_login(iam)
    counts = {}
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for key, url in [
        ("detail", small.get_absolute_url()),
        ("report", f"/reviews/campaigns/{small.pk}/report/"),
        ("list", "/reviews/campaigns/"),
    ]:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        counts[key] = len(ctx.captured_queries)
    from governance.reviews.services import close_campaign

    close_campaign(iam, small)
    big = build(30, "big")
    for key, url in [
        ("detail", big.get_absolute_url()),
        ("report", f"/reviews/campaigns/{big.pk}/report/"),
        ("list", "/reviews/campaigns/"),
    ]:
        with django_assert_max_num_queries(counts[key]):
            assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_identity_review_include_shows_history_and_next_due(iam, owner, campaign):
    item = item_of(campaign, "low-helper")
    decide(owner, item, "certify", "used daily")
    identity = Identity.objects.get(name="low-helper")
    html = Template("{% load reviews %}{% identity_reviews identity %}").render(
        Context({"identity": identity})
    )
    assert "Q1 review" in html and "used daily" in html
    assert identity.next_review_due.isoformat() in html
