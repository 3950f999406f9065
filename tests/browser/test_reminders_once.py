"""Reminders once (issue 22 item 9), in Chromium: the daily digest has reminded a reviewer, so IAM's
"Send reminders now" a moment later sends nothing twice (and says why); an overdue approval shows on
its page whom it was escalated to, and when."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import expect

from approvals.models import ApprovalRequest
from approvals.services import intake as intake_services
from governance.jobs.reminders import run_reminders
from governance.reviews.services.launch import launch_campaign
from tests.approvals.conftest import answers
from tests.factories import IdentityFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_digest_and_the_button_remind_once_and_the_escalation_is_on_the_request(
    page, live_server, login, role_users, team
):
    owner, iam = role_users["owner"], role_users["iam"]
    manager = UserFactory(username="iam-lead", roles=["Tool owner"])
    iam.manager = manager
    iam.save()
    IdentityFactory(owner=owner, name="review-me", team=team)
    campaign = launch_campaign(iam, "Quarterly", {}, timezone.now() + timedelta(days=3))
    data = answers("medium", name="late-request")
    data["team"] = team
    intake = intake_services.submit(owner, intake_services.create_draft(owner, data))
    five_days_ago = timezone.now() - timedelta(days=5)
    ApprovalRequest.objects.filter(pk=intake.approval.pk).update(
        last_activity_at=five_days_ago, due_at=five_days_ago + timedelta(days=3)
    )
    mail.outbox.clear()

    run_reminders(timezone.now())  # the daily digest
    assert len([m for m in mail.outbox if "owner@example.com" in m.to]) == 1

    login(page, "iam")
    page.goto(f"{live_server.url}{campaign.get_absolute_url()}")
    page.get_by_role("button", name="Send reminders now").click()
    expect(page.get_by_role("alert").first).to_contain_text("already reminded today")
    assert len([m for m in mail.outbox if "owner@example.com" in m.to]) == 1

    page.goto(f"{live_server.url}{intake.get_absolute_url()}")
    escalations = page.get_by_test_id("escalations")
    expect(escalations).to_contain_text("Escalated: the decision is overdue")
    expect(escalations).to_contain_text(f"{timezone.localtime():%Y-%m-%d}")
    expect(escalations).to_contain_text("to iam-lead")
    assert [m.to for m in mail.outbox if "iam-lead@example.com" in m.to]
