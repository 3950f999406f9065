"""Journeys 1 and 2 in a real browser: the owner asks, IAM and Security approve, the identity goes live."""

import re

import pytest
from playwright.sync_api import expect

from approvals.models import IntakeRequest
from tests.browser.nav import click_nav


def fill_high_tier_assistant(page):
    page.get_by_label("Name", exact=True).fill("claude-code-checkout")
    page.get_by_label("What kind of tool is it?").select_option("ai_assistant")
    page.get_by_label("Vendor").fill("Anthropic")
    page.get_by_label("Product").fill("Claude Code")
    page.get_by_label("Why is it needed?").fill(
        "Opens and merges dependency-update pull requests for checkout."
    )
    page.get_by_label("Backup owner").select_option("owner2")
    page.get_by_label("prod", exact=True).check()
    page.get_by_label("Resource kind").select_option("repository")
    page.get_by_label("Resource", exact=True).fill("acme/checkout")
    page.get_by_label("open pull requests").check()
    page.get_by_label("merge", exact=True).check()
    page.get_by_label("How does it authenticate?").select_option("oidc_federation")


@pytest.mark.django_db(transaction=True)
def test_owner_submits_iam_and_security_approve_identity_goes_live(page, live_server, login, role_users):
    # The owner fills the form; the live preview tiers it as they go.
    login(page, "owner")
    click_nav(page, "New request")
    expect(page).to_have_url(re.compile(r"/intake/new/$"))
    fill_high_tier_assistant(page)
    expect(page.get_by_test_id("preview-tier")).to_have_text("high")
    expect(page.get_by_test_id("preview-route")).to_have_text("IAM, then Security")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_test_id("intake-state")).to_have_text("submitted")
    intake = IntakeRequest.objects.get(name="claude-code-checkout")
    request_url = f"{live_server.url}/intake/{intake.pk}/"

    # The requester cannot decide their own request: no buttons, and a direct POST is refused.
    expect(page.get_by_role("button", name="Approve")).to_have_count(0)
    expect(page.get_by_test_id("cannot-decide")).to_contain_text("cannot decide your own request")
    token = page.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    refused = page.request.post(
        f"{request_url}decide/", form={"decision": "approve"}, headers={"X-CSRFToken": token}
    )
    assert refused.status == 403

    # IAM approves in the inbox.
    login(page, "iam")
    click_nav(page, "Approvals")
    page.get_by_test_id("inbox").get_by_role("link", name=re.compile("claude-code-checkout")).click()
    expect(page.get_by_test_id("risk-reasons")).to_contain_text("Reaches production")
    page.get_by_label("Comment").fill("Scoped to one repository: fine.")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("decision-result")).to_contain_text("Approved.")
    expect(page.get_by_test_id("decision-result")).to_contain_text("Now with Security admin")

    # Security approves the second step; the identity is created, active.
    login(page, "security")
    page.goto(f"{live_server.url}/approvals/")
    page.get_by_test_id("inbox").get_by_role("link", name=re.compile("claude-code-checkout")).click()
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("decision-result")).to_contain_text("is now active")
    page.reload()
    expect(page.get_by_test_id("intake-state")).to_have_text("approved")
    created = page.get_by_test_id("identity-created")
    expect(created.get_by_test_id("identity-status")).to_have_text("active")
    intake.refresh_from_db()
    expect(created.get_by_role("link", name="claude-code-checkout")).to_have_attribute(
        "href", f"/inventory/{intake.identity_id}/"
    )
    assert sorted(intake.identity.grants.get().actions) == ["merge", "open_pr"]

    # The owner follows it on My requests.
    login(page, "owner")
    page.goto(f"{live_server.url}/intake/")
    row = page.get_by_test_id("my-requests").get_by_role("row", name=re.compile("claude-code-checkout"))
    expect(row).to_contain_text("approved")

    # ... and finds the new identity, active, under "Mine" in the inventory.
    click_nav(page, "Inventory")
    page.get_by_role("link", name="Mine", exact=True).click()
    mine = page.get_by_test_id("inventory-table").get_by_role("row", name=re.compile("claude-code-checkout"))
    expect(mine).to_contain_text("active")
    mine.get_by_role("link", name="claude-code-checkout").click()
    expect(page.get_by_test_id("identity-status")).to_have_text("active")
    expect(page.get_by_test_id("owner")).to_contain_text("(owner)")


@pytest.mark.django_db(transaction=True)
def test_preview_warns_at_once_when_policy_forbids_something(page, live_server, login, role_users):
    login(page, "owner")
    page.goto(f"{live_server.url}/intake/new/")
    page.get_by_label("What kind of tool is it?").select_option("ai_assistant")
    page.get_by_label("prod", exact=True).check()
    page.get_by_label("Resource kind").select_option("secret_store")
    page.get_by_label("read secrets").check()
    expect(page.get_by_test_id("preview-checks")).to_contain_text("may not read or write secrets in prod")
    page.get_by_label("Vendor").fill("Shady AI")
    page.get_by_label("Product").click()  # leaving the field fires `change`
    expect(page.get_by_test_id("preview-checks")).to_contain_text("'Shady AI' is not on the allowed list")


@pytest.mark.django_db(transaction=True)
def test_add_another_resource_adds_a_row_in_place(page, live_server, login, role_users):
    login(page, "owner")
    page.goto(f"{live_server.url}/intake/new/")
    expect(page.get_by_test_id("grant-row")).to_have_count(1)
    page.get_by_role("button", name="Add another resource").click()
    expect(page.get_by_test_id("grant-row")).to_have_count(2)
    expect(page.locator("#id_grants-TOTAL_FORMS")).to_have_value("2")
    expect(page).to_have_url(re.compile(r"/intake/new/$"))
