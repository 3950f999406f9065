"""Agent threat profiles in the browser (issue 25): an identity's Threats tab draws MAESTRO's layers with
each threat's controls and gaps, and the dashboard's card drills down to the agents' findings."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from governance.actors import system
from governance.demo import RELEASE_TRAIN_NOTE, release_train_policy_text
from governance.findings.sweep import run_sweep
from governance.policy import cedar, cedar_sets
from inventory.models import Identity
from tests.browser.test_dashboard import _wait_for_cards
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def release_agent(role_users):
    agent = IdentityFactory(
        name="release-train agent", kind=Identity.Kind.AI_AGENT, owner=role_users["owner"],
        environments=["prod"], autonomous=True, risk_tier="high",
        next_review_due=timezone.localdate() + timedelta(days=60),
    )  # fmt: skip
    GrantFactory(
        identity=agent, resource_kind="repository", resource_name="release/*",
        actions=["read_code", "open_pr", "merge"],
    )  # fmt: skip
    CredentialFactory(identity=agent, kind="oidc_federation", expires_at=timezone.now() + timedelta(days=1))
    cedar_sets.ensure_defaults()
    carve_out = cedar_sets.save_version(
        system("test"),
        text=release_train_policy_text(),
        schema=cedar.default_schema_text(),
        note=RELEASE_TRAIN_NOTE,
    )
    cedar_sets.activate(system("test"), carve_out)
    run_sweep()
    return agent


def test_the_threats_tab_draws_the_layers_and_names_the_gap(page, live_server, login, release_agent):
    login(page, "iam")
    page.goto(f"{live_server.url}/inventory/{release_agent.pk}/")
    reasons = page.get_by_test_id("risk-reason-threat")
    expect(reasons.first).to_contain_text("Uncontrolled agentic threat ASI02 Tool Misuse and Exploitation")
    page.get_by_role("tab", name="Threats").click()
    assert page.url.endswith("#threats")
    stack = page.get_by_test_id("maestro-stack")
    expect(stack).to_be_visible()
    expect(stack.locator("li")).to_have_count(8)  # L7 down to L1, then cross-layer
    # The state is written out, not only coloured.
    tools = stack.locator("li[data-layer='L3']")
    expect(tools).to_have_attribute("data-state", "gap")
    expect(tools).to_contain_text("gap: ASI02")
    expect(stack.locator("li[data-layer='L7']")).to_contain_text("gap: ASI02, ASI09")
    misuse = page.get_by_test_id("threat-list").locator("li[data-threat='ASI02']")
    expect(misuse).to_contain_text("uncontrolled")
    expect(misuse).to_contain_text("merge on repository release/* in prod without JIT: Cedar answers allow")
    expect(page.locator("#overview")).to_be_hidden()


def test_the_dashboard_card_drills_down_to_the_agents(page, live_server, login, release_agent):
    login(page, "iam")
    page.goto(f"{live_server.url}/")
    _wait_for_cards(page, ["threats"])
    card = page.get_by_test_id("card-threats")
    expect(card).to_contain_text("ASI02 Tool Misuse and Exploitation")
    total = card.get_by_test_id("threats-total")
    expect(total).to_have_text("1")
    total.click()
    page.wait_for_url("**/findings/?**rule=agent_threat_uncontrolled**")
    rows = page.get_by_test_id("findings-table").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("release-train agent")
