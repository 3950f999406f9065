"""Talking to Slack: configuration, the Web API client, request signatures, and the message's blocks.

Configuration comes from settings (config/settings.py), the secrets from the environment only:
`STEWARD_SLACK_BOT_TOKEN` (xoxb-…, scopes `chat:write` and `commands`), `STEWARD_SLACK_SIGNING_SECRET`,
`STEWARD_SLACK_API_URL` (slack-sdk's base_url) and `STEWARD_SLACK_CHANNELS` (where each request goes).
Neither secret is ever stored or logged.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from django.conf import settings
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from approvals.models import ApprovalRequest, ApprovalStep
from approvals.registry import handler_for, registered_kinds
from approvals.services.common import NEEDS
from governance import links

MAX_AGE_SECONDS = 5 * 60
APPROVE, REJECT, OPEN = "steward_approve", "steward_reject", "steward_open"
REASON_BLOCK, REASON_INPUT = "steward_reason", "reason"
TIMEOUT_SECONDS = 5
RESPOND_TIMEOUT_SECONDS = 2  # inside Slack's three seconds for answering a click


def configured() -> bool:
    return bool(settings.STEWARD_SLACK_BOT_TOKEN)


def client() -> WebClient:
    base_url = settings.STEWARD_SLACK_API_URL.rstrip("/") + "/"  # slack-sdk joins method names to it
    return WebClient(token=settings.STEWARD_SLACK_BOT_TOKEN, base_url=base_url, timeout=TIMEOUT_SECONDS)


# ---------------------------------------------------------------- who sent it


def signature_problem(
    body: bytes, timestamp: str | None, signature: str | None, now: float | None = None
) -> str:
    """Why this request is not Slack's (empty when it is): v0 HMAC-SHA256 of `v0:timestamp:body` with
    the signing secret, and a timestamp no older (nor newer) than five minutes."""
    secret = settings.STEWARD_SLACK_SIGNING_SECRET
    if not secret:
        return "Slack is not configured here."
    if not timestamp or not signature:
        return "The request carries no Slack signature."
    try:
        sent = int(timestamp)
    except ValueError:
        return "The Slack timestamp is not a number."
    now = time.time() if now is None else now
    if abs(now - sent) > MAX_AGE_SECONDS:
        return "The Slack request is older than five minutes."
    verifier = SignatureVerifier(secret, clock=_FixedClock(now))
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return "The Slack signature does not match."
    return ""


class _FixedClock:
    def __init__(self, now: float):
        self._now = now

    def now(self) -> float:
        return self._now


# ---------------------------------------------------------------- where it goes


def channel_for(request: ApprovalRequest) -> str:
    """`team:<slug>` first, then `tier:<tier>`, then `default`; empty: this request is not posted."""
    routes = settings.STEWARD_SLACK_CHANNELS or {}
    keys = [f"tier:{request.tier}", "default"]
    if request.team_id:
        keys.insert(0, f"team:{request.team.slug}")
    return next((str(routes[k]) for k in keys if routes.get(k)), "")


def response_url_allowed(url: str) -> bool:
    """Only Slack's own hooks (or the configured API host, for a loopback Slack in tests) are called."""
    parts = urlsplit(url or "")
    api = urlsplit(settings.STEWARD_SLACK_API_URL)
    if parts.scheme == "https" and parts.hostname == "hooks.slack.com":
        return True
    return bool(parts.hostname) and (parts.scheme, parts.netloc) == (api.scheme, api.netloc)


def respond(response_url: str, text: str) -> None:
    """Tell the clicker only (ephemeral), through the response_url Slack gave with the click."""
    if not response_url_allowed(response_url):
        return
    WebhookClient(response_url, timeout=RESPOND_TIMEOUT_SECONDS).send(
        text=text, response_type="ephemeral", replace_original=False
    )


def ephemeral(text: str, blocks: list | None = None) -> dict:
    answer = {"response_type": "ephemeral", "replace_original": False, "text": text}
    if blocks:
        answer["blocks"] = blocks
    return answer


# ---------------------------------------------------------------- what it shows


def _reasons(request: ApprovalRequest) -> str:
    subject = request.subject
    parts = []
    for field in ("justification", "reason", "purpose", "tier_floor_reason"):
        value = str(getattr(subject, field, "") or "").strip()
        if value and value not in parts:
            parts.append(value)
    return " · ".join(parts)[:1500]


def _escape(text: str) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def outcome_line(request: ApprovalRequest) -> str:
    steps = request.current_steps()
    decided = [s for s in steps if s.decided_at is not None and s.state != ApprovalStep.State.SKIPPED]
    last = max(decided, key=lambda s: s.decided_at) if decided else None
    by = f" by {last.decider_label}" if last is not None and last.decider_label else ""
    if request.state == ApprovalRequest.State.PENDING:
        step = request.open_step()
        done = f"; step {last.order} approved{by}" if last is not None else ""
        needs = f"Step {step.order} of {len(steps)} needs {NEEDS[step.role]}" if step else "Waiting"
        return f":hourglass_flowing_sand: {needs}{done}."
    if request.state == ApprovalRequest.State.APPROVED:
        return f":white_check_mark: *Approved*{by}."
    if request.state == ApprovalRequest.State.REJECTED:
        return f":x: *Rejected*{by}."
    if request.state == ApprovalRequest.State.CHANGES_REQUESTED:
        return f":leftwards_arrow_with_hook: *Sent back for changes*{by}."
    return f":heavy_minus_sign: *{request.get_state_display().capitalize()}*."


def blocks_for(request: ApprovalRequest) -> tuple[str, list[dict]]:
    """The fallback text and the Block Kit blocks for the request as it is now."""
    url = links.absolute(request.get_absolute_url())
    title = _escape(request.title)
    summary = handler_for(request.kind).label if request.kind in registered_kinds() else request.kind
    fields = [
        f"*Kind*\n{_escape(summary)}",
        f"*Risk tier*\n{_escape(request.tier)}",
        f"*Requested by*\n{_escape(request.requester)}",
    ]
    if request.team_id:
        fields.append(f"*Team*\n{_escape(request.team)}")
    blocks: list[dict] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*<{url}|{title}>*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
    ]
    if reasons := _reasons(request):
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Reasons: {_escape(reasons)}"}]}
        )
    blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": outcome_line(request)}})
    open_button = {
        "type": "button",
        "action_id": OPEN,
        "text": {"type": "plain_text", "text": "Open in Steward"},
        "url": url,
    }
    step = request.open_step()
    if step is not None:
        value = f"{request.pk}:{step.pk}"
        blocks.append(
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "optional": True,
                "label": {"type": "plain_text", "text": "Comment (needed to reject)"},
                "element": {"type": "plain_text_input", "action_id": REASON_INPUT, "max_length": 2000},
            }
        )
        blocks.append(
            {
                "type": "actions",
                "block_id": f"steward_decide_{request.pk}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": APPROVE,
                        "style": "primary",
                        "value": value,
                        "text": {"type": "plain_text", "text": "Approve"},
                    },
                    {
                        "type": "button",
                        "action_id": REJECT,
                        "style": "danger",
                        "value": value,
                        "text": {"type": "plain_text", "text": "Reject"},
                    },
                    open_button,
                ],
            }
        )
    else:
        blocks.append(
            {"type": "actions", "block_id": f"steward_open_{request.pk}", "elements": [open_button]}
        )
    text = f"Approval: {request.title} ({request.tier}): {outcome_line(request)}"
    return text[:3000], blocks
