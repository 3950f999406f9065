"""An auditor exports the last 90 days from /evidence/, downloads the pack, and it verifies."""

from __future__ import annotations

import pytest

from governance.evidence.services import default_period
from governance.evidence.verifier import verify_pack
from tests.browser.nav import click_nav
from tests.governance.evidence_support import small_estate


@pytest.mark.django_db(transaction=True)
def test_auditor_exports_the_last_90_days_downloads_the_pack_and_it_verifies(
    page, live_server, login, auditor, owner, tmp_path
):
    small_estate(owner)
    login(page, "auditor")
    click_nav(page, "Evidence")
    page.wait_for_url(f"{live_server.url}/evidence/")

    start, end = default_period()
    assert page.get_by_label("Period start").input_value() == start.isoformat()
    assert page.get_by_label("Period end").input_value() == end.isoformat()
    page.get_by_role("button", name="Export evidence").click()
    page.wait_for_url(f"{live_server.url}/evidence/")

    row = page.get_by_test_id("export-row").first
    page.wait_for_selector("tr[data-testid=export-row][data-state=ready]")
    assert "auditor" in row.inner_text()
    with page.expect_download() as download_info:
        row.get_by_role("link", name="Download").click()
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.name.startswith("steward-evidence-")

    result = verify_pack(saved)
    assert result.ok, result.problems

    # and the same check on the upload page
    page.get_by_role("link", name="Verify a pack").click()
    page.get_by_label("Evidence pack (.zip)").set_input_files(str(saved))
    page.get_by_role("button", name="Verify").click()
    page.get_by_test_id("verify-outcome").get_by_text("Pack verified").wait_for()


@pytest.mark.django_db(transaction=True)
def test_auditor_browses_controls_with_live_status(page, live_server, login, auditor, owner):
    small_estate(owner)
    login(page, "auditor")
    page.goto(f"{live_server.url}/evidence/")
    page.get_by_role("link", name="Controls").click()
    page.wait_for_url(f"{live_server.url}/evidence/controls/")
    table = page.get_by_test_id("controls-table")
    assert table.locator("tr[data-code]").count() == 9  # STW-09 agent threat profiles (issue 25)
    assert "reviewed on time" in table.locator("tr[data-code='STW-03']").inner_text()


@pytest.mark.django_db(transaction=True)
def test_a_pending_pack_turns_ready_on_the_page_without_a_reload(page, live_server, login, auditor):
    from governance.evidence.builder import build_pack
    from governance.evidence.models import EvidenceExport

    start, end = default_period()
    export = EvidenceExport.objects.create(requested_by=auditor, period_start=start, period_end=end)
    login(page, "auditor")
    page.goto(f"{live_server.url}/evidence/")
    row = page.locator(f"#export-{export.pk}")
    assert row.get_attribute("data-state") == "pending"
    assert row.get_by_role("link", name="Download").count() == 0

    build_pack(export.pk)  # what the worker does; the row polls every 2 s and swaps itself
    page.wait_for_selector(f"#export-{export.pk}[data-state=ready]", timeout=10_000)
    assert page.locator(f"#export-{export.pk}").get_by_role("link", name="Download").count() == 1
