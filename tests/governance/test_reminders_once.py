# ruff: noqa: F811  (pytest fixtures imported from jobs_support)
"""Reminders once (issue 22 item 9): "Send reminders now" and the daily digest share one dedupe
window (a person hears of a subject at most once a day, whichever path tells them) and one subject
style; escalations are audited with whom they went to and when."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from governance.jobs.models import Reminder
from governance.jobs.reminders import run_reminders
from governance.models import AuditEvent
from governance.reviews.models import ReviewReminder
from governance.reviews.services import launch_campaign, send_reminders
from tests.factories import IdentityFactory
from tests.governance.jobs_support import clock  # noqa: F401

pytestmark = pytest.mark.django_db
DIGEST_SUBJECT = re.compile(r"^Steward: \d+ item\(s\) need your attention")


@pytest.fixture
def campaign(iam, owner, owner2):
    IdentityFactory(owner=owner, name="first")
    IdentityFactory(owner=owner2, name="second")
    return launch_campaign(iam, "Quarterly", {}, timezone.now() + timedelta(days=3))


def to(address):
    return [m for m in mail.outbox if address in m.to]


def test_a_press_then_the_digest_eleven_seconds_later_reminds_each_reviewer_once(
    clock, campaign, iam, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders(iam, campaign)["sent"] == 2
    [pressed] = to("owner@example.com")
    assert DIGEST_SUBJECT.match(pressed.subject) and "access review(s) in 'Quarterly'" in pressed.body
    clock.shift(timedelta(seconds=11))
    run_reminders(timezone.now())
    assert len(to("owner@example.com")) == 1 and len(to("owner2@example.com")) == 1
    assert ReviewReminder.objects.count() == 2
    assert Reminder.objects.filter(kind="due_soon", sent_at__isnull=False).count() == 2


def test_the_digest_then_a_press_sends_nothing_twice_in_one_day_and_again_the_next_day(
    clock, campaign, iam, django_capture_on_commit_callbacks
):
    run_reminders(timezone.now())
    [digest] = to("owner@example.com")
    clock.shift(timedelta(seconds=11))
    with django_capture_on_commit_callbacks(execute=True):
        result = send_reminders(iam, campaign)
    assert result["sent"] == 0 and len(to("owner@example.com")) == 1
    event = AuditEvent.objects.filter(verb="review.reminders_sent").latest("seq")
    assert event.actor == "iam" and event.after["reviewers"] == []
    clock.shift(timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert send_reminders(iam, campaign)["sent"] == 2
    pressed = to("owner@example.com")[-1]
    # One style: the same subject form and the same layout as the digest.
    assert DIGEST_SUBJECT.match(digest.subject) and DIGEST_SUBJECT.match(pressed.subject)
    assert pressed.alternatives and "Reviews" in pressed.body and "Reviews" in digest.body


def test_an_escalation_is_audited_with_whom_it_went_to_and_when(clock, owner, manager_of_owner, iam, iam2):
    IdentityFactory(owner=owner, name="late-bot")
    campaign = launch_campaign(iam, "Late", {}, timezone.now() + timedelta(days=1))
    clock.shift(timedelta(days=3))
    summary = run_reminders(timezone.now())
    assert summary["escalated_subjects"] >= 1
    event = AuditEvent.objects.filter(verb="reminder.escalated", subject_id=str(campaign.pk)).get()
    assert event.actor == "system:reminders"
    assert event.subject_type == "governance.reviewcampaign"
    assert event.after["escalated_to"] == ["iam", "iam2", "manager"]
    assert event.after["at"] == timezone.now().isoformat()
    assert "Overdue with" in event.reason
    assert to("manager@example.com")
    run_reminders(timezone.now())  # a rerun escalates nothing new, and audits nothing new
    assert AuditEvent.objects.filter(verb="reminder.escalated").count() == summary["escalated_subjects"]


@pytest.fixture
def manager_of_owner(owner):
    from tests.factories import UserFactory

    manager = UserFactory(username="manager", roles=["Tool owner"])
    owner.manager = manager
    owner.save()
    return manager
