# ruff: noqa: F811  (pytest fixtures imported from jobs_support)
"""Pending approvals in the daily reminder digest: due soon, then overdue with escalation to the
approver's manager and IAM, deduped across reruns; and a reminder source that does not exist fails
the system check instead of being skipped."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import reminders
from approvals.services import intake as svc
from governance.jobs.models import Reminder
from governance.jobs.reminders import run_reminders
from tests.factories import UserFactory
from tests.governance.jobs_support import clock, hooks  # noqa: F401

pytestmark = pytest.mark.django_db


def remind():
    return run_reminders(timezone.now())


def mails_to(address):
    return [m for m in mail.outbox if address in m.to]


@pytest.fixture
def manager(db):
    return UserFactory(username="manager", roles=["Tool owner"])


def test_a_pending_approval_is_due_soon_then_overdue_in_the_approvers_digest(
    clock, owner, iam, iam2, security, make_intake
):
    intake = make_intake(owner, "high")  # IAM, then Security; due 3 days after submission
    clock.shift(timedelta(days=1))
    remind()
    assert mail.outbox == []  # not due yet
    clock.shift(timedelta(days=1, hours=1))
    remind()
    assert sorted(to for m in mail.outbox for to in m.to) == ["iam2@example.com", "iam@example.com"]
    [message] = mails_to("iam@example.com")
    assert "== Approvals ==" in message.body
    assert f"{intake.approval.title} waits for your approval" in message.body
    assert f"http://127.0.0.1:8000/intake/{intake.pk}/" in message.body
    assert "[OVERDUE]" not in message.body
    clock.shift(timedelta(days=1))  # past due now
    remind()
    [_, overdue] = mails_to("iam@example.com")
    assert "[OVERDUE]" in overdue.body and "(1 overdue)" in overdue.subject
    # the requester and the step that is not open yet (Security) hear nothing
    assert mails_to("owner@example.com") == [] and mails_to("security@example.com") == []


def test_approval_reminders_are_deduped_across_reruns_and_one_digest_per_day(clock, owner, iam, make_intake):
    make_intake(owner, "high")
    make_intake(owner, "medium")
    clock.shift(timedelta(days=4))
    first = remind()
    assert first["digests_sent"] == 1
    [message] = mail.outbox
    assert message.body.count("waits for your approval") == 2  # both in the one digest
    for _ in range(3):
        clock.shift(timedelta(hours=2))
        assert remind()["pending"] == 0
    assert len(mail.outbox) == 1
    assert Reminder.objects.filter(recipient=iam, kind="overdue").count() == 2
    clock.shift(timedelta(days=1))  # still overdue tomorrow: one more digest
    remind()
    assert len(mail.outbox) == 2


def test_an_overdue_security_step_escalates_to_the_approvers_manager_and_iam(
    clock, owner, iam, iam2, security, manager, make_intake
):
    security.manager = manager
    security.save()
    intake = make_intake(owner, "high")
    svc.approve(iam, intake)  # step 1 done; Security's step opens with a fresh due date
    clock.shift(timedelta(days=3, hours=1))
    summary = remind()
    [security_mail] = mails_to("security@example.com")
    assert "[OVERDUE]" in security_mail.body
    [manager_mail] = mails_to("manager@example.com")
    assert "[ESCALATED]" in manager_mail.body and "Overdue with Security" in manager_mail.body
    assert len(mails_to("iam@example.com")) == 1 and len(mails_to("iam2@example.com")) == 1
    assert "[ESCALATED]" in mails_to("iam2@example.com")[0].body
    assert summary["escalations"] == 3
    clock.shift(timedelta(days=1))  # escalations are weekly; the approver is reminded daily
    remind()
    assert len(mails_to("manager@example.com")) == 1
    assert len(mails_to("security@example.com")) == 2


def test_iam_approvers_of_an_overdue_iam_step_get_no_escalation_about_it_as_well(
    clock, owner, iam, iam2, make_intake
):
    make_intake(owner, "medium")
    clock.shift(timedelta(days=4))
    remind()
    kinds = set(Reminder.objects.filter(recipient=iam).exclude(kind="digest").values_list("kind", flat=True))
    assert kinds == {"overdue"}


def test_the_source_runs_a_fixed_number_of_queries(clock, owner, owner2, iam, iam2, security, make_intake):
    make_intake(owner, "high")
    now = timezone.now() + timedelta(days=4)
    with CaptureQueriesContext(connection) as few:
        assert len(list(reminders.due_items(now))) == 2
    for _ in range(4):
        make_intake(owner2, "critical")
    with CaptureQueriesContext(connection) as many:
        assert len(list(reminders.due_items(now))) == 10
    assert len(many) == len(few)


def test_a_hook_is_a_function_never_a_dotted_path(hooks):
    """A misspelt dotted path used to be skipped as "feature not in this build" and its work never
    happened; a hook is now the function itself, imported by its feature's jobs module."""
    with pytest.raises(TypeError, match="register the function itself"):
        hooks.register_reminder_source("approvals-typo", "approvals.reminderz.due_items")
    assert "approvals-typo" not in dict(hooks.reminder_sources())
    assert dict(hooks.reminder_sources())["approvals"] is reminders.due_items
