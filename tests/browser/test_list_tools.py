"""Lists like NetBox's (issue 22 item 6), in Chromium: choose the inventory's columns and see them stay,
save a filter by name and reopen it, export exactly the current filter, a header that stays in view;
the same tools on credentials, findings and the audit log, axe-clean and without sideways scrolling."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import transaction
from playwright.sync_api import expect

from governance import audit
from governance.actors import system
from governance.findings.models import Finding, Rule
from tests.browser.test_accessibility import _violations, axe_page  # noqa: F401 - the fixture
from tests.factories import CredentialFactory, IdentityFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def estate(role_users, team):
    owner = role_users["owner"]
    agents = [
        IdentityFactory(name=f"agent-{n:02}", kind="ai_agent", owner=owner, team=team, source="okta")
        for n in range(12)
    ]
    for n in range(50):  # enough rows for the table to scroll in its own box
        IdentityFactory(name=f"plugin-{n:02}", kind="ide_plugin", owner=owner, team=team, source="csv")
    CredentialFactory(identity=agents[0], label="agent-key")
    Finding.objects.create(rule=Rule.values[0], identity=agents[1], severity="high")
    with transaction.atomic():
        audit.record(system("t"), "list.probe", team)
    return agents


def test_columns_saved_filters_export_and_a_sticky_header_on_the_inventory(page, live_server, login, estate):
    login(page, "iam")
    page.goto(f"{live_server.url}/inventory/")
    table = page.get_by_test_id("inventory-table")
    expect(table.locator('th[data-column="environments"]')).to_be_visible()
    expect(table.locator('th[data-column="source"]')).to_have_count(0)

    # Choose the columns: drop Environments, add Source.
    page.get_by_test_id("choose-columns").click()
    page.get_by_label("Environments").uncheck()
    page.get_by_label("Source").check()
    page.get_by_role("button", name="Save columns").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text("Columns saved.")).to_be_visible()
    expect(table.locator('th[data-column="source"]')).to_be_visible()
    expect(table.locator('th[data-column="environments"]')).to_have_count(0)
    # They stay: a fresh visit, and a filter change redrawn by htmx.
    page.goto(f"{live_server.url}/inventory/")
    expect(table.locator('th[data-column="source"]')).to_be_visible()
    assert table.locator("tbody tr").first.locator("td").last.inner_text() in ("okta", "csv")
    page.get_by_label("Kind").select_option("ai_agent")
    page.wait_for_url(lambda url: "kind=ai_agent" in url)
    expect(table.locator("tbody tr")).to_have_count(12)
    expect(table.locator('th[data-column="source"]')).to_be_visible()

    # Export exactly this filter: the CSV's rows are the list's rows.
    href = page.get_by_test_id("export-csv").get_attribute("href")
    assert "kind=ai_agent" in href
    response = page.request.get(f"{live_server.url}{href}")
    assert response.ok and response.headers["content-type"].startswith("text/csv")
    exported = [row["name"] for row in csv.DictReader(io.StringIO(response.text()))]
    shown = table.locator("tbody tr td:nth-child(2) a").all_inner_texts()
    assert sorted(exported) == sorted(shown) and len(exported) == 12

    # Save this filter by name; a second save under the same name is refused with a reason.
    page.get_by_text("Saved filters", exact=False).first.click()
    page.get_by_label("Save the current filter as").fill("AI agents")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Filter “AI agents” saved.")).to_be_visible()
    page.get_by_text("Saved filters", exact=False).first.click()
    page.get_by_label("Save the current filter as").fill("ai agents")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("You already have a filter named")).to_be_visible()

    # Reopen it from a clean list.
    page.goto(f"{live_server.url}/inventory/")
    expect(table.locator("tbody tr")).to_have_count(50)
    page.get_by_text("Saved filters", exact=False).first.click()
    page.get_by_test_id("saved-filters").get_by_role("link", name="AI agents").click()
    page.wait_for_url(lambda url: "kind=ai_agent" in url)
    expect(table.locator("tbody tr")).to_have_count(12)
    expect(page.get_by_label("Kind")).to_have_value("ai_agent")

    # The header stays in view while the table scrolls in its own box.
    page.goto(f"{live_server.url}/inventory/")
    header = table.locator('th[data-column="name"]')
    assert header.evaluate("th => getComputedStyle(th).position") == "sticky"
    scroller = page.locator(".list-scroll")
    top = scroller.bounding_box()["y"]
    scroller.evaluate("box => { box.scrollTop = 600; }")
    assert scroller.evaluate("box => box.scrollTop") > 0
    assert abs(header.bounding_box()["y"] - top) < 2

    # Someone else's inventory keeps the default columns and has no saved filters.
    login(page, "security")
    page.goto(f"{live_server.url}/inventory/")
    expect(table.locator('th[data-column="environments"]')).to_be_visible()
    expect(table.locator('th[data-column="source"]')).to_have_count(0)
    expect(page.get_by_test_id("saved-filters")).to_have_count(0)


@pytest.mark.parametrize(
    ("role", "path", "testid"),
    [
        ("iam", "/inventory/", "inventory-table"),
        ("iam", "/credentials/", "credentials-table"),
        ("iam", "/findings/", "findings-table"),
        ("auditor", "/audit/", "audit-table"),
    ],
)
def test_each_list_has_the_tools_axe_clean_and_no_sideways_scroll(
    request, live_server, login, estate, role, path, testid
):
    page = request.getfixturevalue("axe_page")
    login(page, role)
    page.goto(f"{live_server.url}{path}")
    page.wait_for_load_state("networkidle")
    assert (
        page.get_by_test_id(testid).locator("thead th").first.evaluate("th => getComputedStyle(th).position")
        == "sticky"
    )
    assert page.get_by_test_id("export-csv").is_visible()
    page.locator("details.list-tools-menu summary").click()  # the saved filters open, as a person uses them
    assert not _violations(page)
    assert page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth") <= 0
    # The export is exactly what the page lists, every page of it.
    href = page.get_by_test_id("export-csv").get_attribute("href")
    response = page.request.get(f"{live_server.url}{href}")
    rows = list(csv.DictReader(io.StringIO(response.text())))
    counted = page.locator("[data-result-count]")  # shown when the list has more than one page
    listed = (
        int(counted.get_attribute("data-result-count"))
        if counted.count()
        else page.get_by_test_id(testid).locator("tbody tr").count()
    )
    assert response.ok and len(rows) == listed > 0
    # The columns page, too.
    page.get_by_test_id("choose-columns").click()
    page.wait_for_load_state("networkidle")
    assert page.get_by_test_id("columns-form").is_visible()
    assert not _violations(page)


def test_an_auditor_saves_a_filter_on_the_audit_log(page, live_server, login, estate):
    login(page, "auditor")
    page.goto(f"{live_server.url}/audit/?verb=list.")
    page.get_by_text("Saved filters", exact=False).first.click()
    page.get_by_label("Save the current filter as").fill("Probes")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("Filter “Probes” saved.")).to_be_visible()
    page.goto(f"{live_server.url}/audit/")
    page.get_by_text("Saved filters", exact=False).first.click()
    page.get_by_test_id("saved-filters").get_by_role("link", name="Probes").click()
    page.wait_for_url(lambda url: "verb=list." in url)
    expect(page.get_by_test_id("audit-table").locator("tbody tr")).to_have_count(1)
