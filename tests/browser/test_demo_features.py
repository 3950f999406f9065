"""Demo data that exercises every feature (issue 22 item 8), in Chromium on a seeded demo: the second
Security admin sees the critical exception both admins approved expiring within a week; the overdue
request shows it was escalated to the IAM approvers' manager; the platform campaign's busiest reviewer
has more items than the rubber-stamp threshold; the example CSV previews with no errors."""

import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count
from playwright.sync_api import expect

from approvals.models import IntakeRequest
from governance.demo import EXPIRING_EXCEPTION, OVERDUE_REQUEST, REVIEW_CAMPAIGN
from governance.reviews.models import RUBBER_STAMP_COUNT, ReviewCampaign

pytestmark = pytest.mark.django_db(transaction=True)
CSV = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ai-coding-assistants.csv"


def test_the_seeded_demo_shows_each_feature_at_work(page, live_server, login):
    call_command("seed_demo", password="pw-for-tests-1", stdout=io.StringIO())

    login(page, "security2")
    page.goto(f"{live_server.url}/exceptions/?expiring_within=7")
    row = page.get_by_role("row", name=re.compile(EXPIRING_EXCEPTION["identity"]))
    expect(row).to_contain_text("active")
    row.get_by_role("link").first.click()
    trail = page.get_by_test_id("approval-trail")
    expect(trail.locator("li").nth(0)).to_contain_text("security")
    expect(trail.locator("li").nth(1)).to_contain_text("security2")

    login(page, "iam")
    intake = IntakeRequest.objects.get(name=OVERDUE_REQUEST["name"])
    page.goto(f"{live_server.url}{intake.get_absolute_url()}")
    expect(page.get_by_test_id("escalations")).to_contain_text("to hana")

    campaign = ReviewCampaign.objects.get(name=REVIEW_CAMPAIGN["name"])
    busiest = campaign.items.values("reviewer__username").annotate(n=Count("id")).order_by("-n").first()
    assert busiest["n"] > RUBBER_STAMP_COUNT
    page.goto(f"{live_server.url}{campaign.get_absolute_url()}")
    reviewer = page.get_by_role("row", name=re.compile(rf"^{busiest['reviewer__username']}\b"))
    expect(reviewer.locator("td").nth(1)).to_have_text(str(busiest["n"]))

    page.goto(f"{live_server.url}/inventory/import/")
    page.get_by_label("File").set_input_files(str(CSV))
    page.get_by_role("button", name="Preview changes").click()
    expect(page.get_by_test_id("import-preview")).to_contain_text("to update")
    expect(page.get_by_test_id("import-errors")).to_have_count(0)
