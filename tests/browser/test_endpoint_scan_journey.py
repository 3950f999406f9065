"""Journey: IAM registers an endpoint_scan connector and reads how endpoints post; steward-scan runs
on a laptop and posts its report with a report token; the person using the laptop finds the proposed
ownership in their transfers and accepts one; the connector's page shows the report's run."""

from __future__ import annotations

import getpass
import json

import pytest
from playwright.sync_api import expect

from connectors.models import Connector
from governance.people.models import Role
from inventory.models import Identity
from inventory.tokens import issue_token
from tests.browser.nav import click_nav
from tests.connectors.test_steward_scan import LEAK_MARK, home, scan  # noqa: F401 - `home` is a fixture
from tests.factories import UserFactory


@pytest.mark.django_db(transaction=True)
def test_a_laptops_report_lands_in_steward_and_its_user_accepts_an_extension(
    page,
    live_server,
    login,
    iam,
    home,  # noqa: F811 - the scanner test's fixture home
):
    person = UserFactory(username=getpass.getuser(), roles=[Role.OWNER])  # the home folder's owner
    machine = UserFactory(username="endpoint-mgmt", roles=[])
    _, token = issue_token(iam, machine, scope="report", name="endpoint management")

    login(page, "iam")
    click_nav(page, "Connectors")
    page.wait_for_url(f"{live_server.url}/connectors/")
    page.get_by_label("Name").fill("laptops")
    page.get_by_label("Kind").select_option("endpoint_scan")
    page.get_by_role("button", name="Register connector").click()
    connector = Connector.objects.get(name="laptops")
    page.wait_for_url(f"{live_server.url}/connectors/{connector.pk}/")
    reports = page.get_by_test_id("endpoint-reports")
    url = f"{live_server.url}/api/v1/connectors/{connector.pk}/reports/"
    expect(reports).to_contain_text(url)
    expect(page.get_by_role("button", name="Sync now")).to_have_count(0)

    result = scan("--home", str(home), "--url", url, "--token", token)  # as the laptop would
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["discovered"] == 13 and answer["person"] == person.username
    assert LEAK_MARK not in result.stdout

    page.reload()
    row = page.locator("tr[data-testid=run-row][data-state=succeeded]").first
    expect(row.locator("[data-count=discovered]")).to_have_text("13")

    login(page, person.username)
    page.goto(f"{live_server.url}/inventory/transfers/")
    waiting = page.get_by_test_id("waiting")
    name = "laptops/extension/ms-python.python"
    expect(waiting).to_contain_text(name)
    waiting.locator("tr", has_text=name).get_by_role("button", name="Accept").click()
    expect(page.get_by_text(f"you now own {name}")).to_be_visible()
    assert Identity.objects.get(name=name).owner == person
