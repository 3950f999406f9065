# ruff: noqa: F811  (pytest fixtures imported from jobs_support)
"""Reminders: recorded before sending, one digest per person per day, dedupe across reruns and
outages, escalation to the manager and IAM that no opt-out stops."""

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from governance.findings.models import Finding
from governance.jobs.models import Reminder, ReminderOptOut
from governance.jobs.reminders import Due, run_reminders
from tests.factories import CredentialFactory, IdentityFactory, UserFactory
from tests.governance.jobs_support import clock, hooks  # noqa: F401

pytestmark = pytest.mark.django_db


def remind():
    return run_reminders(timezone.now())


def mails_to(address):
    return [m for m in mail.outbox if address in m.to]


def open_finding(identity, severity="medium", rule="stale_unused", opened_days_ago=0):
    opened = timezone.now() - timedelta(days=opened_days_ago)
    return Finding.objects.create(
        rule=rule,
        identity=identity,
        severity=severity,
        first_seen_at=opened,
        last_seen_at=timezone.now(),
        evidence={"summary": "Not used for 95 days (tier low allows 90)"},
    )


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", roles=["Tool owner"])


@pytest.fixture
def managed_owner(owner, manager):
    owner.manager = manager
    owner.save()
    return owner


def test_one_digest_lists_everything_due_with_why_and_a_link(clock, owner):
    identity = IdentityFactory(owner=owner, name="ci-bot")
    open_finding(identity)
    CredentialFactory(identity=identity, label="deploy-key", expires_at=timezone.now() + timedelta(days=5))
    CredentialFactory(identity=identity, label="far-key", expires_at=timezone.now() + timedelta(days=60))
    summary = remind()
    assert summary["digests_sent"] == 1 and summary["items_sent"] == 2
    [message] = mail.outbox
    assert message.to == ["owner@example.com"]
    body = message.body
    assert "Stale, unused access (medium): ci-bot" in body
    assert "Why: Not used for 95 days" in body
    assert f"http://127.0.0.1:8000/findings/?identity={identity.pk}" in body
    assert "Credential deploy-key of ci-bot expires 2025-03-15" in body
    assert f"/inventory/{identity.pk}/" in body
    assert "far-key" not in body
    html = message.alternatives[0][0]
    assert f'href="http://127.0.0.1:8000/inventory/{identity.pk}/"' in html


def test_reminders_are_recorded_before_they_are_sent_and_a_rerun_sends_nothing(clock, owner):
    open_finding(IdentityFactory(owner=owner))
    remind()
    assert Reminder.objects.filter(kind="open", sent_at__isnull=False).count() == 1
    assert Reminder.objects.filter(kind="digest").count() == 1
    for _ in range(3):
        clock.shift(timedelta(hours=2))
        summary = remind()
        assert summary["recorded"] == 1 and summary["pending"] == 0
    assert len(mail.outbox) == 1
    assert Reminder.objects.filter(kind="open").count() == 1


def test_routine_reminders_repeat_weekly_not_daily(clock, owner):
    open_finding(IdentityFactory(owner=owner))
    remind()
    for _ in range(6):  # Tuesday .. Sunday of the same ISO week
        clock.shift(timedelta(days=1))
        remind()
    assert len(mail.outbox) == 1
    clock.shift(timedelta(days=1))  # next Monday: a new week
    remind()
    assert len(mail.outbox) == 2


def test_overdue_items_escalate_to_the_manager_and_iam(clock, managed_owner, manager, iam, iam2):
    identity = IdentityFactory(owner=managed_owner, name="prod-deployer")
    open_finding(identity, severity="critical", rule="denied_grant", opened_days_ago=20)
    summary = remind()
    assert summary["escalations"] == 3
    assert {addr for m in mail.outbox for addr in m.to} == {
        "owner@example.com",
        "manager@example.com",
        "iam@example.com",
        "iam2@example.com",
    }
    [owner_mail] = mails_to("owner@example.com")
    assert "[OVERDUE]" in owner_mail.body and "(1 overdue)" in owner_mail.subject
    [manager_mail] = mails_to("manager@example.com")
    assert "[ESCALATED]" in manager_mail.body and "Overdue with Owner" in manager_mail.body


def test_a_three_day_outage_catches_up_with_one_reminder_not_one_per_missed_day(clock, managed_owner, iam):
    open_finding(IdentityFactory(owner=managed_owner), severity="high", opened_days_ago=30)
    remind()  # Monday
    assert len(mails_to("owner@example.com")) == 1
    clock.shift(timedelta(days=4))  # Tuesday to Thursday the job was down; it comes back on Friday
    remind()
    remind()  # and beat also fires the catch-up twice
    owner_rows = Reminder.objects.filter(recipient=managed_owner, kind="overdue")
    assert sorted(owner_rows.values_list("window", flat=True)) == ["2025-03-10", "2025-03-14"]
    assert len(mails_to("owner@example.com")) == 2
    # escalations are weekly: Monday's covers the whole week, so the Friday catch-up adds none
    assert len(mails_to("iam@example.com")) == 1
    assert Reminder.objects.filter(kind="escalation", recipient=iam).count() == 1


def test_one_digest_per_person_per_day_even_when_new_items_appear_later(clock, owner):
    identity = IdentityFactory(owner=owner)
    open_finding(identity)
    remind()
    clock.shift(timedelta(hours=3))
    open_finding(IdentityFactory(owner=owner), rule="review_overdue")
    summary = remind()
    assert summary["digests_sent"] == 0 and len(mail.outbox) == 1
    clock.shift(timedelta(days=1))  # tomorrow's digest carries what was held back
    remind()
    assert len(mail.outbox) == 2
    assert "Access review overdue" in mail.outbox[1].body
    assert "Stale, unused access" not in mail.outbox[1].body


def test_opted_out_people_get_no_routine_digest_but_overdue_and_escalations_still_arrive(
    clock, managed_owner, manager
):
    ReminderOptOut.objects.create(user=managed_owner)
    ReminderOptOut.objects.create(user=manager)
    open_finding(IdentityFactory(owner=managed_owner))  # routine
    summary = remind()
    assert summary["opted_out"] == 1 and mail.outbox == []
    open_finding(IdentityFactory(owner=managed_owner), severity="high", opened_days_ago=15)
    clock.shift(timedelta(days=1))
    remind()
    assert len(mails_to("owner@example.com")) == 1  # the overdue item
    assert len(mails_to("manager@example.com")) == 1  # the escalation: no opt-out


def test_inactive_people_are_not_reminded(clock, owner):
    open_finding(IdentityFactory(owner=owner))
    owner.is_active = False
    owner.save()
    assert remind()["recorded"] == 0 and mail.outbox == []


def test_features_add_their_own_reminder_sources(clock, owner, iam, hooks):
    hooks.register_reminder_source(
        "approvals",
        lambda now: [
            Due(
                recipient_id=iam.pk,
                subject_type="approvals.intakerequest",
                subject_id=17,
                kind="overdue",
                title="Request 17 waits for your approval",
                why="Pending for 4 days (reminder after 3).",
                url="/approvals/17/",
                section="Approvals",
            )
        ],
    )
    remind()
    [message] = mail.outbox
    assert "== Approvals ==" in message.body and "http://127.0.0.1:8000/approvals/17/" in message.body


def test_a_failing_source_does_not_stop_other_reminders(clock, owner, hooks):
    def broken(now):
        raise RuntimeError("boom")

    hooks.register_reminder_source("broken", broken)
    open_finding(IdentityFactory(owner=owner))
    remind()
    assert len(mail.outbox) == 1


def test_a_failed_send_is_retried_by_the_next_run(clock, owner, monkeypatch):
    open_finding(IdentityFactory(owner=owner))
    from django.core.mail import EmailMultiAlternatives

    original = EmailMultiAlternatives.send
    monkeypatch.setattr(EmailMultiAlternatives, "send", lambda self, *a, **k: 1 / 0)
    assert remind()["failed"] == 1
    assert Reminder.objects.filter(kind="open", sent_at__isnull=True).count() == 1
    monkeypatch.setattr(EmailMultiAlternatives, "send", original)
    clock.shift(timedelta(hours=2))
    assert remind()["items_sent"] == 1
    assert len(mail.outbox) == 1
