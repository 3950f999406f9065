"""Accessibility (issue 22 quality bar): axe-core (npm, devDependency) injected into the main pages as
each role uses them; no `serious` or `critical` violations."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from approvals.services import intake as intake_services
from governance.reviews.services.launch import launch_campaign
from tests.approvals.conftest import answers
from tests.browser.test_dashboard import EXPECTED_CARDS, _wait_for_cards
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}
RUN_AXE = """async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
  }));
}"""


@pytest.fixture
def axe_page(browser):
    if not AXE.exists():
        if __import__("os").environ.get("CI"):
            pytest.fail("node_modules/axe-core is missing: run `make install` (npm ci)")
        pytest.skip("axe-core is not installed (npm ci)")
    # axe is injected as an inline script, which the pages' Content-Security-Policy would refuse.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


@pytest.fixture
def estate(role_users, team):
    owner, iam = role_users["owner"], role_users["iam"]
    bot = IdentityFactory(owner=owner, name="deploy-bot", risk_tier="low", team=team)
    GrantFactory(
        identity=bot, resource_kind="secret_store", resource_name="vault/ci", actions=["read_secrets"]
    )
    CredentialFactory(identity=bot, label="deploy-key")
    data = answers("high", name="a11y-request")
    data["team"] = team
    intake = intake_services.submit(owner, intake_services.create_draft(owner, data))
    campaign = launch_campaign(
        iam, "Quarterly low tier", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=7)
    )
    return {"identity": bot, "intake": intake, "campaign": campaign}


# Colours are judged once they settle: a button just clicked is mid-way through Bootstrap's 0.15 s
# colour transition, and axe would measure the in-between frame (seen on a faster machine).
SETTLED = """() => document.getAnimations().every(
  (a) => !(a instanceof CSSTransition) || a.playState !== "running")"""


def _violations(page) -> list[dict]:
    page.wait_for_function(SETTLED)
    page.add_script_tag(path=str(AXE))
    return [v for v in page.evaluate(RUN_AXE) if v["impact"] in BLOCKING]


def _pages(estate) -> dict[str, list[str]]:
    return {
        "iam": [
            "/",
            "/inventory/",
            f"/inventory/{estate['identity'].pk}/",
            "/intake/new/",
            "/approvals/",
            f"/intake/{estate['intake'].pk}/",
            f"/reviews/campaigns/{estate['campaign'].pk}/",
            "/policy/",
            f"/inventory/{estate['identity'].pk}/#threats",  # the Threats tab's stacked layers
        ],
        "owner": ["/", f"/inventory/{estate['identity'].pk}/", "/intake/new/", "/reviews/"],
        "auditor": ["/", "/evidence/", "/evidence/controls/", "/audit/"],
    }


@pytest.mark.parametrize("role", ["iam", "owner", "auditor"])
def test_main_pages_have_no_serious_or_critical_violations(
    axe_page, live_server, login, role_users, estate, role
):
    page = axe_page
    login(page, role)
    found = {}
    for path in _pages(estate)[role]:
        page.goto(f"{live_server.url}{path}")
        if path == "/":
            _wait_for_cards(page, EXPECTED_CARDS[role])
        page.wait_for_load_state("networkidle")
        problems = _violations(page)
        if problems:
            found[path] = problems
    assert not found, "\n".join(
        f"{path}: {v['impact']} {v['id']} ({v['help']}) at {v['nodes']}"
        for path, items in found.items()
        for v in items
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_the_same_pages_need_no_sideways_scrolling(axe_page, live_server, login, role_users, estate, width):
    """Wide tables scroll inside their own box; the page itself never does."""
    page = axe_page
    page.set_viewport_size({"width": width, "height": 900})
    wide = []
    for role, paths in _pages(estate).items():
        login(page, role)
        for path in paths:
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                wide.append(f"{role} {path}: {overflow} px too wide")
    assert not wide, "\n".join(wide)
