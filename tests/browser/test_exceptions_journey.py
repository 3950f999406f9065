"""An owner asks for an exception for an old static key from the finding on the identity's page;
Security approves it; the finding is suppressed while it lasts and open again after it expires."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.exceptions import services
from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from tests.factories import CredentialFactory, IdentityFactory

RULE = "credential_rotation_overdue"


@pytest.mark.django_db(transaction=True)
def test_owner_requests_security_approves_finding_suppressed_then_reopens(
    page, live_server, login, owner, security
):
    bot = IdentityFactory(owner=owner, name="legacy-deploy-bot")
    two_years = timezone.now() - timedelta(days=730)
    CredentialFactory(identity=bot, label="deploy-key", issued_at=two_years, last_rotated_at=two_years)
    run_sweep()

    # The owner follows the "Request exception" link of the finding on the identity's page.
    login(page, "owner")
    page.goto(f"{live_server.url}/inventory/{bot.pk}/")
    page.get_by_test_id("identity-tabs").get_by_role("tab", name="Findings").click()
    row = page.get_by_test_id("identity-findings").locator(f"li[data-rule='{RULE}']")
    assert row.get_by_test_id("identity-finding-status").inner_text() == "open"
    row.get_by_role("link", name="Request exception").click()
    page.wait_for_url(f"**/exceptions/new/?identity={bot.pk}&rule={RULE}")
    assert page.get_by_label("Identity").input_value() == str(bot.pk)
    assert page.get_by_label("Rule").input_value() == RULE

    # A missing justification is refused with the field named.
    expires = (timezone.localdate() + timedelta(days=30)).isoformat()
    page.get_by_label("Expires on").fill(expires)
    page.get_by_role("button", name="Submit for approval").click()
    assert page.get_by_text("Explain why the rule cannot be met for now.").is_visible()

    page.get_by_label("Justification").fill("The vendor's bot cannot use OIDC until its next release.")
    page.get_by_label("Compensating controls").fill(
        "Key limited to one repository; alerts on use from new IPs."
    )
    page.get_by_role("button", name="Submit for approval").click()
    page.wait_for_url("**/exceptions/*/")
    assert page.get_by_test_id("exception-state").inner_text() == "requested"
    assert "cannot decide your own request" in page.get_by_test_id("refusal").inner_text()
    exception_url = page.url

    # Security finds it in the register and approves it.
    login(page, "security")
    page.goto(f"{live_server.url}/exceptions/")
    page.get_by_label("State").select_option("requested")
    page.wait_for_url("**/exceptions/?*state=requested*")
    page.get_by_test_id("exceptions-table").get_by_test_id("exception-link").first.click()
    page.wait_for_url(exception_url)
    page.get_by_test_id("decide-form").get_by_role("button", name="Approve").click()
    page.wait_for_url(exception_url)
    assert page.get_by_test_id("exception-state").inner_text() == "active"
    assert "by security" in page.get_by_test_id("approval-trail").inner_text()

    # The hourly sweep runs: the finding is still listed, but suppressed.
    run_sweep()
    login(page, "owner")
    page.goto(f"{live_server.url}/findings/?status=suppressed")
    row = page.get_by_test_id("findings-table").locator(f"tr[data-rule='{RULE}']")
    assert "suppressed" in row.inner_text()
    page.goto(exception_url)
    assert page.get_by_test_id("finding-status").inner_text() == "suppressed"
    page.goto(f"{live_server.url}/inventory/{bot.pk}/")
    row = page.get_by_test_id("identity-findings").locator(f"li[data-rule='{RULE}']")
    assert row.get_by_test_id("identity-finding-status").inner_text() == "suppressed"
    assert row.get_by_test_id("covering-exception").get_attribute("href") == exception_url.removeprefix(
        live_server.url
    )

    # Time passes beyond the expiry: the expiry job reopens the finding at once; the sweep agrees.
    later = timezone.now() + timedelta(days=31)
    assert services.expire_due(later) == 1
    assert Finding.objects.get(rule=RULE, identity=bot).status == Finding.Status.OPEN
    run_sweep(later)
    assert Finding.objects.get(rule=RULE, identity=bot, resolved_at=None).status == Finding.Status.OPEN
    page.goto(f"{live_server.url}/findings/")
    row = page.get_by_test_id("findings-table").locator(f"tr[data-rule='{RULE}']")
    assert "open" in row.inner_text()
    page.goto(exception_url)
    assert page.get_by_test_id("exception-state").inner_text() == "expired"
    assert page.get_by_test_id("finding-status").inner_text() == "open"
