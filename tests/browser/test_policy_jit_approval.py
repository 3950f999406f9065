"""IAM finds a just-in-time request in the approvals inbox with its deadline and approves it; the
decisions log then shows the allow."""

import re

import pytest
from playwright.sync_api import expect

from governance.decisions import jit, services
from inventory.models import Identity
from tests.browser.nav import click_nav
from tests.factories import GrantFactory, IdentityFactory


@pytest.mark.django_db(transaction=True)
def test_iam_approves_jit_access_from_the_inbox_and_the_log_shows_the_allow(
    page, live_server, login, role_users
):
    agent = IdentityFactory(
        name="release-agent", kind=Identity.Kind.AI_AGENT, owner=role_users["owner"], environments=["prod"]
    )
    GrantFactory(identity=agent, resource_name="platform/*", actions=["read_code"])
    ar = jit.request_access(
        role_users["owner"],
        {
            "identity": agent.pk,
            "action": "merge",
            "resource": {"kind": "repository", "name": "platform/api"},
            "environment": "prod",
            "duration_minutes": 45,
            "reason": "Merge the release branch",
            "task_ref": "REL-12",
        },
    )

    login(page, "iam")
    click_nav(page, "Approvals")
    row = page.get_by_test_id("inbox").get_by_role("row", name=re.compile("release-agent"))
    expect(row).to_contain_text("jit")
    expect(row).to_contain_text(ar.deadline.strftime("%H:%M"))
    row.get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/access-requests/{ar.pk}/$"))
    expect(page.get_by_test_id("ar-deadline")).to_be_visible()
    page.get_by_label("Comment").fill("Release window agreed")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_test_id("ar-state")).to_have_text("approved")

    ask = {
        "identity": agent.pk,
        "action": "merge",
        "resource": {"kind": "repository", "name": "platform/api"},
        "environment": "prod",
    }
    services.decide(role_users["owner"], services.parse(ask)[0])
    click_nav(page, "Decisions")
    page.get_by_label("Decision").select_option("allow")
    expect(page.get_by_test_id("decisions")).to_contain_text("Just-in-time grant")
    expect(page).to_have_url(re.compile(r"decision=allow"))
