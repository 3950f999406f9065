"""The governance policy as a form (issue 22 item 4), in Chromium: Security changes a tier's review
cadence and the model list through labelled fields, a bad value gets its message next to the field
and proposes nothing, the preview shows what changes, the proposal waits for a second person (IAM),
who puts it in force. The page is axe-clean and needs no sideways scrolling at 1280 or 390 px."""

import re

import pytest
from playwright.sync_api import expect

from governance.policy.models import PolicyVersion
from governance.policy.services import current_policy
from tests.browser.nav import click_nav
from tests.browser.test_accessibility import _violations

pytestmark = pytest.mark.django_db(transaction=True)


def test_security_edits_the_policy_as_a_form_previews_it_and_a_second_person_puts_it_in_force(
    page, live_server, login, role_users
):
    n = current_policy().version + 1
    login(page, "security")
    click_nav(page, "Policy")
    page.get_by_role("link", name="Edit the governance policy").click()
    high = page.get_by_role("group", name="High tier")
    expect(high.get_by_label("Access review every (days)")).to_have_value("90")

    # A bad value: the message sits next to the field, and nothing is proposed.
    high.get_by_label("Access review every (days)").fill("0")
    page.get_by_role("button", name="Preview changes").first.click()
    expect(page.get_by_test_id("policy-form-errors")).to_contain_text("Nothing was proposed")
    expect(page.locator('[data-field-error="tier-high-review_days"]')).to_have_text("At least 1 day.")
    expect(high.get_by_label("Access review every (days)")).to_have_attribute("aria-invalid", "true")
    assert not PolicyVersion.objects.filter(state="proposed").exists()

    high = page.get_by_role("group", name="High tier")
    high.get_by_label("Access review every (days)").fill("60")
    page.get_by_label("Allowed AI models").fill("claude-sonnet\ngpt-5")
    page.get_by_role("button", name="Preview changes").first.click()
    preview = page.get_by_test_id("preview-changes")
    expect(preview.get_by_role("row", name=re.compile("High tier · Access review every"))).to_contain_text(
        "60"
    )
    expect(preview.get_by_role("row", name=re.compile("Allowed AI models"))).to_contain_text(
        "+ claude-sonnet"
    )
    expect(page.get_by_test_id("policy-preview")).to_contain_text("2 settings")

    form = page.get_by_test_id("policy-form")
    form.get_by_label("Why this change").fill("Review high-tier identities every two months")
    form.get_by_role("button", name="Propose as a new version").click()
    expect(page).to_have_url(re.compile(rf"/policy/document/{n}/$"))
    expect(page.get_by_test_id("waiting-second-person")).to_contain_text("you cannot decide it")
    assert current_policy().tier("high").review_days == 90

    login(page, "iam")
    click_nav(page, "Policy")
    proposal = page.get_by_test_id(f"proposal-v{n}")
    proposal.get_by_label("Comment").fill("Agreed")
    proposal.get_by_role("button", name=f"Approve v{n}").click()
    expect(page.get_by_role("alert").first).to_contain_text(f"version {n} is now in force")
    expect(page.get_by_test_id("document-tiers").get_by_role("row", name=re.compile("High"))).to_contain_text(
        "60 d"
    )
    assert current_policy().tier("high").review_days == 60
    assert current_policy().get("allowed_models") == ["claude-sonnet", "gpt-5"]


def test_the_json_tab_stays_for_advanced_edits(page, live_server, login, role_users):
    login(page, "security")
    page.goto(f"{live_server.url}/policy/document/edit/")
    page.get_by_role("tab", name="JSON (advanced)").click()
    json_form = page.get_by_test_id("policy-json-form")
    json_form.get_by_label("Policy document (JSON)").fill("{oops")
    json_form.get_by_role("button", name="Preview changes").click()
    expect(page.get_by_role("tab", name="JSON (advanced)")).to_have_attribute("aria-selected", "true")
    expect(page.get_by_test_id("policy-json-form")).to_contain_text("Not valid JSON")
    expect(page.get_by_test_id("policy-json-form").get_by_label("Policy document (JSON)")).to_have_value(
        "{oops"
    )


@pytest.mark.parametrize("width", [1280, 390])
def test_the_policy_form_is_axe_clean_and_fits_the_screen(browser, live_server, login, role_users, width):
    if not (__import__("pathlib").Path(__file__).resolve().parents[2] / "node_modules" / "axe-core").exists():
        pytest.skip("axe-core is not installed (npm ci)")
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB", bypass_csp=True)
    page = context.new_page()
    try:
        login(page, "security")
        for path in ("/policy/", "/policy/document/edit/"):
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{path} is {overflow} px too wide at {width} px"
            assert not _violations(page), f"{path}: {_violations(page)}"
        # With errors shown, too.
        page.get_by_role("group", name="Low tier").get_by_label("Stale after unused (days)").fill("0")
        page.get_by_role("button", name="Preview changes").first.click()
        expect(page.get_by_test_id("policy-form-errors")).to_be_visible()
        assert not _violations(page)
    finally:
        context.close()
