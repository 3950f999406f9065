"""Identity page with tabs (issue 22 item 5): Overview, Grants, Credentials, Findings, Reviews and
History with counts, one group at a time, deep-linkable by hash, sections without JavaScript; on a
phone a request's decision panel comes before its answers."""

import pytest
from django.db import transaction
from playwright.sync_api import expect

from approvals.services import intake as intake_services
from governance import audit
from governance.actors import as_actor
from tests.approvals.conftest import answers
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)

# deploy-bot is an AI assistant (the factory's kind), so it has a threat profile: the Threats tab.
TABS = ["Overview", "Grants", "Credentials", "Findings", "Threats", "Reviews", "History"]


@pytest.fixture
def bot(role_users):
    identity = IdentityFactory(owner=role_users["owner"], name="deploy-bot")
    GrantFactory(identity=identity, resource_name="org/app")
    GrantFactory(identity=identity, resource_name="org/web")
    CredentialFactory(identity=identity, label="deploy-key")
    with transaction.atomic():
        audit.record(as_actor(role_users["iam"]), "identity.updated", identity, after={"risk_tier": "high"})
    return identity


def test_tabs_show_one_group_with_counts_and_follow_the_hash(page, live_server, login, role_users, bot):
    login(page, "owner")
    page.goto(f"{live_server.url}/inventory/{bot.pk}/")
    tabs = page.get_by_test_id("identity-tabs").get_by_role("tab")
    assert [t.split()[0] for t in tabs.all_inner_texts()] == TABS
    expect(page.get_by_test_id("tab-count-grants")).to_have_text("2")
    expect(page.get_by_test_id("tab-count-credentials")).to_have_text("1")
    history_count = int(page.get_by_test_id("tab-count-history").inner_text())
    assert history_count >= 1
    # Overview first: the ownership card shows, the grants and the timeline wait behind their tabs.
    expect(page.get_by_role("tab", name="Overview")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#overview")).to_be_visible()
    expect(page.locator("#grants-card")).to_be_hidden()
    page.get_by_role("tab", name="Grants").click()
    expect(page.locator("#grants-card")).to_be_visible()
    expect(page.locator("#overview")).to_be_hidden()
    assert page.url.endswith("#grants-card")
    # Arrow keys move along the tabs.
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("tab", name="Credentials")).to_be_focused()
    expect(page.locator("#credentials-card")).to_be_visible()
    # A deep link opens its tab.
    page.goto(f"{live_server.url}/inventory/{bot.pk}/#history-card")
    expect(page.get_by_role("tab", name="History")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("history").locator("li")).to_have_count(history_count)
    expect(page.locator("#credentials-card")).to_be_hidden()


def test_without_javascript_every_section_shows(browser, live_server, login, role_users, bot):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/accounts/login/")
        page.get_by_label("Username").fill("owner")
        page.get_by_label("Password").fill("pw-for-tests-1")
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{live_server.url}/inventory/{bot.pk}/")
        for section in ("#overview", "#grants-card", "#credentials-card", "#reviews", "#history-card"):
            expect(page.locator(section)).to_be_visible()
        # The tabs are plain in-page links then.
        assert page.get_by_test_id("identity-tabs").get_by_role("link", name="History").get_attribute(
            "href"
        ) == ("#history-card")
    finally:
        context.close()


def test_on_a_phone_the_decision_panel_comes_before_the_answers(page, live_server, login, role_users, team):
    data = answers("high", name="phone-check")
    data["team"] = team
    intake = intake_services.submit(
        role_users["owner"], intake_services.create_draft(role_users["owner"], data)
    )
    page.set_viewport_size({"width": 390, "height": 844})
    login(page, "iam")
    page.goto(f"{live_server.url}/intake/{intake.pk}/")
    panel = page.get_by_test_id("decision-panel").bounding_box()
    answers_card = page.get_by_text("The answers").bounding_box()
    assert panel["y"] < answers_card["y"]
    assert panel["y"] < 844  # on the first screen
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") == 0
