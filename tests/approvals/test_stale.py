"""Stale requests: one reminder after `request_reminder_days`, expiry after `request_expiry_days`."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from approvals.models import ApprovalRequest, Comment
from approvals.services import engine
from approvals.services import intake as svc
from approvals.services.stale import remind_and_expire_stale_requests
from governance.models import AuditEvent


@pytest.fixture
def start():
    return timezone.now()


@pytest.mark.django_db
def test_pending_request_is_reminded_once(
    owner, iam, iam2, security, make_intake, start, mailoutbox, django_capture_on_commit_callbacks
):
    intake = make_intake(owner, "high")
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_and_expire_stale_requests(start + timedelta(days=2)) == {"reminded": 0, "expired": 0}
        mailoutbox.clear()
        assert remind_and_expire_stale_requests(start + timedelta(days=4)) == {"reminded": 1, "expired": 0}
        assert remind_and_expire_stale_requests(start + timedelta(days=5)) == {"reminded": 0, "expired": 0}
    assert Comment.objects.filter(request=intake.approval, event=Comment.Event.REMINDED).count() == 1
    event = AuditEvent.objects.get(verb="approval.reminded")
    assert event.actor == "system:approvals"
    assert sorted(event.after["recipients"]) == ["iam", "iam2"]
    assert sorted(to for m in mailoutbox for to in m.to) == ["iam2@example.com", "iam@example.com"]
    # In the daily digest's style (issue 22 item 9), and the digest leaves it out the same day.
    assert mailoutbox[0].subject.startswith("Steward: 1 item(s) need your attention (1 overdue)")
    assert f"/intake/{intake.pk}/" in mailoutbox[0].body and "waits for your approval" in mailoutbox[0].body


@pytest.mark.django_db
def test_the_stale_reminder_and_the_digest_tell_an_approver_once_a_day(
    owner, iam, make_intake, start, mailoutbox, django_capture_on_commit_callbacks
):
    from governance.jobs.reminders import run_reminders

    intake = make_intake(owner, "medium")
    with django_capture_on_commit_callbacks(execute=True):
        assert remind_and_expire_stale_requests(start + timedelta(days=4))["reminded"] == 1
    assert [m.to for m in mailoutbox] == [["iam@example.com"]]
    with time_machine.travel(start + timedelta(days=4, seconds=11), tick=False):
        run_reminders(timezone.now())
    assert [m.to for m in mailoutbox] == [["iam@example.com"]], [m.subject for m in mailoutbox]
    assert intake.approval.pk


@pytest.mark.django_db
def test_activity_resets_the_clock(owner, iam, make_intake, start):
    intake = make_intake(owner, "high")
    with time_machine.travel(start + timedelta(days=2)):
        engine.add_comment(iam, intake.approval, "Which repositories exactly?")
    assert remind_and_expire_stale_requests(start + timedelta(days=4))["reminded"] == 0
    assert remind_and_expire_stale_requests(start + timedelta(days=5, hours=1))["reminded"] == 1


@pytest.mark.django_db
def test_untouched_request_expires_as_withdrawn_with_reason_expired(
    owner, make_intake, start, mailoutbox, django_capture_on_commit_callbacks
):
    intake = make_intake(owner, "high")
    remind_and_expire_stale_requests(start + timedelta(days=4))
    with django_capture_on_commit_callbacks(execute=True):
        result = remind_and_expire_stale_requests(start + timedelta(days=15))
    assert result == {"reminded": 0, "expired": 1}
    intake.refresh_from_db()
    assert intake.state == "withdrawn" and intake.state_reason == "expired"
    assert intake.approval.state == ApprovalRequest.State.WITHDRAWN
    assert intake.approval.steps.filter(state="pending").count() == 0
    assert AuditEvent.objects.get(verb="approval.expired").actor == "system:approvals"
    assert AuditEvent.objects.get(verb="intake.withdrawn").reason == "expired"
    assert [m.to for m in mailoutbox] == [["owner@example.com"]]
    # A rerun finds nothing left to do.
    assert remind_and_expire_stale_requests(start + timedelta(days=16)) == {"reminded": 0, "expired": 0}


@pytest.mark.django_db
def test_request_sent_back_reminds_the_requester_and_resubmission_opens_a_new_window(
    owner, iam, make_intake, start, mailoutbox, django_capture_on_commit_callbacks
):
    intake = make_intake(owner, "medium")
    svc.request_changes(iam, intake, comment="Say which repositories.")
    with django_capture_on_commit_callbacks(execute=True):
        remind_and_expire_stale_requests(start + timedelta(days=4))
    assert [m.to for m in mailoutbox] == [["owner@example.com"]]
    with time_machine.travel(start + timedelta(days=5)):
        svc.submit(owner, intake)
    assert remind_and_expire_stale_requests(start + timedelta(days=9))["reminded"] == 1


@pytest.mark.django_db
def test_closed_requests_are_left_alone(owner, iam, make_intake, start):
    intake = make_intake(owner, "medium")
    svc.approve(iam, intake)
    assert remind_and_expire_stale_requests(start + timedelta(days=30)) == {"reminded": 0, "expired": 0}


@pytest.mark.django_db
def test_policy_sets_the_windows(owner, security, make_intake, start):
    from governance.actors import system
    from governance.policy.services import DEFAULT_POLICY, install_policy

    install_policy(system("test"), {**DEFAULT_POLICY, "request_reminder_days": 1, "request_expiry_days": 2})
    make_intake(owner, "high")
    assert remind_and_expire_stale_requests(start + timedelta(days=1, hours=1))["reminded"] == 1
    assert remind_and_expire_stale_requests(start + timedelta(days=2, hours=1))["expired"] == 1
