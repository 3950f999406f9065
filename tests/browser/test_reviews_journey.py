"""Journey: IAM launches a high-tier review; the owner revokes one identity and certifies another;
a second IAM look signs the certification off and confirms the revoke the owner cannot confirm; the
report shows both decisions, reasons and the confirmation."""

import re

import pytest
from playwright.sync_api import expect

from inventory.models import Identity
from tests.browser.nav import click_nav
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory


@pytest.fixture
def high_tier(owner, owner2):
    agent = IdentityFactory(owner=owner, name="release-agent", risk_tier="high", environments=["prod"])
    GrantFactory(identity=agent, resource_name="org/release", actions=["deploy", "read_code"])
    CredentialFactory(identity=agent, label="release-key")
    legacy = IdentityFactory(owner=owner, name="legacy-deployer", risk_tier="high", environments=["prod"])
    GrantFactory(identity=legacy, resource_name="org/legacy", actions=["deploy"])
    CredentialFactory(identity=legacy, label="legacy-key")
    IdentityFactory(owner=owner2, name="docs-helper", risk_tier="low")
    return agent, legacy


def decide_in_page(page, decision: str, reason: str):
    panel = page.get_by_test_id("decision-panel")
    panel.get_by_label(decision, exact=True).check()
    panel.get_by_label("Reason").fill(reason)
    panel.get_by_role("button", name="Record decision").click()
    expect(page.get_by_test_id("decision-reason")).to_have_text(reason)


@pytest.mark.django_db(transaction=True)
def test_high_tier_review_revoke_certify_sign_off_and_report(page, live_server, login, iam, high_tier):
    agent, legacy = high_tier

    # IAM launches the campaign for the high tier.
    login(page, "iam")
    click_nav(page, "Reviews")
    page.get_by_role("link", name="Launch a campaign").click()
    page.get_by_label("Name").fill("High tier Q1")
    page.get_by_label("high", exact=True).check()
    page.get_by_label("Due date").fill("2099-03-31")
    page.get_by_role("button", name="Launch campaign").click()
    expect(page.get_by_role("alert").first).to_contain_text("Campaign launched over 2 identities")
    expect(page.get_by_test_id("open-count")).to_have_text("2")
    campaign_url = page.url

    # The owner sees both items in "my reviews" and decides each on its own page.
    login(page, "owner")
    page.goto(f"{live_server.url}/reviews/")
    expect(page.get_by_test_id("pending-item")).to_have_count(2)
    page.get_by_role("link", name="legacy-deployer").first.click()
    expect(page.get_by_test_id("grants")).to_contain_text("org/legacy")
    decide_in_page(page, "Revoke", "Replaced by the OIDC release pipeline")
    expect(page.get_by_test_id("decision-panel")).to_contain_text("remediation pending")
    # The decider never confirms their own revoke: IAM or Security (or a connector's sync) does.
    expect(page.get_by_test_id("remediation")).to_contain_text("Waiting for IAM or Security")
    expect(page.get_by_role("button", name="Confirm revocation")).to_have_count(0)

    page.goto(f"{live_server.url}/reviews/")
    expect(page.get_by_test_id("pending-item")).to_have_count(1)
    page.get_by_role("link", name="release-agent").first.click()
    # A high-tier certification without a reason is refused on the form, nothing recorded.
    panel = page.get_by_test_id("decision-panel")
    panel.get_by_label("Certify", exact=True).check()
    with page.expect_response(lambda r: "/decide/" in r.url and r.status == 400):
        panel.get_by_role("button", name="Record decision").click()
    # The refusal itself (the form's help text says "needs a reason" too, before any answer).
    expect(page.get_by_test_id("decision-panel")).to_contain_text("say what you checked")
    decide_in_page(page, "Certify", "Ships every release; deploy used weekly")
    expect(page.get_by_test_id("decision-panel")).to_contain_text("awaiting sign-off")
    # The owner cannot give the second sign-off themselves.
    expect(page.get_by_role("button", name="Sign off this certification")).to_have_count(0)

    # IAM signs the certification off from the sign-off queue.
    login(page, "iam")
    page.goto(f"{live_server.url}/reviews/")
    page.get_by_test_id("signoff-queue").get_by_role("link", name="release-agent").click()
    page.get_by_role("button", name="Sign off this certification").click()
    expect(page.get_by_test_id("decision-panel")).to_contain_text("signed off by iam")

    # IAM, who did not decide the revoke, confirms it from the queue with a ticket reference.
    page.goto(f"{live_server.url}/reviews/")
    page.get_by_test_id("remediation-queue").get_by_role("link", name="legacy-deployer").click()
    page.get_by_label("Note").fill("CHG-77: deploy key deleted in GitHub")
    page.get_by_role("button", name="Confirm revocation").click()
    expect(page.get_by_test_id("remediation")).to_contain_text("confirmed by iam")

    # The report shows both decisions with their reasons; the revoked identity is suspended.
    page.goto(campaign_url)
    page.get_by_role("link", name="Report").click()
    rows = page.get_by_test_id("report-row")
    expect(rows).to_have_count(2)
    legacy_row = rows.filter(has_text="legacy-deployer")
    expect(legacy_row).to_contain_text("revoke")
    expect(legacy_row).to_contain_text("Replaced by the OIDC release pipeline")
    expect(legacy_row).to_contain_text("confirmed")
    expect(legacy_row).to_contain_text("CHG-77: deploy key deleted in GitHub")
    agent_row = rows.filter(has_text="release-agent")
    expect(agent_row).to_contain_text("certify")
    expect(agent_row).to_contain_text("Ships every release; deploy used weekly")
    expect(agent_row).to_contain_text(re.compile(r"signed off\s*iam"))
    legacy_row.get_by_role("link", name="legacy-deployer").click()
    expect(page.get_by_test_id("identity-status")).to_have_text("suspended")
    assert Identity.objects.get(pk=legacy.pk).status == Identity.Status.SUSPENDED
    assert Identity.objects.get(pk=agent.pk).last_reviewed_at is not None
