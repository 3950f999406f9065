"""Linking a Slack user to a Steward account, deciding a step from a Slack click, and keeping the
request's Slack message in step with the request.

A click is decided by `approvals.services.engine.decide`, exactly as the browser's button: the same
separation of duties, the same current-state checks (409 when someone decided first), the same audit
events, with the actor marked `channel="slack"` so each event names where the person acted.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass

from django.core import signing
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals.models import ApprovalRequest, roles_of
from approvals.services import engine
from chat import slack
from chat.models import SeenSignature, SlackLink, SlackMessage
from governance import audit, links
from governance.actors import Actor
from governance.errors import NotAllowed

logger = logging.getLogger("steward.chat")

LINK_SALT = "steward.chat.slack-link"
LINK_MAX_AGE_SECONDS = 10 * 60
CHANNEL = "slack"


def actor_for(user) -> Actor:
    """The person, acting through Slack: every audit event they write names channel `slack`."""
    return Actor(label=user.get_username(), kind="person", user=user, channel=CHANNEL)


# ---------------------------------------------------------------- replays


def first_sight(signature: str, now=None) -> bool:
    """Remember an accepted signature for five minutes; False when it was seen already (a replay)."""
    now = now or timezone.now()
    SeenSignature.objects.filter(
        seen_at__lt=now - timezone.timedelta(seconds=2 * slack.MAX_AGE_SECONDS)
    ).delete()
    try:
        with transaction.atomic():
            SeenSignature.objects.create(signature=signature[:100], seen_at=now)
    except IntegrityError:
        return False
    return True


# ---------------------------------------------------------------- linking


@dataclass(frozen=True)
class LinkClaim:
    team_id: str
    user_id: str
    slack_name: str


def link_token(team_id: str, user_id: str, slack_name: str = "") -> str:
    """A short-lived signed claim, 'this Slack user asked to link', for the link Steward opens."""
    return signing.dumps({"t": team_id, "u": user_id, "n": slack_name[:150]}, salt=LINK_SALT, compress=True)


def link_url(team_id: str, user_id: str, slack_name: str = "") -> str:
    return links.absolute(links.link("chat:slack-link", link_token(team_id, user_id, slack_name)))


def read_link_token(token: str) -> LinkClaim | None:
    try:
        data = signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE_SECONDS)
    except signing.BadSignature:  # SignatureExpired is one
        return None
    if not isinstance(data, dict) or not isinstance(data.get("t"), str) or not isinstance(data.get("u"), str):
        return None
    if not data["t"] or not data["u"]:
        return None
    return LinkClaim(team_id=data["t"][:32], user_id=data["u"][:32], slack_name=str(data.get("n", ""))[:150])


def may_link(user) -> bool:
    """Only people who decide steps act from Slack: IAM approvers and Security admins."""
    return bool(roles_of(user))


@transaction.atomic
def link(user, claim: LinkClaim) -> SlackLink:
    """Link at once, both sides taken as confirmed: for setup and tests. People link through
    `start_link` (in Steward) and `finish_link` (the code typed in Slack)."""
    if not may_link(user):
        raise NotAllowed("Only IAM approvers and Security admins decide from Slack.")
    existing = (
        SlackLink.objects.select_for_update()
        .filter(team_id=claim.team_id, slack_user_id=claim.user_id)
        .first()
    )
    if existing is not None:
        if existing.user_id == user.pk:
            return existing
        raise NotAllowed(
            "This Slack user is already linked to another Steward account; that person unlinks first "
            "(/steward unlink)."
        )
    row = SlackLink.objects.create(
        team_id=claim.team_id, slack_user_id=claim.user_id, slack_name=claim.slack_name, user=user
    )
    audit.record(
        user,
        "chat.slack_linked",
        row,
        after={"team_id": claim.team_id, "user_id": claim.user_id, "slack_name": claim.slack_name},
    )
    return row


CONFIRM_ATTEMPTS = 5


def _code_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


@transaction.atomic
def start_link(user, claim: LinkClaim, now=None) -> str | None:
    """Step one, in Steward: the signed-in person confirms the Slack user is them and gets a one-time
    code (eight digits, ten minutes) to type in Slack as that user. None when already linked to them.
    Only the code's hash is kept."""
    if not may_link(user):
        raise NotAllowed("Only IAM approvers and Security admins decide from Slack.")
    now = now or timezone.now()
    row = (
        SlackLink.objects.select_for_update()
        .filter(team_id=claim.team_id, slack_user_id=claim.user_id)
        .first()
    )
    if row is not None and row.confirmed_at is not None:
        if row.user_id == user.pk:
            return None
        raise NotAllowed(
            "This Slack user is already linked to another Steward account; that person unlinks first "
            "(/steward unlink)."
        )
    code = f"{secrets.randbelow(10**8):08d}"
    fields = {
        "user": user,
        "slack_name": claim.slack_name,
        "linked_at": now,
        "confirmed_at": None,
        "code_hash": _code_hash(code),
        "code_expires_at": now + timezone.timedelta(seconds=LINK_MAX_AGE_SECONDS),
        "code_attempts": 0,
    }
    if row is None:
        row = SlackLink.objects.create(team_id=claim.team_id, slack_user_id=claim.user_id, **fields)
    else:  # a pending link (someone else's, or an older code): the new confirmation replaces it
        for name, value in fields.items():
            setattr(row, name, value)
        row.save()
    audit.record(
        user,
        "chat.slack_link_started",
        row,
        after={
            "team_id": claim.team_id,
            "user_id": claim.user_id,
            "slack_name": claim.slack_name,
            "code_expires_at": row.code_expires_at.isoformat(),
        },
    )
    return code


def finish_link(team_id: str, user_id: str, code: str, now=None) -> SlackLink:
    """Step two, from Slack (a signed request, so it is that Slack user): the code ends the link.
    A wrong code counts; after five the pending link is dropped. Raises NotAllowed."""
    outcome, row = _finish(team_id, user_id, code, now or timezone.now())
    if outcome != "linked":
        raise NotAllowed(outcome)
    return row


@transaction.atomic
def _finish(team_id: str, user_id: str, code: str, now) -> tuple[str, SlackLink | None]:
    row = (
        SlackLink.objects.select_for_update()
        .select_related("user")
        .filter(team_id=team_id, slack_user_id=user_id, confirmed_at__isnull=True)
        .first()
    )
    if row is None:
        return "No link is waiting for this Slack user: run /steward link and confirm in Steward first.", None
    if row.code_expires_at is None or row.code_expires_at <= now:
        row.delete()
        return "The code has expired: run /steward link again.", None
    if not hmac.compare_digest(row.code_hash, _code_hash(code)):
        row.code_attempts += 1
        if row.code_attempts >= CONFIRM_ATTEMPTS:
            row.delete()
            return "Too many wrong codes: the link was dropped. Run /steward link again.", None
        row.save(update_fields=["code_attempts"])
        return "That code is not the one Steward showed. Check it and try again.", None
    row.confirmed_at, row.code_hash, row.code_expires_at = now, "", None
    row.save(update_fields=["confirmed_at", "code_hash", "code_expires_at"])
    audit.record(
        actor_for(row.user),
        "chat.slack_linked",
        row,
        after={"team_id": team_id, "user_id": user_id, "slack_name": row.slack_name},
    )
    return "linked", row


@transaction.atomic
def unlink(team_id: str, user_id: str) -> bool:
    row = (
        SlackLink.objects.select_for_update()
        .select_related("user")
        .filter(team_id=team_id, slack_user_id=user_id)
        .first()
    )
    if row is None:
        return False
    audit.record(
        actor_for(row.user),
        "chat.slack_unlinked",
        row,
        before={"team_id": team_id, "user_id": user_id, "slack_name": row.slack_name},
    )
    row.delete()
    return True


def linked_user(team_id: str, user_id: str):
    row = (
        SlackLink.objects.select_related("user")
        .filter(team_id=team_id, slack_user_id=user_id, confirmed_at__isnull=False)
        .first()
    )
    if row is None or not row.user.is_active:
        return None
    return row.user


# ---------------------------------------------------------------- deciding


def decide(
    user, request: ApprovalRequest, decision: str, *, step_id: int, comment: str = ""
) -> ApprovalRequest:
    """The engine's decide, as the browser calls it, with the actor marked as acting through Slack."""
    return engine.decide(actor_for(user), request, decision, comment=comment, step_id=step_id)


# ---------------------------------------------------------------- the message


def sync_message(request: ApprovalRequest) -> SlackMessage | None:
    """Post the request's message once (`chat.postMessage`), or bring it up to date (`chat.update`).

    One row per request, locked while Slack is called: two deliveries racing for one request post
    once. A failure raises (the outbox retries the row later); a row whose post failed keeps no `ts`
    and the next delivery posts it.
    """
    if not slack.configured():
        return None
    if not SlackMessage.objects.filter(request_id=request.pk).exclude(ts="").exists():
        fresh = ApprovalRequest.objects.select_related("team").get(pk=request.pk)
        if fresh.state != ApprovalRequest.State.PENDING or not slack.channel_for(fresh):
            return None  # never posted, and nothing to post: decided already, or no room for it
    SlackMessage.objects.get_or_create(request_id=request.pk)
    with transaction.atomic():
        message = SlackMessage.objects.select_for_update().get(request_id=request.pk)
        request = (
            ApprovalRequest.objects.select_related("requester", "team")
            .prefetch_related("steps")
            .get(pk=request.pk)
        )
        shown = f"{request.state}:{request.round}:" + ",".join(
            f"{s.order}{s.state}" for s in request.current_steps()
        )
        if message.ts and message.shown_state == shown:
            return message
        text, blocks = slack.blocks_for(request)
        now = timezone.now()
        if not message.ts:
            channel = slack.channel_for(request)
            if request.state != ApprovalRequest.State.PENDING or not channel:
                return None  # decided before it was ever posted, or no room for it: nothing to show
            answer = slack.client().chat_postMessage(
                channel=channel, text=text, blocks=blocks, unfurl_links=False
            )
            message.channel, message.ts, message.posted_at = str(answer["channel"]), str(answer["ts"]), now
        else:
            slack.client().chat_update(channel=message.channel, ts=message.ts, text=text, blocks=blocks)
            message.updated_at = now
        message.shown_state = shown
        message.save()
        return message
