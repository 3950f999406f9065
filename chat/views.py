"""Slack's requests (interactivity and the `/steward` command) and the page where a person links
their Slack user while signed in.

`/integrations/slack/interactions/` has no login and no CSRF token: Slack's signature over the raw
body is the only proof, checked before anything is read; a timestamp older than five minutes, a
signature seen before (a replay) or a bad one is a 401 and changes nothing. A refusal after that is
shown to the clicker only (ephemeral, through the click's response_url and the HTTP answer).
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from approvals.models import ApprovalRequest
from approvals.services.engine import Decision
from chat import services, slack
from chat.models import SlackLink
from governance import safe_json
from governance.errors import IllegalTransition, NotAllowed
from governance.ids import parse_id

logger = logging.getLogger("steward.chat")

HOW_TO_LINK = (
    "Your Slack user is not linked to a Steward account yet. Run `/steward link` (or use the button) "
    "and confirm in Steward while signed in; then click again."
)


@login_not_required
@csrf_exempt  # Slack calls server to server with no cookie: its signature over the body is the proof
@never_cache
@require_POST
def slack_interactions(request):
    signature = request.headers.get("X-Slack-Signature", "")
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not signature or not timestamp:
        return JsonResponse({"error": "The request carries no Slack signature."}, status=401)
    if request.content_type != "application/x-www-form-urlencoded":
        return JsonResponse({"error": "Slack sends application/x-www-form-urlencoded."}, status=400)
    body = request.body
    problem = slack.signature_problem(body, timestamp, signature)
    if problem:
        return JsonResponse({"error": problem}, status=401)
    if not services.first_sight(signature):
        return JsonResponse({"error": "This Slack request was received already (a replay)."}, status=401)
    if "payload" in request.POST:
        return _interaction(request.POST["payload"])
    if "command" in request.POST:
        return _command(request.POST)
    return JsonResponse(slack.ephemeral("Steward did not understand this Slack request."), status=400)


def _refuse(response_url: str, text: str, status: int, blocks: list | None = None) -> JsonResponse:
    try:
        slack.respond(response_url, text)
    except Exception:  # noqa: BLE001 - telling the clicker is best effort; the refusal stands
        logger.warning("could not answer a Slack click through its response_url", exc_info=True)
    return JsonResponse(slack.ephemeral(text, blocks), status=status)


def _field(mapping, *keys) -> str:
    value = mapping
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else ""


def _interaction(raw: str) -> HttpResponse:
    try:
        payload = safe_json.loads(raw)
    except ValueError:
        return JsonResponse(slack.ephemeral("The Slack payload is not valid JSON."), status=400)
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return HttpResponse(status=200)  # other interactions (shortcuts, views) are not Steward's
    actions = payload.get("actions")
    action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    action_id = action.get("action_id")
    response_url = _field(payload, "response_url")
    if action_id == slack.OPEN:
        return HttpResponse(status=200)  # a link button: Slack opened the page
    if action_id not in (slack.APPROVE, slack.REJECT):
        return _refuse(response_url, "Steward does not know this button.", 400)
    team_id = _field(payload, "team", "id") or _field(payload, "user", "team_id")
    user_id = _field(payload, "user", "id")
    user = services.linked_user(team_id, user_id) if team_id and user_id else None
    if user is None:
        url = (
            services.link_url(team_id, user_id, _field(payload, "user", "username"))
            if team_id and user_id
            else ""
        )
        blocks = _link_blocks(HOW_TO_LINK, url) if url else None
        return _refuse(response_url, HOW_TO_LINK, 403, blocks)
    request_id, _, step_id = str(action.get("value") or "").partition(":")
    request_pk, step_pk = parse_id(request_id), parse_id(step_id)
    target = ApprovalRequest.objects.filter(pk=request_pk).first() if request_pk and step_pk else None
    if target is None:
        return _refuse(response_url, "That approval request does not exist (any more).", 404)
    comment = _field(payload, "state", "values", slack.REASON_BLOCK, slack.REASON_INPUT, "value").strip()
    decision = Decision.APPROVE if action_id == slack.APPROVE else Decision.REJECT
    try:
        decided = services.decide(user, target, decision, step_id=step_pk, comment=comment[:2000])
    except PermissionDenied as exc:  # NotAllowed from the engine, or a flow's own refusal
        return _refuse(response_url, str(exc) or "You may not decide this request.", 403)
    except IllegalTransition as exc:
        return _refuse(response_url, f"Someone decided first: {exc}", 409)
    except ValidationError as exc:
        text = " ".join(m for ms in getattr(exc, "message_dict", {"": exc.messages}).values() for m in ms)
        if decision == Decision.REJECT:
            text = "To reject, write a comment in the box above the buttons first: " + text
        return _refuse(response_url, text, 400)
    # The decision wrote its outbox rows in its transaction; delivering them updates the message (a
    # worker does it at once, so Slack gets this answer within its three seconds).
    verb = "approved" if decision == Decision.APPROVE else "rejected"
    return JsonResponse({"ok": True, "text": f"You {verb} “{decided.title}” as {user.get_username()}."})


def _link_blocks(text: str, url: str) -> list[dict]:
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "steward_link",
                    "text": {"type": "plain_text", "text": "Link to Steward"},
                    "url": url,
                }
            ],
        },
    ]


def _command(form) -> JsonResponse:
    """`/steward link`, `/steward unlink`, `/steward` (help). Answers are ephemeral."""
    team_id, user_id = form.get("team_id", "")[:32], form.get("user_id", "")[:32]
    word = (form.get("text") or "").strip().lower()
    if not team_id or not user_id:
        return JsonResponse(slack.ephemeral("Slack sent no user with this command."), status=400)
    if word == "link":
        current = services.linked_user(team_id, user_id)
        if current is not None:
            return JsonResponse(slack.ephemeral(f"You are linked to Steward as {current.get_username()}."))
        url = services.link_url(team_id, user_id, form.get("user_name", ""))
        text = (
            "Open this link within ten minutes and confirm while signed in to Steward; Steward then "
            "shows a code to type here (`/steward confirm CODE`). It links *this* Slack user to the "
            "account you are signed in with: never open one someone sent you."
        )
        return JsonResponse(slack.ephemeral(text, _link_blocks(text, url)))
    if word.startswith("confirm"):
        code = word.removeprefix("confirm").strip()
        if not code:
            return JsonResponse(slack.ephemeral("Type the code Steward showed: `/steward confirm 12345678`."))
        try:
            row = services.finish_link(team_id, user_id, code[:32])
        except NotAllowed as exc:
            return JsonResponse(slack.ephemeral(str(exc)))
        return JsonResponse(
            slack.ephemeral(
                f"Linked: Approve and Reject here now decide as {row.user.get_username()} in Steward."
            )
        )
    if word == "unlink":
        gone = services.unlink(team_id, user_id)
        return JsonResponse(slack.ephemeral("Unlinked." if gone else "This Slack user was not linked."))
    return JsonResponse(
        slack.ephemeral(
            "`/steward link` starts linking your Slack user to Steward, `/steward confirm CODE` finishes "
            "it with the code Steward shows; `/steward unlink` removes the link."
        )
    )


@never_cache
@require_http_methods(["GET", "POST"])
def slack_link(request, token: str):
    """The signed-in person confirms that the Slack user who asked is them."""
    if not services.may_link(request.user):
        raise PermissionDenied("Only IAM approvers and Security admins decide from Slack.")
    claim = services.read_link_token(token)
    if claim is None:
        context = {"error": "This link is invalid or has expired. Run /steward link in Slack again."}
        return render(request, "chat/link_confirm.html", context, status=400)
    existing = (
        SlackLink.objects.select_related("user")
        .filter(team_id=claim.team_id, slack_user_id=claim.user_id, confirmed_at__isnull=False)
        .first()
    )
    if request.method == "POST":
        try:
            code = services.start_link(request.user, claim)
        except NotAllowed as exc:
            return render(request, "chat/link_confirm.html", {"claim": claim, "error": str(exc)}, status=403)
        if code is None:
            return redirect(request.path)  # linked to them already
        context = {"claim": claim, "code": code, "minutes": services.LINK_MAX_AGE_SECONDS // 60}
        return render(request, "chat/link_confirm.html", context)
    return render(request, "chat/link_confirm.html", {"claim": claim, "existing": existing})
