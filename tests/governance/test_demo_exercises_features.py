"""Demo data that exercises every feature (issue 22 item 8): a second Security admin (critical
exceptions need two), a reviewer with more items than the rubber-stamp threshold, an approval overdue
and escalated, an expiring exception; the example import files import cleanly on the demo; and
seed_demo stays idempotent."""

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.models import Count
from django.utils import timezone

from approvals.models import ApprovalRequest, IntakeRequest
from governance.demo import EXPIRING_EXCEPTION, OVERDUE_REQUEST, REVIEW_CAMPAIGN
from governance.exceptions.models import PolicyException
from governance.models import AuditEvent
from governance.people.models import Role, User
from governance.reviews.models import RUBBER_STAMP_COUNT, ReviewCampaign
from inventory.importers import import_identities
from inventory.models import Identity

pytestmark = pytest.mark.django_db
EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def seed() -> str:
    out = io.StringIO()
    call_command("seed_demo", password="pw-for-tests-1", stdout=out)
    return out.getvalue()


def totals() -> tuple[int, ...]:
    return (Identity.objects.count(), PolicyException.objects.count(), IntakeRequest.objects.count())


def test_the_demo_has_work_in_flight_for_every_feature_and_a_second_seed_adds_nothing():
    first = seed()
    security = User.objects.filter(groups__name=Role.SECURITY).exclude(groups__name=Role.AUDITOR)
    assert {"security", "security2"} <= set(security.values_list("username", flat=True))

    exc = PolicyException.objects.get(identity__name=EXPIRING_EXCEPTION["identity"])
    assert exc.state == "active" and exc.identity.risk_tier == "critical"
    assert timezone.now() < exc.expires_at < timezone.now() + timedelta(days=7)
    approvers = set(exc.approval.steps.values_list("decided_by__username", flat=True))
    assert approvers == {"security", "security2"}

    intake = IntakeRequest.objects.get(name=OVERDUE_REQUEST["name"])
    approval = ApprovalRequest.objects.get(pk=intake.approval.pk)
    assert approval.is_open and approval.due_at < timezone.now()
    escalation = AuditEvent.objects.get(
        verb="reminder.escalated", subject_type="approvals.approvalrequest", subject_id=str(approval.pk)
    )
    assert escalation.actor == "system:reminders" and escalation.after["escalated_to"] == ["hana"]
    assert "reminders escalated" in first

    campaign = ReviewCampaign.objects.get(name=REVIEW_CAMPAIGN["name"])
    busiest = campaign.items.values("reviewer").annotate(n=Count("id")).order_by("-n").first()
    assert busiest["n"] > RUBBER_STAMP_COUNT

    counts = totals()
    events = AuditEvent.objects.filter(verb="reminder.escalated").count()
    second = seed()
    assert "demo: " not in second.replace("demo: reminders", "")
    assert totals() == counts
    assert ReviewCampaign.objects.filter(name=REVIEW_CAMPAIGN["name"]).count() == 1
    assert AuditEvent.objects.filter(verb="reminder.escalated").count() == events


@pytest.mark.parametrize("example", ["ai-coding-assistants.csv", "cloud-service-accounts.json"])
def test_the_example_files_import_cleanly_on_the_demo(example):
    seed()
    iam = User.objects.get(username="iam")
    content = (EXAMPLES / example).read_bytes()
    plan = import_identities(iam, content, filename=example, dry_run=False)
    assert plan.rows
    again = import_identities(iam, content, filename=example, dry_run=True)  # matched: nothing new
    assert not again.of("create")
