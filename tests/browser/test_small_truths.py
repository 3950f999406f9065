"""Small truths (issue 22 item 10) in the browser: the request's badge and its decision panel use one
state word; /api/redoc/ asks no other host for anything (its logo was loaded from a CDN)."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from approvals.services import intake as intake_services
from tests.approvals.conftest import answers

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_badge_and_the_decision_panel_say_the_same_state(page, live_server, login, role_users, team):
    data = answers("high", name="state-words")
    data["team"] = team
    intake = intake_services.submit(
        role_users["owner"], intake_services.create_draft(role_users["owner"], data)
    )
    login(page, "iam")
    page.goto(f"{live_server.url}/intake/{intake.pk}/")
    badge = page.get_by_test_id("intake-state").inner_text().strip()
    expect(page.get_by_test_id("decision-panel").get_by_test_id("panel-state")).to_have_text(badge)
    # After IAM approves (Security still to decide) the two still agree.
    page.get_by_test_id("decision-panel").get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("decision-result")).to_be_visible()
    page.reload()
    badge = page.get_by_test_id("intake-state").inner_text().strip()
    expect(page.get_by_test_id("panel-state")).to_have_text(badge)


def test_redoc_loads_nothing_from_another_host(page, live_server, login, role_users):
    own = urlsplit(live_server.url).netloc
    elsewhere = []

    def note(request):  # blob: and data: URLs are the page's own (Redoc's web worker)
        url = urlsplit(request.url)
        if url.scheme in ("http", "https", "ws", "wss") and url.netloc != own:
            elsewhere.append(request.url)

    page.on("request", note)
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    login(page, "iam")
    page.goto(f"{live_server.url}/api/redoc/")
    # Redoc parses a large bundle and the schema before it draws: allow it the time.
    expect(page.get_by_text("API docs by Redocly")).to_be_visible(timeout=60_000)
    expect(page.get_by_role("heading", name="Steward API")).to_be_visible()
    page.wait_for_load_state("networkidle")
    assert elsewhere == []
    assert violations == []
    assert page.locator("img[src*='redoc.ly']").count() == 0
