"""Journey: an owner proposes a new owner; the new owner accepts; the inventory and history show it."""

import pytest
from playwright.sync_api import expect

from tests.factories import IdentityFactory


@pytest.mark.django_db(transaction=True)
def test_owner_proposes_owner2_who_accepts_and_the_inventory_shows_the_new_owner(
    page, live_server, login, role_users
):
    identity = IdentityFactory(name="handover-bot", kind="bot", owner=role_users["owner"])

    login(page, "owner")
    page.goto(f"{live_server.url}/inventory/{identity.pk}/")
    page.get_by_role("link", name="Transfer ownership").click()
    page.get_by_label("New owner").select_option("owner2")
    page.get_by_label("Reason").fill("Moving to the payments team")
    page.get_by_role("button", name="Propose transfer").click()
    expect(page.get_by_text("Transfer proposed")).to_be_visible()
    expect(page.get_by_test_id("owner")).to_contain_text("owner")
    expect(page.get_by_test_id("transfers")).to_contain_text("proposed")

    login(page, "owner2")
    page.goto(f"{live_server.url}/inventory/transfers/")
    waiting = page.get_by_test_id("waiting")
    expect(waiting).to_contain_text("handover-bot")
    waiting.get_by_role("button", name="Accept").click()
    expect(page.get_by_text("you now own handover-bot")).to_be_visible()
    expect(page.get_by_test_id("empty-waiting")).to_be_visible()

    page.goto(f"{live_server.url}/inventory/?mine=false&search=handover")
    row = page.get_by_test_id("inventory-table").get_by_role("row", name="handover-bot")
    expect(row).to_contain_text("Owner2")  # the list shows display names
    expect(row).to_contain_text("Payments")  # and the identity moved to the new owner's team

    row.get_by_role("link", name="handover-bot").click()
    expect(page.get_by_test_id("owner")).to_contain_text("owner2")
    history = page.get_by_test_id("history")
    expect(history).to_contain_text("identity.owner_transferred")
    expect(history).to_contain_text("identity.transfer_proposed")
    expect(history).to_contain_text("Moving to the payments team")
