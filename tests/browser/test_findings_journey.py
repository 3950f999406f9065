"""An IAM approver works the findings page: filters to stale access and follows the identity link."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from tests.browser.nav import click_nav
from tests.factories import IdentityFactory


@pytest.mark.django_db(transaction=True)
def test_iam_filters_findings_to_stale_access_and_reaches_the_identity(page, live_server, login, iam, owner):
    long_ago = timezone.now() - timedelta(days=200)
    stale = IdentityFactory(owner=owner, name="forgotten-ci-bot", last_used_at=long_ago, approved_at=long_ago)
    IdentityFactory(owner=owner, name="prod-and-dev-agent", environments=["prod", "dev"])
    run_sweep()

    login(page, "iam")
    click_nav(page, "Findings")
    page.wait_for_url(f"{live_server.url}/findings/")
    table = page.get_by_test_id("findings-table")
    assert table.locator("tr[data-rule='environment_crossing']").count() == 1
    assert table.locator("tr[data-rule='stale_unused']").count() == 1

    page.get_by_label("Rule").select_option("stale_unused")  # htmx swaps the results in place
    page.wait_for_url("**/findings/?*rule=stale_unused*")
    rows = page.get_by_test_id("findings-table").locator("tbody tr")
    rows.first.wait_for()
    page.wait_for_function("document.querySelectorAll('tr[data-rule=environment_crossing]').length === 0")
    assert rows.count() == 1
    assert "Not used for 200 days" in rows.first.inner_text()
    # Its due date (first seen plus the policy's SLA for its severity) and who fixes it.
    finding = Finding.objects.get(rule="stale_unused", identity=stale)
    due = rows.first.get_by_test_id("finding-due")
    assert finding.due_at.strftime("%Y-%m-%d") in due.inner_text() and "owner" in due.inner_text()
    assert due.get_by_test_id("overdue").count() == 0

    link = rows.first.get_by_role("link", name="forgotten-ci-bot")
    assert link.get_attribute("href") == f"/inventory/{stale.pk}/"
    exception = rows.first.get_by_role("link", name="Request exception")
    assert exception.get_attribute("href") == f"/exceptions/new/?identity={stale.pk}&rule=stale_unused"
    link.click()
    page.wait_for_url(f"{live_server.url}/inventory/{stale.pk}/")  # may 404 until the inventory pages land
