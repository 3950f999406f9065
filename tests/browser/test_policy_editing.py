"""Security edits the request-time policies in the browser: a failing test case blocks activation,
the fix is saved and proposed for activation, a second person (IAM) approves it, and "try a request"
shows the new answer."""

import re

import pytest
from playwright.sync_api import expect

from governance.policy import cedar
from inventory.models import Identity
from tests.browser.nav import click_nav
from tests.factories import GrantFactory, IdentityFactory

DEPLOY_LIST = 'Steward::Action::"merge", Steward::Action::"deploy", Steward::Action::"write_secrets"'


@pytest.mark.django_db(transaction=True)
def test_security_edits_a_policy_a_failing_case_blocks_activation_then_a_second_person_puts_the_fix_live(
    page, live_server, login, role_users
):
    agent = IdentityFactory(
        name="deploy-bot", kind=Identity.Kind.AI_AGENT, owner=role_users["owner"], environments=["prod"]
    )
    GrantFactory(identity=agent, resource_kind="ci_pipeline", resource_name="deploy/*", actions=["deploy"])

    login(page, "security")
    click_nav(page, "Policy")
    expect(page.get_by_test_id("active-version")).to_have_text("v1")
    page.get_by_role("link", name="Edit policies (new version)").click()

    # Drop deploy from the just-in-time rule: a saved test case says deploys in prod must step up.
    loosened = cedar.default_policy_text().replace(
        DEPLOY_LIST, 'Steward::Action::"merge", Steward::Action::"write_secrets"'
    )
    page.get_by_label("Policies (Cedar)").fill(loosened)
    page.get_by_label("What changed and why").fill("Deploys no longer need JIT")
    page.get_by_role("button", name="Save version").click()
    expect(page).to_have_url(re.compile(r"/policy/versions/2/$"))
    expect(page.get_by_role("alert").first).to_contain_text("1 test case(s) fail")

    page.get_by_role("button", name="Propose activating v2").click()
    problems = page.get_by_test_id("activation-problems")
    expect(problems).to_contain_text("Version 2 was not activated")
    expect(problems).to_contain_text(
        "deploy in prod with a standing grant steps up' expects step_up but got allow"
    )

    # Fix: keep deploy under JIT, but say so more plainly. Saved as v3, based on v2.
    page.get_by_role("link", name="Edit as new version").click()
    fixed = cedar.default_policy_text().replace(
        "merge, deploy and write_secrets in prod need a live just-in-time grant.",
        "Production merges, deploys and secret writes need a live just-in-time grant.",
    )
    page.get_by_label("Policies (Cedar)").fill(fixed)
    page.get_by_label("What changed and why").fill("Clearer wording; deploys keep needing JIT")
    page.get_by_role("button", name="Save version").click()
    expect(page).to_have_url(re.compile(r"/policy/versions/3/$"))
    expect(page.get_by_role("alert").first).to_contain_text("every test case passes")
    page.get_by_role("link", name=re.compile("Diff against v2")).click()
    expect(page.get_by_test_id("diff")).to_contain_text("Production merges, deploys")
    page.go_back()
    page.get_by_role("button", name="Propose activating v3").click()
    expect(page).to_have_url(re.compile(r"/policy/versions/3/$"))
    expect(page.get_by_test_id("waiting-second-person")).to_contain_text("you cannot approve it")
    expect(page.get_by_role("button", name="Approve activating v3")).to_have_count(0)

    # A second person confirms it; only then do decisions use it.
    login(page, "iam")
    page.goto(f"{live_server.url}/policy/")
    expect(page.get_by_test_id("active-version")).to_have_text("v1")
    page.get_by_test_id("pending-activations").get_by_role("link", name="Activate v3").click()
    page.get_by_label("Comment").fill("Same rules, clearer words")
    page.get_by_role("button", name="Approve activating v3").click()
    expect(page).to_have_url(re.compile(r"/policy/$"))
    expect(page.get_by_test_id("active-version")).to_have_text("v3")

    # Try a request against the live policies (htmx, nothing recorded).
    form = page.get_by_test_id("try-form")
    form.get_by_label("Identity").select_option(label="deploy-bot (active)")
    form.get_by_label("Action").select_option("deploy")
    form.get_by_label("Environment").select_option("prod")
    form.get_by_label("Resource kind").select_option("ci_pipeline")
    form.get_by_label("Resource name").fill("deploy/web")
    form.get_by_role("button", name="Try it").click()
    expect(page.get_by_test_id("try-decision")).to_have_text("step_up")
    expect(page.get_by_test_id("try-result")).to_contain_text("Production merges, deploys and secret writes")
    expect(page.get_by_test_id("try-result")).to_contain_text("policy version 3")
    assert not agent.decisions.exists()
