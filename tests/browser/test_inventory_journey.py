"""Journey: an IAM approver finds stale production identities, opens one, suspends it, sees it in history."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from inventory.views.identities import GRANTS_SHOWN
from tests.browser.nav import click_nav
from tests.factories import CredentialFactory, GrantFactory, IdentityFactory


@pytest.fixture
def estate(owner, owner2):
    now = timezone.now()
    stale = IdentityFactory(
        name="legacy-prod-deployer",
        kind="service_account",
        owner=owner,
        backup_owner=owner2,
        environments=["prod"],
        last_used_at=now - timedelta(days=200),
        risk_tier="high",
        risk_reasons=["Reaches production (+2).", "High-impact actions: deploy (+3)."],
    )
    GrantFactory(
        identity=stale, resource_kind="ci_pipeline", resource_name="platform/release", actions=["deploy"]
    )
    CredentialFactory(identity=stale, label="legacy-deploy-key", issued_at=now - timedelta(days=500))
    IdentityFactory(name="busy-prod-bot", kind="bot", owner=owner, environments=["prod"], last_used_at=now)
    IdentityFactory(
        name="stale-dev-plugin",
        kind="ide_plugin",
        owner=owner2,
        environments=["dev"],
        last_used_at=now - timedelta(days=300),
    )
    return stale


@pytest.mark.django_db(transaction=True)
def test_iam_filters_to_stale_prod_opens_one_suspends_it_and_sees_the_history(
    page, live_server, login, role_users, estate
):
    # A long history: more current grants than the page shows at once, and one ended.
    for n in range(GRANTS_SHOWN):
        GrantFactory(identity=estate, resource_name=f"platform/service-{n:02}")
    GrantFactory(
        identity=estate, resource_name="platform/retired", ended_at=timezone.now(), end_reason="replaced"
    )
    login(page, "iam")
    click_nav(page, "Inventory")
    table = page.get_by_test_id("inventory-table")
    assert table.get_by_role("link", name="busy-prod-bot").is_visible()

    # Filter: production, unused for 90 days or more (htmx updates the results and the address bar).
    page.get_by_label("Environment").select_option("prod")
    page.wait_for_url(lambda url: "environment=prod" in url)
    page.get_by_label("Unused for (days)").fill("90")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(lambda url: "unused_days=90" in url)
    table.get_by_role("link", name="busy-prod-bot").wait_for(state="detached")
    assert table.get_by_role("link", name="legacy-prod-deployer").is_visible()
    assert table.get_by_role("link", name="stale-dev-plugin").count() == 0

    # Open it: owners, tier reasons, grants and credentials with their age.
    table.get_by_role("link", name="legacy-prod-deployer").click()
    page.wait_for_url(f"**/inventory/{estate.pk}/")
    assert page.get_by_test_id("identity-status").inner_text() == "active"
    assert "High-impact actions: deploy (+3)." in page.get_by_test_id("risk-reasons").inner_text()
    grants = page.get_by_test_id("grants")
    assert "platform/release" in grants.inner_text()
    assert "500 days" in page.get_by_test_id("credentials").inner_text()

    # On the Grants tab the first current grants show; the rest, and the ended one, load into the table.
    page.get_by_test_id("identity-tabs").get_by_role("tab", name="Grants").click()
    expect(grants.get_by_test_id("grant")).to_have_count(GRANTS_SHOWN)
    grants.get_by_role("link", name=f"Show all {GRANTS_SHOWN + 1} current grants").click()
    expect(grants.get_by_test_id("current-grants").get_by_test_id("grant")).to_have_count(GRANTS_SHOWN + 1)
    expect(grants.get_by_test_id("ended-grants")).not_to_contain_text("platform/retired")
    grants.get_by_role("link", name="Show 1 ended or expired grant").click()
    expect(grants.get_by_test_id("ended-grants")).to_contain_text("platform/retired")
    expect(grants.get_by_test_id("ended-grants")).to_contain_text("replaced")
    assert page.url.endswith(f"/inventory/{estate.pk}/#grants-card")  # htmx: no navigation, still on the tab

    # Suspend with a reason in the dialog.
    page.get_by_role("link", name="Suspend").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason").fill("Unused in production for 200 days; suspending pending owner review.")
    dialog.get_by_role("button", name="Suspend").click()
    page.wait_for_load_state()

    assert page.get_by_role("alert").filter(has_text="identity suspended").is_visible()
    assert page.get_by_test_id("identity-status").inner_text() == "suspended"
    history = page.get_by_test_id("history")
    assert "identity.suspended" in history.inner_text()
    assert "Unused in production for 200 days" in history.inner_text()
    assert "iam" in history.inner_text()


@pytest.mark.django_db(transaction=True)
def test_owner_sees_their_own_identities_first_under_mine(page, live_server, login, role_users, estate):
    login(page, "owner")
    page.goto(f"{live_server.url}/inventory/")
    table = page.get_by_test_id("inventory-table")
    assert table.get_by_role("link", name="legacy-prod-deployer").is_visible()
    assert table.get_by_role("link", name="stale-dev-plugin").count() == 0
    page.get_by_role("link", name="All", exact=True).click()
    table.get_by_role("link", name="stale-dev-plugin").wait_for()
