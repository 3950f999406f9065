"""Linking a Slack user in the browser (issue 28): `/steward link` in Slack answers with a short-lived
link; the IAM approver opens it signed in, sees which Slack user asks, and confirms. Only then does a
signed click from that Slack user decide a step, as them, with the audit event naming Slack."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from approvals.services import engine
from approvals.services import intake as intake_services
from chat.models import SlackLink
from governance.models import AuditEvent
from tests.approvals.conftest import answers
from tests.chat.conftest import TEAM, block_actions, form, loopback_slack, sign


@pytest.fixture
def slack(settings):
    with loopback_slack(settings) as recorded:
        yield recorded


def _post_signed(url: str, body: str) -> tuple[int, dict]:
    headers = {k.removeprefix("HTTP_").replace("_", "-").title(): v for k, v in sign(body).items()}
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - the live server
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.mark.django_db(transaction=True)
def test_an_iam_approver_links_their_slack_user_while_signed_in(
    page, live_server, login, role_users, slack, settings
):
    settings.STEWARD_BASE_URL = live_server.url
    interactions = f"{live_server.url}/integrations/slack/interactions/"
    command = urlencode({
        "team_id": TEAM, "team_domain": "acme", "channel_id": "C0IAM", "user_id": "U0IAM",
        "user_name": "iam.slack", "command": "/steward", "text": "link", "trigger_id": "1.2.browser",
        "response_url": "https://hooks.slack.com/commands/T0STEWARD1/1/abc",
    })  # fmt: skip
    status, answer = _post_signed(interactions, command)
    assert status == 200 and answer["response_type"] == "ephemeral"
    link = answer["blocks"][1]["elements"][0]["url"]
    assert link.startswith(f"{live_server.url}/integrations/slack/link/")

    login(page, "iam")
    page.goto(link)
    expect(page.get_by_role("heading", name="Link your Slack user")).to_be_visible()
    card = page.get_by_test_id("link-confirm")
    expect(card.get_by_test_id("slack-user")).to_contain_text("iam.slack")
    expect(card.get_by_test_id("slack-user")).to_contain_text("U0IAM")
    expect(card).to_contain_text("Confirm only if you ran /steward link yourself")
    assert not SlackLink.objects.exists()
    card.get_by_role("button", name="Link this Slack user to iam").click()
    code_line = page.get_by_test_id("link-code")
    expect(code_line).to_contain_text("/steward confirm ")
    assert not SlackLink.objects.filter(confirmed_at__isnull=False).exists()  # the code is still to type
    typed = code_line.inner_text().removeprefix("/steward ")
    confirm = urlencode({
        "team_id": TEAM, "team_domain": "acme", "channel_id": "C0IAM", "user_id": "U0IAM",
        "user_name": "iam.slack", "command": "/steward", "text": typed,
        "trigger_id": "1.2.browser-confirm", "response_url": "https://hooks.slack.com/commands/T0STEWARD1/1/abc",
    })  # fmt: skip
    status, answer = _post_signed(interactions, confirm)
    assert status == 200 and "decide as iam" in answer["text"]
    page.goto(link)
    expect(page.get_by_test_id("link-done")).to_contain_text("is linked to your account, iam")
    expect(page.get_by_role("alert").or_(page.get_by_role("status")).first).to_be_visible()
    assert SlackLink.objects.get().user == role_users["iam"]

    # Someone else signed in cannot take the Slack user over with the same link.
    login(page, "security")
    page.goto(link)
    expect(page.get_by_test_id("link-taken")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Link this Slack user"))).to_have_count(0)


@pytest.mark.django_db(transaction=True)
def test_a_linked_approver_decides_from_slack_over_http(live_server, role_users, slack):
    owner, iam = role_users["owner"], role_users["iam"]
    intake = intake_services.submit(
        owner, intake_services.create_draft(owner, {**answers("high"), "team": owner.team})
    )
    request = engine.approval_of(intake)
    message = request.slack_message
    SlackLink.objects.create(team_id=TEAM, slack_user_id="U0IAM", slack_name="iam", user=iam)
    step = request.open_step()
    payload = block_actions(
        slack, message, user_id="U0IAM", action_id="steward_approve", value=f"{request.pk}:{step.pk}"
    )
    status, _ = _post_signed(f"{live_server.url}/integrations/slack/interactions/", form(payload))
    assert status == 200
    step.refresh_from_db()
    assert step.state == "approved" and step.decided_by == iam
    assert AuditEvent.objects.get(verb="approval.step_approved").after["channel"] == "slack"
    assert slack.of("chat.update")[-1]["body"]["ts"] == message.ts
