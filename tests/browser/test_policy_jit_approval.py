"""IAM finds a just-in-time request in the approvals inbox with its deadline and approves it; the
decisions log then shows the allow."""

import re

import pytest
from playwright.sync_api import expect

from governance.decisions import services
from tests.browser.nav import click_nav
from tests.factories import MERGE_PLATFORM_API


@pytest.mark.django_db(transaction=True)
def test_iam_approves_jit_access_from_the_inbox_and_the_log_shows_the_allow(
    page, live_server, login, role_users, release_agent_request
):
    ar = release_agent_request

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

    ask = {"identity": ar.identity_id, **MERGE_PLATFORM_API}
    services.decide(role_users["owner"], services.parse(ask)[0])
    click_nav(page, "Decisions")
    page.get_by_label("Decision").select_option("allow")
    expect(page.get_by_test_id("decisions")).to_contain_text("Just-in-time grant")
    expect(page).to_have_url(re.compile(r"decision=allow"))
