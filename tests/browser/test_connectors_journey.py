"""IAM registers an AWS IAM connector, dry-runs it, syncs it, follows what it found to the identity,
and confirms a user that vanished from the source; a running run's row follows its progress."""

from __future__ import annotations

import pytest

from connectors.models import Connector, ConnectorRun
from inventory.models import Identity
from tests.browser.nav import click_nav


@pytest.mark.django_db(transaction=True)
def test_iam_registers_dry_runs_syncs_and_confirms_a_vanished_user(
    page, live_server, login, iam, aws, moto_url
):
    aws.create_user(UserName="nightly-export")
    key = aws.create_access_key(UserName="nightly-export")["AccessKey"]["AccessKeyId"]
    login(page, "iam")
    click_nav(page, "Connectors")
    page.wait_for_url(f"{live_server.url}/connectors/")
    page.get_by_test_id("connectors-empty").wait_for()

    page.get_by_label("Name").fill("aws-lab")
    page.get_by_label("endpoint_url").fill(moto_url)
    page.get_by_role("button", name="Register connector").click()
    connector = Connector.objects.get(name="aws-lab")
    page.wait_for_url(f"{live_server.url}/connectors/{connector.pk}/")
    page.get_by_test_id("runs-empty").wait_for()

    page.get_by_role("button", name="Dry run").click()
    dry = page.locator("tr[data-testid=run-row][data-state=succeeded]").first
    dry.wait_for()
    assert "dry run" in dry.inner_text()
    assert dry.locator("[data-count=discovered]").inner_text() == "1"
    assert not Identity.objects.filter(source="aws-lab").exists()  # a dry run writes nothing

    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(f"{live_server.url}/connectors/{connector.pk}/")
    rows = page.locator("tr[data-testid=run-row][data-state=succeeded]")
    rows.nth(1).wait_for()
    latest = rows.first
    assert "dry run" not in latest.inner_text()
    assert latest.locator("[data-count=discovered]").inner_text() == "1"
    latest.get_by_text("What changed (1)").click()
    latest.get_by_role("link", name="arn:aws:iam::123456789012:user/nightly-export").click()

    identity = Identity.objects.get(source="aws-lab")
    page.wait_for_url(f"{live_server.url}/inventory/{identity.pk}/")
    assert page.get_by_test_id("identity-status").inner_text() == "discovered"
    panel = page.get_by_test_id("source-record")
    assert key in panel.inner_text() and "Active" in panel.inner_text()

    aws.delete_access_key(UserName="nightly-export", AccessKeyId=key)
    aws.delete_user(UserName="nightly-export")
    panel.get_by_role("link", name="aws-lab").click()
    page.get_by_role("button", name="Sync now").click()
    page.wait_for_url(f"{live_server.url}/connectors/{connector.pk}/")
    page.locator("tr[data-testid=run-row][data-state=succeeded]").nth(2).wait_for()
    assert page.get_by_test_id("run-row").first.locator("[data-count=vanished]").inner_text() == "1"
    page.get_by_role("link", name=identity.name).click()

    page.get_by_test_id("identity-vanished").wait_for()
    page.get_by_label("Gone from aws-lab: confirm and decommission").fill("Export job retired in AWS")
    page.get_by_role("button", name="Confirm vanished").click()
    page.wait_for_url(f"{live_server.url}/inventory/{identity.pk}/")
    assert page.get_by_test_id("identity-status").inner_text() == "decommissioned"
    identity.refresh_from_db()
    assert identity.status == "decommissioned" and not identity.vanished


@pytest.mark.django_db(transaction=True)
def test_a_running_runs_row_follows_its_progress(page, live_server, login, iam, auditor):
    from connectors.services import create_connector

    connector = create_connector(iam, {"name": "aws-slow", "kind": "aws_iam", "schedule": "manual"})
    run = ConnectorRun.objects.create(
        connector=connector, actor="iam", progress={"phase": "users", "done": 40}, seen=40
    )
    login(page, "auditor")
    page.goto(f"{live_server.url}/connectors/{connector.pk}/")
    row = page.locator(f"#run-{run.pk}")
    assert row.get_attribute("data-state") == "running"
    assert "users: 40 read so far" in page.get_by_test_id("run-progress").inner_text()
    assert page.get_by_role("button", name="Sync now").count() == 0  # auditors read only

    ConnectorRun.objects.filter(pk=run.pk).update(state="succeeded", seen=120, discovered=3)

    page.locator(f"#run-{run.pk}[data-state=succeeded]").wait_for()
    assert page.locator(f"#run-{run.pk} [data-count=seen]").inner_text() == "120"
