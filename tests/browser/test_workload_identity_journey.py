"""Workload identity in the browser: Security proposes a trusted issuer, IAM (the second person)
approves it and binds a CI job's claims on the identity's page; the job exchanges its OIDC token (no
static secret), asks to merge to prod and is told to step up; IAM approves its owner's just-in-time
request from the inbox; the same access token is then allowed, and the decision log shows who
intended and who executed."""

from __future__ import annotations

import json
import re
import urllib.request
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from tests.browser.nav import click_nav
from tests.factories import GrantFactory, IdentityFactory, request_merge_access
from tests.workload.conftest import MERGE_PROD
from tests.workload.servers import TestIssuer


@pytest.fixture
def ci_issuer():
    server = TestIssuer("RSA").start()
    yield server
    server.stop()


def _post(url: str, data: bytes, headers: dict) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=10) as r:
        return json.loads(r.read())


@pytest.mark.django_db(transaction=True)
def test_issuer_two_people_binding_exchange_step_up_jit_and_the_chain_in_the_log(
    page, live_server, login, role_users, ci_issuer
):
    owner = role_users["owner"]
    ci = IdentityFactory(
        owner=owner, name="payments-deploy", kind="workload", environments=["prod"], risk_tier="medium"
    )
    GrantFactory(identity=ci, resource_name="acme/payments", actions=["read_code", "merge"])

    login(page, "security")
    click_nav(page, "Workload identity")
    expect(page).to_have_url(f"{live_server.url}/workload/")
    page.get_by_test_id("issuers-empty").wait_for()
    form = page.get_by_test_id("issuer-form")
    form.get_by_label("Template").select_option("custom")
    form.get_by_label("Name").fill("Acme CI")
    form.get_by_label("Issuer (iss)").fill(ci_issuer.url)
    form.get_by_label("JWKS URI").fill(ci_issuer.jwks_uri)
    form.get_by_label("Audience (aud)").fill("steward")
    form.get_by_role("button", name="Propose issuer").click()
    row = page.get_by_test_id("issuer-row").filter(has_text="Acme CI")
    expect(row).to_contain_text("proposed")
    expect(row).to_contain_text("waiting for a second person")

    login(page, "iam")
    click_nav(page, "Workload identity")
    page.get_by_test_id("issuer-row").filter(has_text="Acme CI").get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("issuer-row").filter(has_text="Acme CI")).to_contain_text("active")

    page.goto(f"{live_server.url}/inventory/{ci.pk}/")
    panel = page.get_by_test_id("workload-panel")
    expect(panel.get_by_test_id("empty-workload")).to_be_visible()
    form = page.get_by_test_id("binding-form")
    form.get_by_label("Trusted issuer").select_option(label="Acme CI")
    form.get_by_label("Exact value").fill("repo:acme/payments:environment:prod")
    form.get_by_role("button", name="Bind").click()
    expect(page.get_by_test_id("binding")).to_contain_text("repo:acme/payments:environment:prod")
    expect(page.get_by_test_id("binding")).to_contain_text("active")
    expect(page.get_by_test_id("last-exchange")).to_have_text("never")

    # The CI job: its own OIDC token in, a 15-minute Steward token out. No static secret anywhere.
    exchanged = _post(
        f"{live_server.url}/api/v1/token/",
        urlencode(
            {
                "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
                "subject_token": ci_issuer.github(),
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            }
        ).encode(),
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert exchanged["expires_in"] <= 900
    bearer = {"Authorization": f"Bearer {exchanged['access_token']}", "Content-Type": "application/json"}
    first = _post(f"{live_server.url}/api/v1/decisions/", json.dumps(MERGE_PROD).encode(), bearer)
    assert first["decision"] == "step_up"

    ar = request_merge_access(owner, ci, **MERGE_PROD, reason="Release 4.2", task_ref="REL-42")
    click_nav(page, "Approvals")
    page.get_by_test_id("inbox").get_by_role("row", name=re.compile("payments-deploy")).get_by_role(
        "link"
    ).first.click()
    expect(page).to_have_url(re.compile(rf"/access-requests/{ar.pk}/$"))
    page.get_by_label("Comment").fill("Release window agreed")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("ar-state")).to_have_text("approved")

    second = _post(f"{live_server.url}/api/v1/decisions/", json.dumps(MERGE_PROD).encode(), bearer)
    assert second["decision"] == "allow", second

    click_nav(page, "Decisions")
    log = page.get_by_test_id("decisions")
    expect(log.get_by_test_id("executed-by").first).to_contain_text("payments-deploy")
    expect(log.get_by_test_id("intended-by").first).to_contain_text("no person")

    page.goto(f"{live_server.url}/inventory/{ci.pk}/")
    expect(page.get_by_test_id("last-exchange")).not_to_have_text("never")
    expect(page.get_by_test_id("live-tokens")).to_have_text("1")
