"""Security proposes a governance policy change in the browser and waits; IAM sees what changes and
approves it with a comment; only then is it in force."""

import copy
import json
import re

import pytest
from playwright.sync_api import expect

from governance.policy.services import DEFAULT_POLICY, current_policy
from tests.browser.nav import click_nav


@pytest.mark.django_db(transaction=True)
def test_security_proposes_a_policy_change_and_a_second_person_puts_it_in_force(
    page, live_server, login, role_users
):
    document = copy.deepcopy(DEFAULT_POLICY)
    document["tiers"]["high"]["review_days"] = 60
    document["allowed_vendors"].append("Mistral AI")
    n = current_policy().version + 1  # v1 (from the migration) or, after a flush, the defaults (v0)

    login(page, "security")
    page.goto(f"{live_server.url}/policy/#document")
    page.get_by_role("link", name="Edit as JSON").click()
    json_form = page.get_by_test_id("policy-json-form")
    json_form.get_by_label("Policy document (JSON)").fill(json.dumps(document, indent=2))
    json_form.get_by_role("button", name="Preview changes").click()
    json_form = page.get_by_test_id("policy-json-form")
    json_form.get_by_label("Why this change").fill("Review high-tier identities every two months")
    json_form.get_by_role("button", name="Propose as a new version").click()
    expect(page).to_have_url(re.compile(rf"/policy/document/{n}/$"))
    expect(page.get_by_role("alert").first).to_contain_text("takes effect once a second person")
    expect(page.get_by_test_id("waiting-second-person")).to_contain_text("you cannot decide it")
    expect(page.get_by_role("button", name=f"Approve v{n}")).to_have_count(0)
    assert current_policy().tier("high").review_days == 90

    login(page, "iam")
    click_nav(page, "Policy")
    proposal = page.get_by_test_id(f"proposal-v{n}")
    changes = proposal.get_by_test_id("proposal-changes")
    expect(changes.get_by_role("row", name=re.compile("tiers.high.review_days"))).to_contain_text("60")
    expect(changes.get_by_role("row", name=re.compile("allowed_vendors"))).to_contain_text("+ Mistral AI")
    proposal.get_by_label("Comment").fill("Agreed with the risk committee")
    proposal.get_by_role("button", name=f"Approve v{n}").click()
    expect(page.get_by_role("alert").first).to_contain_text(f"version {n} is now in force")
    expect(page.get_by_role("heading", name=f"Governance policy (v{n})")).to_be_visible()
    assert current_policy().tier("high").review_days == 60
