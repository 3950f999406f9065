"""Notifications: next approvers when a step opens, the requester on every decision, never the actor."""

import json
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from approvals import notifications
from approvals.services import intake as svc
from tests.loopback import serving


def _to(outbox):
    return sorted(address for message in outbox for address in message.to)


@pytest.fixture
def notify_now(django_capture_on_commit_callbacks):
    """Run on-commit callbacks (where notifications are sent) as the test goes."""

    def run(call, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return call(*args, **kwargs)

    return run


@pytest.mark.django_db
def test_submission_tells_the_first_approvers_not_the_requester(
    owner, iam, iam2, security, make_intake, notify_now, mailoutbox
):
    intake = notify_now(make_intake, owner, "high")
    assert _to(mailoutbox) == ["iam2@example.com", "iam@example.com"]
    assert "Approval needed" in mailoutbox[0].subject
    assert f"http://127.0.0.1:8000/intake/{intake.pk}/" in mailoutbox[0].body


@pytest.mark.django_db
def test_next_approver_gets_mail_the_actor_does_not(
    owner, iam, iam2, security, make_intake, notify_now, mailoutbox
):
    intake = make_intake(owner, "high")
    notify_now(svc.approve, iam, intake, comment="Looks fine")
    recipients = _to(mailoutbox)
    assert "security@example.com" in recipients  # step 2 opened
    assert "owner@example.com" in recipients  # the requester hears of every decision
    assert "iam@example.com" not in recipients  # never the person who acted
    requester_mail = next(m for m in mailoutbox if m.to == ["owner@example.com"])
    assert "Looks fine" in requester_mail.body


@pytest.mark.django_db
@pytest.mark.parametrize("decision", ["approve", "reject", "request_changes"])
def test_requester_is_told_of_every_decision(
    owner, owner2, iam, make_intake, notify_now, mailoutbox, decision
):
    intake = make_intake(owner, "medium", backup_owner=owner2)
    notify_now(svc.decide, iam, intake, decision, comment="because")
    assert set(_to(mailoutbox)) == {"owner@example.com", "owner2@example.com"}
    assert "iam@example.com" not in _to(mailoutbox)


@pytest.mark.django_db
def test_nothing_is_sent_when_the_change_rolls_back(owner, iam, make_intake, notify_now, mailoutbox):
    from governance.errors import NotAllowed

    intake = make_intake(owner, "high")
    with pytest.raises(NotAllowed):
        notify_now(svc.approve, owner, intake)
    assert mailoutbox == []


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - the http.server API
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook(settings):
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    with serving(server) as url:
        _Hook.received = []
        settings.STEWARD_WEBHOOK_URL = f"{url}/hook"
        yield _Hook.received


@pytest.mark.django_db
def test_webhook_channel_posts_json(owner, iam, make_intake, notify_now, webhook):
    intake = notify_now(make_intake, owner, "medium")
    assert len(webhook) == 1
    payload = webhook[0]
    assert payload["event"] == "approval.step_opened"
    assert payload["recipients"] == ["iam"]
    assert payload["url"].endswith(f"/intake/{intake.pk}/")


@pytest.mark.django_db
def test_a_failing_channel_is_logged_and_never_breaks_the_request(
    owner, iam, make_intake, notify_now, settings, mailoutbox, caplog
):
    settings.STEWARD_WEBHOOK_URL = "http://127.0.0.1:9/unreachable"
    intake = notify_now(make_intake, owner, "medium")
    assert intake.state == "submitted"
    assert _to(mailoutbox) == ["iam@example.com"]  # email still went
    assert "notification via webhook failed" in caplog.text


@pytest.mark.django_db
def test_channels_are_pluggable(owner, iam, make_intake, notify_now):
    sent = []

    class Recorder(notifications.Channel):
        name = "recorder"

        def send(self, event, recipients, subject, body, url):
            sent.append((event, [r.username for r in recipients]))

    recorder = Recorder()
    notifications.register_channel(recorder)
    try:
        notify_now(make_intake, owner, "medium")
    finally:
        notifications._extra_channels.remove(recorder)  # the app's own (Slack) stay
    assert sent == [("approval.step_opened", ["iam"])]
