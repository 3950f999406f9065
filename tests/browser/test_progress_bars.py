"""Long work shows percent done and time left (issue 22 item 11): an evidence pack being built and a
connector run, each a progress bar polled by htmx until it reaches 100 % and done; axe-core clean."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from connectors.models import ConnectorRun
from governance.evidence.services import default_period
from tests.browser.test_accessibility import AXE, _violations

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def axe_page(browser):
    """As in test_accessibility: axe is injected inline, which the pages' CSP would refuse."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed (npm ci)")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB", bypass_csp=True)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def _bar(row):
    bar = row.get_by_role("progressbar")
    bar.wait_for()
    return bar


def test_an_evidence_pack_shows_its_build_progress_until_done(axe_page, live_server, login, auditor):
    from governance.evidence.builder import build_pack
    from governance.evidence.models import EvidenceExport

    page = axe_page
    start, end = default_period()
    export = EvidenceExport.objects.create(
        requested_by=auditor,
        period_start=start,
        period_end=end,
        started_at=timezone.now() - timedelta(seconds=30),
        progress_done=5,
        progress_total=20,
    )
    login(page, "auditor")
    page.goto(f"{live_server.url}/evidence/")
    row = page.locator(f"#export-{export.pk}")
    bar = _bar(row)
    assert bar.get_attribute("value") == "25" and bar.get_attribute("max") == "100"
    assert bar.get_attribute("aria-label") == "Pack progress"
    label = row.get_by_test_id("progress-label")
    assert re.search(r"25 % · about \d+ min left", label.inner_text()), label.inner_text()
    assert "5 of 20 files" in label.inner_text()
    page.wait_for_load_state("networkidle")
    assert not _violations(page)

    EvidenceExport.objects.filter(pk=export.pk).update(progress_done=15)  # what the worker writes
    page.wait_for_selector(f"#export-{export.pk} [data-testid=progress][data-percent='75']", timeout=10_000)
    assert "75 %" in row.get_by_test_id("progress-label").inner_text()

    # The worker's claim lapses and the real build runs from the start to the end.
    EvidenceExport.objects.filter(pk=export.pk).update(started_at=None, attempts=0)
    assert build_pack(export.pk).state == "ready"
    page.wait_for_selector(f"#export-{export.pk}[data-state=ready]", timeout=10_000)
    assert _bar(row).get_attribute("value") == "100"
    assert "100 % · done" in row.get_by_test_id("progress-label").inner_text()
    assert row.get_by_role("link", name="Download").count() == 1


def test_a_connector_run_shows_percent_and_time_left_until_done(axe_page, live_server, login, iam, auditor):
    from connectors.services import create_connector

    page = axe_page
    connector = create_connector(iam, {"name": "aws-slow", "kind": "aws_iam", "schedule": "manual"})
    now = timezone.now()
    ConnectorRun.objects.create(
        connector=connector,
        actor="iam",
        state="succeeded",
        seen=120,
        started_at=now - timedelta(days=1),
        finished_at=now - timedelta(days=1),
    )
    run = ConnectorRun.objects.create(
        connector=connector,
        actor="iam",
        progress={"phase": "users"},
        seen=30,
        started_at=now - timedelta(seconds=60),
    )
    login(page, "auditor")
    page.goto(f"{live_server.url}/connectors/{connector.pk}/")
    row = page.locator(f"#run-{run.pk}")
    bar = _bar(row)
    assert bar.get_attribute("value") == "25" and bar.get_attribute("aria-label") == "Run progress"
    label = row.get_by_test_id("progress-label").inner_text()
    assert re.search(r"25 % · about \d+ min left", label), label
    assert "30 of ≈ 120 identities" in label and "estimated from the last successful run" in label
    page.wait_for_load_state("networkidle")
    assert not _violations(page)

    ConnectorRun.objects.filter(pk=run.pk).update(seen=90)  # a page reconciled
    page.wait_for_selector(f"#run-{run.pk} [data-testid=progress][data-percent='75']", timeout=10_000)

    ConnectorRun.objects.filter(pk=run.pk).update(state="succeeded", seen=121, finished_at=timezone.now())
    page.wait_for_selector(f"#run-{run.pk}[data-state=succeeded]", timeout=10_000)
    assert _bar(row).get_attribute("value") == "100"
    assert "100 % · done" in row.get_by_test_id("progress-label").inner_text()


def test_an_import_apply_shows_an_estimate_labelled_as_one(
    axe_page, live_server, login, monkeypatch, settings, tmp_path
):
    """The apply is one transaction: the bar is an estimate from the preview's time, said so."""
    import time

    from governance.demo import seed_people
    from inventory import importers
    from tests.inventory.test_import_previews import CSV_FILE

    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "imports"},
        },
    }
    seed_people("pw-for-tests-1")
    real = importers.import_identities

    def slow(*args, **kwargs):
        if not kwargs.get("dry_run"):
            time.sleep(4)  # a large file's apply
        return real(*args, **kwargs)

    monkeypatch.setattr(importers, "import_identities", slow)
    page = axe_page
    login(page, "iam")
    page.goto(f"{live_server.url}/inventory/import/")
    page.locator("#id_file").set_input_files(str(CSV_FILE))
    page.get_by_role("button", name="Preview changes").click()
    # Playwright waits for a pending navigation before it reads the page: what the bar said while the
    # apply ran is kept in sessionStorage, which outlives the navigation.
    page.evaluate(
        """() => new MutationObserver(() => {
          const bar = document.querySelector("[data-testid=import-confirm] progress");
          const label = document.querySelector("[data-testid=import-confirm] [data-testid=progress-label]");
          if (bar && label) sessionStorage.setItem("seen", JSON.stringify(
            {label: label.textContent, aria: bar.getAttribute("aria-label"), value: bar.value}));
        }).observe(document.body, {subtree: true, childList: true, characterData: true})"""
    )
    page.get_by_role("button", name="Confirm import").click(no_wait_after=True)
    page.wait_for_url(f"{live_server.url}/inventory/", timeout=20_000)
    seen = page.evaluate("() => JSON.parse(sessionStorage.getItem('seen'))")
    label = seen["label"]
    assert re.search(r"≈ \d+ % · (about \d+ s left|taking longer than estimated)", label), label
    assert "estimated from the preview" in label and "cannot report midway" in label
    assert seen["aria"] == "Import progress" and 0 <= seen["value"] <= 95
