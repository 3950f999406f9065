"""Approve from chat (issue 28): a signed Slack click by a linked IAM approver decides the step through
the engine, exactly as the browser does, and the request's one Slack message follows the request.
Every refusal (bad signature, old timestamp, replay, unlinked user, wrong role, the requester,
someone decided first) changes nothing."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from django.test import Client

from approvals.models import ApprovalStep, Notification
from approvals.notifications import deliver_pending
from approvals.services import engine
from chat import services
from chat.models import SeenSignature, SlackLink, SlackMessage
from governance.models import AuditEvent
from tests.chat.conftest import TEAM, block_actions, form, sign

pytestmark = pytest.mark.django_db
URL = "/integrations/slack/interactions/"


def _link(user, slack_user_id):
    return SlackLink.objects.create(
        team_id=TEAM, slack_user_id=slack_user_id, slack_name=user.username, user=user
    )


@pytest.fixture
def posted(slack, make_intake, owner, django_capture_on_commit_callbacks):
    """A high-tier intake (IAM, then Security) submitted by the owner, its message posted to Slack."""
    with django_capture_on_commit_callbacks(execute=True):
        intake = make_intake(owner, "high")
    request = engine.approval_of(intake)
    return request, SlackMessage.objects.get(request=request)


def _click(
    client, slack_api, message, *, user_id, action="steward_approve", value=None, comment=None, ts=None
):
    request = message.request
    step = request.open_step() or request.current_steps()[0]
    payload = block_actions(
        slack_api,
        message,
        user_id=user_id,
        action_id=action,
        value=value or f"{request.pk}:{step.pk}",
        comment=comment,
    )
    body = form(payload)
    headers = sign(body, ts)
    response = client.post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
    return response, body, headers


def _snapshot(request):
    request.refresh_from_db()
    return (
        request.state,
        [(s.order, s.state, s.decided_by_id) for s in request.steps.order_by("round", "order")],
        AuditEvent.objects.count(),
        SlackLink.objects.count(),
    )


# ---------------------------------------------------------------- the message


def test_a_new_request_is_posted_once_to_its_teams_channel_with_buttons(posted, slack):
    request, message = posted
    (call,) = slack.of("chat.postMessage")
    assert call["auth"] == "Bearer xoxb-test-token-not-a-real-one"
    assert call["body"]["channel"] == "C0PLATFORM"  # the team's channel wins over the tier's
    assert (message.channel, message.ts) == ("C0PLATFORM", "1765000000.000001")
    blocks = call["body"]["blocks"]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert [b["text"]["text"] for b in buttons] == ["Approve", "Reject", "Open in Steward"]
    assert buttons[0]["value"] == f"{request.pk}:{request.open_step().pk}"
    assert buttons[2]["url"].endswith(request.get_absolute_url())
    text = str(blocks)
    assert request.title in text and "high" in text and "Helps the platform team" in text
    assert "Step 1 of 2 needs an IAM approver" in text
    # Retried by the outbox, or delivered again: never a second message.
    Notification.objects.update(state="pending", channels_done=[])
    deliver_pending()
    assert len(slack.of("chat.postMessage")) == 1


def test_slack_down_leaves_the_row_in_the_outbox_and_a_retry_posts_it_once(
    slack, make_intake, owner, iam, mailoutbox, django_capture_on_commit_callbacks
):
    slack.fail_next = 1
    with django_capture_on_commit_callbacks(execute=True):
        intake = make_intake(owner, "high")
    request = engine.approval_of(intake)
    row = Notification.objects.get(approval=request)
    assert row.state == "pending" and "slack" not in row.channels_done and "ratelimited" in row.last_error
    assert "email" in row.channels_done and len(mailoutbox) == 1  # the mail went out, and only once
    assert not SlackMessage.objects.exclude(ts="").exists()
    deliver_pending()
    deliver_pending()
    row.refresh_from_db()
    assert row.state == "sent" and "slack" in row.channels_done
    assert len(slack.of("chat.postMessage")) == 2  # the refused one and the one that worked
    assert SlackMessage.objects.get(request=request).ts == "1765000000.000001"
    assert len(mailoutbox) == 1


def test_an_auto_approved_request_is_not_posted(
    slack, make_intake, owner, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        make_intake(owner, "auto")
    assert not slack.of("chat.postMessage") and not SlackMessage.objects.exists()


def test_no_bot_token_posts_nothing_and_writes_no_extra_rows(
    settings, make_intake, owner, django_capture_on_commit_callbacks
):
    settings.STEWARD_SLACK_BOT_TOKEN = ""
    with django_capture_on_commit_callbacks(execute=True):
        intake = make_intake(owner, "high")
    assert not SlackMessage.objects.exists()
    assert not Notification.objects.filter(approval=engine.approval_of(intake)).exists()


# ---------------------------------------------------------------- must show


def test_a_signed_click_by_a_linked_iam_approver_decides_the_step_and_updates_the_message(
    posted, slack, iam, django_capture_on_commit_callbacks
):
    request, message = posted
    _link(iam, "U0IAM")
    with django_capture_on_commit_callbacks(execute=True):
        response, _, _ = _click(Client(), slack, message, user_id="U0IAM", comment="Looks right")
    assert response.status_code == 200, response.content
    step = ApprovalStep.objects.get(request=request, order=1)
    assert (step.state, step.decided_by, step.comment) == ("approved", iam, "Looks right")
    request.refresh_from_db()
    assert request.state == "pending" and request.open_step().role == "security"
    event = AuditEvent.objects.filter(verb="approval.step_approved", subject_id=str(request.pk)).get()
    assert event.actor == "iam" and event.actor_kind == "person"
    assert event.after["channel"] == "slack"
    updates = slack.of("chat.update")
    assert updates, "the message was not updated"
    assert updates[-1]["body"]["ts"] == message.ts and updates[-1]["body"]["channel"] == "C0PLATFORM"
    assert "step 1 approved by iam" in updates[-1]["body"]["text"]
    assert "Step 2 of 2 needs a Security admin" in updates[-1]["body"]["text"]


def test_reject_needs_a_comment_and_then_closes_the_request_and_the_buttons(
    posted, slack, iam, django_capture_on_commit_callbacks
):
    request, message = posted
    _link(iam, "U0IAM")
    before = _snapshot(request)
    response, _, _ = _click(Client(), slack, message, user_id="U0IAM", action="steward_reject")
    assert response.status_code == 400
    assert "comment" in response.json()["text"]
    assert _snapshot(request) == before
    with django_capture_on_commit_callbacks(execute=True):
        response, _, _ = _click(
            Client(), slack, message, user_id="U0IAM", action="steward_reject", comment="No owner yet"
        )
    assert response.status_code == 200
    request.refresh_from_db()
    assert request.state == "rejected"
    assert (
        AuditEvent.objects.get(verb="approval.rejected", subject_id=str(request.pk)).after["channel"]
        == "slack"
    )
    last = slack.of("chat.update")[-1]["body"]
    assert "Rejected* by iam" in last["text"]
    assert not [e for b in last["blocks"] if b["type"] == "actions" for e in b["elements"] if "value" in e]


def test_a_decision_in_the_browser_updates_the_slack_message(
    posted, slack, iam, django_capture_on_commit_callbacks
):
    request, message = posted
    with django_capture_on_commit_callbacks(execute=True):
        engine.approve(iam, request, comment="from the browser")
    (update,) = slack.of("chat.update")
    assert update["body"]["ts"] == message.ts
    assert "step 1 approved by iam" in update["body"]["text"]
    event = AuditEvent.objects.get(verb="approval.step_approved", subject_id=str(request.pk))
    assert "channel" not in event.after


def test_a_withdrawn_request_updates_its_message(posted, slack, owner, django_capture_on_commit_callbacks):
    request, message = posted
    with django_capture_on_commit_callbacks(execute=True):
        engine.withdraw(owner, request, reason="not needed")
    (update,) = slack.of("chat.update")
    assert "Withdrawn" in update["body"]["text"]


# ---------------------------------------------------------------- refusals change nothing


def test_a_bad_signature_is_refused_with_401(posted, slack, iam):
    request, message = posted
    _link(iam, "U0IAM")
    before = _snapshot(request)
    payload = block_actions(slack, message, user_id="U0IAM", action_id="steward_approve",
                            value=f"{request.pk}:{request.open_step().pk}")  # fmt: skip
    body = form(payload)
    headers = sign(body, secret="someone-elses-secret")
    response = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
    assert response.status_code == 401
    tampered = sign(body)
    forged = body.replace("U0IAM", "U0XXX")
    response = Client().post(URL, forged, content_type="application/x-www-form-urlencoded", **tampered)
    assert response.status_code == 401
    response = Client().post(URL, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401
    assert _snapshot(request) == before
    assert not slack.of("chat.update") and not slack.of("response_url")


def test_a_timestamp_older_than_five_minutes_is_refused_with_401(posted, slack, iam):
    request, message = posted
    _link(iam, "U0IAM")
    before = _snapshot(request)
    response, _, _ = _click(Client(), slack, message, user_id="U0IAM", ts=int(time.time()) - 301)
    assert response.status_code == 401
    assert "five minutes" in response.json()["error"]
    assert _snapshot(request) == before
    assert not SeenSignature.objects.exists()


def test_a_replayed_request_is_refused_with_401(posted, slack, iam, django_capture_on_commit_callbacks):
    request, message = posted
    _link(iam, "U0IAM")
    with django_capture_on_commit_callbacks(execute=True):
        response, body, headers = _click(Client(), slack, message, user_id="U0IAM")
    assert response.status_code == 200
    before = _snapshot(request)
    calls = len(slack.calls)
    again = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **headers)
    assert again.status_code == 401
    assert "replay" in again.json()["error"]
    assert _snapshot(request) == before
    assert len(slack.calls) == calls


def test_an_unlinked_slack_user_is_told_how_to_link_and_nothing_changes(posted, slack, iam):
    request, message = posted
    before = _snapshot(request)
    response, _, _ = _click(Client(), slack, message, user_id="U0STRANGER")
    assert response.status_code == 403
    answer = response.json()
    assert answer["response_type"] == "ephemeral" and "/steward link" in answer["text"]
    link_button = answer["blocks"][1]["elements"][0]
    assert "/integrations/slack/link/" in link_button["url"]
    (told,) = slack.of("response_url")
    assert told["body"]["response_type"] == "ephemeral" and told["body"]["replace_original"] is False
    assert "/steward link" in told["body"]["text"]
    assert _snapshot(request) == before


def test_matching_e_mail_is_not_a_link(posted, slack, iam):
    """Slack's payload may carry a name that matches a Steward account; only a SlackLink counts."""
    request, message = posted
    before = _snapshot(request)
    payload = block_actions(slack, message, user_id="U0IAM", action_id="steward_approve",
                            value=f"{request.pk}:{request.open_step().pk}", username="iam")  # fmt: skip
    payload["user"]["email"] = iam.email
    body = form(payload)
    response = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body))
    assert response.status_code == 403
    assert _snapshot(request) == before


def test_a_linked_user_without_the_steps_role_is_refused(posted, slack, security):
    request, message = posted
    _link(security, "U0SEC")
    before = _snapshot(request)
    response, _, _ = _click(Client(), slack, message, user_id="U0SEC")
    assert response.status_code == 403
    assert "needs an IAM approver" in response.json()["text"]
    assert "needs an IAM approver" in slack.of("response_url")[0]["body"]["text"]
    assert _snapshot(request) == before


def test_the_requester_cannot_decide_their_own_request_from_slack(
    slack, make_intake, iam2, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        intake = make_intake(iam2, "high")
    request = engine.approval_of(intake)
    message = SlackMessage.objects.get(request=request)
    _link(iam2, "U0IAM2")
    before = _snapshot(request)
    response, _, _ = _click(Client(), slack, message, user_id="U0IAM2")
    assert response.status_code == 403
    assert "your own request" in response.json()["text"]
    assert _snapshot(request) == before


def test_a_click_after_someone_else_decided_is_a_409_and_changes_nothing(
    posted, slack, iam, iam2, django_capture_on_commit_callbacks
):
    request, message = posted
    _link(iam, "U0IAM")
    step = request.open_step()
    with django_capture_on_commit_callbacks(execute=True):
        engine.approve(iam2, request)
    before = _snapshot(request)
    response, _, _ = _click(Client(), slack, message, user_id="U0IAM", value=f"{request.pk}:{step.pk}")
    assert response.status_code == 409
    assert "already decided" in response.json()["text"]
    assert _snapshot(request) == before


def test_a_foreign_response_url_is_never_called(posted, slack):
    request, message = posted
    payload = block_actions(slack, message, user_id="U0NOBODY", action_id="steward_approve", value="1:1")
    payload["response_url"] = "http://169.254.169.254/latest/meta-data/"
    body = form(payload)
    response = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body))
    assert response.status_code == 403
    assert not slack.of("response_url")


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[]",
        '{"type": "block_actions", "actions": "x"}',
        '{"type": "block_actions", "actions": [{"action_id": "steward_approve", "value": "abc"}]}',
    ],
)
def test_malformed_payloads_are_clear_errors_never_500(slack, payload):
    from urllib.parse import urlencode

    body = urlencode({"payload": payload})
    response = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body))
    assert response.status_code in (200, 400, 403)


# ---------------------------------------------------------------- linking


_triggers = itertools.count(1)


def _command(text, user_id="U0IAM", user_name="iam.slack"):
    """A slash command as Slack posts it; each has its own trigger_id, so no two bodies are equal."""
    from urllib.parse import urlencode

    return urlencode({
        "token": "legacy-verification-token-unused", "team_id": TEAM, "team_domain": "acme",
        "channel_id": "C0IAM", "channel_name": "approvals", "user_id": user_id, "user_name": user_name,
        "command": "/steward", "text": text, "api_app_id": "A0STEWARD", "is_enterprise_install": "false",
        "response_url": "https://hooks.slack.com/commands/T0STEWARD1/1/abc",
        "trigger_id": f"1.2.{next(_triggers)}",
    })  # fmt: skip


def test_steward_link_opens_steward_where_the_signed_in_person_confirms(slack, iam):
    body = _command("link")
    response = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body))
    assert response.status_code == 200
    answer = response.json()
    assert answer["response_type"] == "ephemeral"
    url = answer["blocks"][1]["elements"][0]["url"]
    path = url.removeprefix("http://127.0.0.1:8000")
    browser = Client()
    assert browser.get(path).status_code == 302  # signed in first
    browser.force_login(iam)
    page = browser.get(path)
    assert page.status_code == 200 and b"iam.slack" in page.content and b"U0IAM" in page.content
    assert not SlackLink.objects.exists()
    done = browser.post(path)
    assert done.status_code == 200
    code = re.search(rb"/steward confirm (\d{8})", done.content).group(1).decode()
    assert services.linked_user(TEAM, "U0IAM") is None  # pending until the code is typed in Slack
    body = _command(f"confirm {code}")
    confirmed = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body))
    assert "decide as iam" in confirmed.json()["text"]
    link = SlackLink.objects.get()
    assert (link.team_id, link.slack_user_id, link.user) == (TEAM, "U0IAM", iam)
    event = AuditEvent.objects.get(verb="chat.slack_linked")
    assert event.actor == "iam"
    assert services.linked_user(TEAM, "U0IAM") == iam
    # /steward link again says who they are; /steward unlink removes it, audited.
    body = _command("link")
    again = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body))
    assert "linked to Steward as iam" in again.json()["text"]
    body = _command("unlink")
    gone = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body))
    assert gone.json()["text"] == "Unlinked."
    assert not SlackLink.objects.exists()
    assert AuditEvent.objects.get(verb="chat.slack_unlinked").after == {"channel": "slack"}


def test_linking_refuses_people_without_an_approver_role_bad_tokens_and_taken_users(slack, owner, iam, iam2):
    path = services.link_url(TEAM, "U0X", "x").removeprefix("http://127.0.0.1:8000")
    client = Client()
    client.force_login(owner)
    assert client.post(path).status_code == 403
    client.force_login(iam)
    assert client.get("/integrations/slack/link/not-a-token/").status_code == 400
    assert client.post("/integrations/slack/link/not-a-token/").status_code == 400
    _link(iam2, "U0X")
    refused = client.post(path)
    assert refused.status_code == 403
    assert SlackLink.objects.get().user == iam2


def test_a_link_someone_else_confirmed_links_nothing_without_the_code(slack, iam):
    """The attack: a Slack user sends their /steward link URL to an approver, who confirms it. Without
    the code (shown only to the approver) the Slack user cannot finish; wrong guesses drop the link."""
    code = services.start_link(iam, services.LinkClaim(TEAM, "U0EVIL", "evil"))
    assert services.linked_user(TEAM, "U0EVIL") is None
    for attempt in range(services.CONFIRM_ATTEMPTS):
        body = _command(f"confirm {(int(code) + 1 + attempt) % 10**8:08d}", user_id="U0EVIL")
        answer = (
            Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body)).json()
        )
        assert "Linked" not in answer["text"]
    assert not SlackLink.objects.filter(slack_user_id="U0EVIL").exists()  # dropped after five
    body = _command(f"confirm {code}", user_id="U0EVIL")
    late = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body)).json()
    assert "No link is waiting" in late["text"]
    assert services.linked_user(TEAM, "U0EVIL") is None


def test_a_link_code_expires(slack, iam, time_machine):
    from django.utils import timezone

    time_machine.move_to(timezone.now(), tick=False)
    code = services.start_link(iam, services.LinkClaim(TEAM, "U0SLOW", "slow"))
    time_machine.shift(11 * 60)
    body = _command(f"confirm {code}", user_id="U0SLOW")
    answer = Client().post(URL, body, content_type="application/x-www-form-urlencoded", **sign(body)).json()
    assert "expired" in answer["text"] and services.linked_user(TEAM, "U0SLOW") is None


def test_a_link_expires_after_ten_minutes(slack, time_machine):
    from django.utils import timezone

    time_machine.move_to(timezone.now(), tick=False)
    token = services.link_token(TEAM, "U0LATE", "late")
    time_machine.shift(9 * 60)
    assert services.read_link_token(token) is not None
    time_machine.shift(2 * 60)
    assert services.read_link_token(token) is None


def test_a_just_in_time_request_is_posted_and_approved_from_slack(
    slack, owner, iam, security, django_capture_on_commit_callbacks
):
    """Every flow on the engine: here just-in-time access (governance/decisions/jit.py)."""
    from tests.factories import IdentityFactory, request_merge_access

    agent = IdentityFactory(owner=owner, kind="ai_agent", environments=["prod"])
    with django_capture_on_commit_callbacks(execute=True):
        access = request_merge_access(owner, agent)
    request = engine.approval_of(access)
    message = SlackMessage.objects.get(request=request)
    (post,) = slack.of("chat.postMessage")
    assert "release 1.2" in str(post["body"]["blocks"]) and "just-in-time access" in str(
        post["body"]["blocks"]
    )
    _link(iam, "U0IAM")
    _link(security, "U0SEC")
    for _round in range(2):  # IAM, then Security when the route asks for both
        request.refresh_from_db()
        if request.state != "pending":
            break
        role = request.open_step().role
        clicker = "U0IAM" if role == "iam" else "U0SEC"
        with django_capture_on_commit_callbacks(execute=True):
            response, _, _ = _click(Client(), slack, message, user_id=clicker)
        assert response.status_code == 200, response.content
    request.refresh_from_db()
    access.refresh_from_db()
    assert request.state == "approved"
    assert (
        AuditEvent.objects.filter(subject_id=str(request.pk), verb="approval.approved").get().after["channel"]
        == "slack"
    )
    assert "Approved* by" in slack.of("chat.update")[-1]["body"]["text"]
