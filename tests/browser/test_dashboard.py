"""Each role opens the dashboard; its cards load on their own; a figure leads to a list of that size."""

import re

import pytest
from django.utils import timezone

from governance.dashboard.snapshot import take_snapshot
from tests.browser.conftest import ARTIFACTS
from tests.governance.dashboard_estate import build_estate

EXPECTED_CARDS = {
    "owner": ["mine", "my-work"],
    "iam": ["mine", "my-work", "queue", "identities", "findings", "trends"],
    "security": ["mine", "my-work", "queue", "ownership", "stale"],
    "auditor": ["mine", "my-work", "controls", "credentials", "ai", "threats", "revocation", "trends"],
}


def _wait_for_cards(page, names):
    for name in names:
        card = page.get_by_test_id(f"card-{name}")
        card.wait_for()
        # Loaded once the spinner is gone (htmx swapped in the card's content).
        card.locator(".spinner-border").wait_for(state="detached")


def _open_dashboard(page, live_server, login, username, cards):
    login(page, username)
    page.goto(f"{live_server.url}/")
    _wait_for_cards(page, cards)


def _follow_figure(page, card, figure_name, url_pattern, table):
    """A card's figure links to the list it counts: the list shows exactly that many rows."""
    figure = page.get_by_test_id(f"card-{card}").locator(f"[data-figure='{figure_name}']")
    expected = int(figure.inner_text())
    assert expected > 0
    figure.click()
    page.wait_for_url(url_pattern)
    assert page.get_by_test_id(table).locator("tbody tr").count() == expected
    assert re.search(rf"\b{expected} in all", page.content())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ["owner", "iam", "security", "auditor"])
def test_each_role_sees_its_dashboard(page, live_server, login, role_users, owner, owner2, role):
    build_estate(owner, owner2)
    take_snapshot(timezone.now())
    _open_dashboard(page, live_server, login, role_users[role].username, EXPECTED_CARDS[role])
    if role == "owner":
        assert page.get_by_test_id("posture-cards").count() == 0
        assert page.get_by_test_id("my-identity-count").inner_text().strip() != "0"
    else:
        page.locator("canvas.trend-chart[data-drawn='true']").wait_for()  # Chart.js drew the trend
    if role == "auditor":  # the controls' live status, each one a link to the catalogue
        controls = page.get_by_test_id("control-statuses").locator("li[data-code]")
        assert controls.count() == 9
        assert "reviewed on time" in controls.filter(has_text="STW-03").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{role}.png"), full_page=True)


@pytest.mark.django_db(transaction=True)
def test_iam_follows_the_overdue_review_figure_to_the_inventory(page, live_server, login, iam, owner, owner2):
    build_estate(owner, owner2)
    _open_dashboard(page, live_server, login, "iam", ["ownership"])
    _follow_figure(
        page, "ownership", "review-overdue", "**/inventory/?review_overdue=true", "inventory-table"
    )


@pytest.mark.django_db(transaction=True)
def test_the_team_selector_rescopes_the_posture(page, live_server, login, iam, owner, owner2):
    build_estate(owner, owner2)
    _open_dashboard(page, live_server, login, "iam", ["ownership"])
    page.get_by_label("Team").select_option("payments")
    page.get_by_role("button", name="Show").click()
    page.wait_for_url("**/?team=payments")
    _wait_for_cards(page, ["ownership"])
    assert "payments" in page.get_by_test_id("card-ownership").locator(".card-header").inner_text()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("card", "name"), [("credentials", "static"), ("revocation", "pending")])
def test_auditor_follows_a_credential_figure_to_the_credentials_list(
    page, live_server, login, auditor, owner, owner2, card, name
):
    build_estate(owner, owner2)
    _open_dashboard(page, live_server, login, "auditor", [card])
    _follow_figure(page, card, name, "**/credentials/?state=*", "credentials-table")
