"""Small truths (issue 22 item 10): every figure on the dashboard equals the list its link opens, for
every role (the approvals queue said 2 and opened a list of 1)."""

import re

import pytest
from django.utils import timezone

from approvals.services import intake as intake_services
from governance.dashboard.snapshot import take_snapshot
from tests.approvals.conftest import answers
from tests.browser.test_dashboard import EXPECTED_CARDS, _wait_for_cards
from tests.governance.dashboard_estate import build_estate

pytestmark = pytest.mark.django_db(transaction=True)


def _requests_in_flight(role_users, team):
    """Three intake requests: one waiting for IAM, one past IAM (waiting for Security), one sent back."""
    owner, iam = role_users["owner"], role_users["iam"]
    made = []
    for name in ("figures-a", "figures-b", "figures-c"):
        data = answers("high", name=name)
        data["team"] = team
        made.append(intake_services.submit(owner, intake_services.create_draft(owner, data)))
    intake_services.approve(iam, made[1], comment="scope checked")
    intake_services.request_changes(iam, made[2], comment="narrow the scope")


def _figures(page) -> list[tuple[str, str, int]]:
    found = []
    for link in page.locator("[data-testid^=card-] a[data-figure]").all():
        numbers = re.findall(r"\d+", link.inner_text())
        found.append((link.get_attribute("data-figure"), link.get_attribute("href"), int(numbers[-1])))
    return found


@pytest.mark.parametrize("role", ["owner", "iam", "security", "auditor"])
def test_every_dashboard_figure_equals_the_list_it_opens(page, live_server, login, role_users, team, role):
    build_estate(role_users["owner"], role_users["owner2"])
    _requests_in_flight(role_users, team)
    take_snapshot(timezone.now())
    login(page, role)
    page.goto(f"{live_server.url}/")
    _wait_for_cards(page, EXPECTED_CARDS[role])
    figures = _figures(page)
    assert len(figures) >= 5, figures
    wrong = []
    for name, href, value in figures:
        page.goto(f"{live_server.url}{href}")
        shown = page.locator("[data-result-count]").first
        listed = int(shown.get_attribute("data-result-count")) if shown.count() else None
        if listed != value:
            wrong.append(f"{name}: the figure says {value}, {href} lists {listed}")
    assert not wrong, "\n".join(wrong)
