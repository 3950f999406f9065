"""Opening, resubmitting, withdrawing and discussing approval requests; raising their tier."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from approvals import notifications
from approvals.models import ApprovalRequest, ApprovalStep, Comment, roles_of
from approvals.registry import handler_for
from approvals.routing import describe_steps, remaining_roles, steps_for
from approvals.services.common import (
    add_event,
    conflicted_user_ids,
    create_steps,
    finish_auto_approval,
    lock_request,
    notify_requester,
    notify_step_opened,
    person_of,
    touch,
)
from governance import audit
from governance.actors import as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import Role, User
from governance.policy.services import current_policy
from inventory.models import TIER_ORDER

# ---------------------------------------------------------------- open and resubmit


@transaction.atomic
def open_request(
    actor,
    *,
    kind: str,
    subject,
    title: str,
    requester: User,
    tier: str,
    parties: Iterable[User] = (),
    team=None,
    auto_approve_rule: str | None = None,
    roles: list[str] | None = None,
    due_at=None,
) -> ApprovalRequest:
    """Start approval of `subject`: steps from the policy for `tier`; auto-approved when a rule allows.

    A flow with its own route (e.g. just-in-time access) passes `roles`, and `due_at` for a deadline
    shorter than the usual reminder period."""
    actor = as_actor(actor)
    now = timezone.now()
    policy = current_policy()
    roles = list(roles) if roles else steps_for(tier, policy)
    request = ApprovalRequest.objects.create(
        kind=kind,
        subject=subject,
        title=title[:300],
        requester=requester,
        team=team,
        tier=tier,
        policy_version=policy.version,
        submitted_at=now,
        last_activity_at=now,
        due_at=due_at or now + timedelta(days=int(policy.get("request_reminder_days", 3))),
        created_at=now,
    )
    request.parties.set([p for p in parties if p is not None and p.pk != requester.pk])
    steps = create_steps(request, roles, now)
    add_event(request, actor, Comment.Event.SUBMITTED, now=now)
    audit.record(
        actor,
        "approval.opened",
        request,
        after={"kind": kind, "tier": tier, "steps": roles, "policy_version": policy.version},
    )
    if auto_approve_rule:
        finish_auto_approval(request, auto_approve_rule, now)
    else:
        notify_step_opened(request, steps[0], actor)
    return request


def open_identity_request(actor, identity, *, tier: str | None = None, **options) -> ApprovalRequest:
    """`open_request` for a change to one identity: routed by its tier (unless the change carries its
    own), its owners are parties (so neither decides it), and its team is the request's."""
    return open_request(
        actor,
        tier=identity.risk_tier if tier is None else tier,
        parties=[identity.owner, identity.backup_owner],
        team=identity.team,
        **options,
    )


@transaction.atomic
def resubmit(
    actor,
    request: ApprovalRequest,
    *,
    tier: str,
    title: str | None = None,
    parties: Iterable[User] | None = None,
    team=None,
    comment: str = "",
    auto_approve_rule: str | None = None,
) -> ApprovalRequest:
    """After changes were requested: a new round of steps (earlier rounds stay as history)."""
    actor = as_actor(actor)
    request = lock_request(request)
    user = person_of(actor)
    if user is None or user.pk != request.requester_id:
        raise NotAllowed("Only the requester can resubmit this request.")
    if request.state != ApprovalRequest.State.CHANGES_REQUESTED:
        raise IllegalTransition(
            f"Only a request sent back for changes can be resubmitted (it is {request.state})."
        )
    now = timezone.now()
    policy = current_policy()
    request.round += 1
    request.tier = tier
    request.state = ApprovalRequest.State.PENDING
    request.reminded_at = None
    request.policy_version = policy.version
    request.last_activity_at = now
    request.due_at = now + timedelta(days=int(policy.get("request_reminder_days", 3)))
    if title:
        request.title = title[:300]
    if team is not None:
        request.team = team
    request.save()
    if parties is not None:
        request.parties.set([p for p in parties if p is not None and p.pk != request.requester_id])
    roles = steps_for(tier, policy)
    steps = create_steps(request, roles, now)
    add_event(request, actor, Comment.Event.RESUBMITTED, comment, now=now)
    audit.record(
        actor,
        "approval.resubmitted",
        request,
        before={"state": ApprovalRequest.State.CHANGES_REQUESTED},
        after={"state": request.state, "round": request.round, "tier": tier, "steps": roles},
        reason=comment,
    )
    if auto_approve_rule:
        finish_auto_approval(request, auto_approve_rule, now)
    else:
        notify_step_opened(request, steps[0], actor)
    return request


# ---------------------------------------------------------------- withdraw, discuss, raise tier


@transaction.atomic
def withdraw(actor, request: ApprovalRequest, *, reason: str = "") -> ApprovalRequest:
    """The requester takes the request back, or a job closes it (reason 'expired')."""
    actor = as_actor(actor)
    request = lock_request(request)
    user = person_of(actor)
    if not actor.is_system and (user is None or user.pk != request.requester_id):
        raise NotAllowed("Only the requester can withdraw this request.")
    if request.state not in ApprovalRequest.OPEN_STATES:
        raise IllegalTransition(
            f"This request is {request.get_state_display()}; it can no longer be withdrawn."
        )
    now = timezone.now()
    before = request.state
    ApprovalStep.objects.filter(
        request=request, round=request.round, state=ApprovalStep.State.PENDING
    ).update(state=ApprovalStep.State.SKIPPED)
    ApprovalRequest.objects.filter(pk=request.pk).update(
        state=ApprovalRequest.State.WITHDRAWN,
        state_reason=(reason or "withdrawn by the requester")[:300],
        decided_at=now,
        due_at=None,
        updated_at=now,
    )
    request.state = ApprovalRequest.State.WITHDRAWN
    request.state_reason = reason
    expired = reason == "expired"
    add_event(request, actor, Comment.Event.EXPIRED if expired else Comment.Event.WITHDRAWN, reason, now=now)
    audit.record(
        actor,
        "approval.expired" if expired else "approval.withdrawn",
        request,
        before={"state": before},
        after={"state": request.state},
        reason=reason,
    )
    handler_for(request.kind).on_withdrawn(request, actor, reason)
    if expired:
        notify_requester(request, actor, "approval.expired", "expired after no activity", "")
    else:  # nobody to tell by mail; a channel following the request (Slack) updates its message
        notifications.notify(
            "approval.withdrawn",
            [],
            f"{request.title}: withdrawn",
            reason,
            request.get_absolute_url(),
            about=request,
        )
    return request


def may_comment(user: User | None, request: ApprovalRequest) -> bool:
    if user is None or not user.is_active or user.is_auditor:
        return False
    return user.pk in conflicted_user_ids(request) or bool(roles_of(user))


@transaction.atomic
def add_comment(actor, request: ApprovalRequest, body: str) -> Comment:
    actor = as_actor(actor)
    request = lock_request(request)
    if not may_comment(person_of(actor), request):
        raise NotAllowed("Only the requester, IAM and Security take part in the discussion.")
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": "Write a comment first."})
    if len(body) > 5000:
        raise ValidationError({"body": "Keep comments under 5,000 characters."})
    now = timezone.now()
    comment = add_event(request, actor, Comment.Event.COMMENT, body, now=now)
    if request.is_open:
        touch(request, now)
    audit.record(actor, "approval.commented", request, after={"comment": comment.pk, "body": body[:500]})
    return comment


@transaction.atomic
def raise_tier(actor, request: ApprovalRequest, tier: str, reason: str) -> ApprovalRequest:
    """IAM raises the risk tier (never lowers it); the route gains the steps the new tier needs."""
    actor = as_actor(actor)
    request = lock_request(request)
    user = person_of(actor)
    if user is None or not user.has_role(Role.IAM) or user.is_auditor:
        raise NotAllowed("Only IAM approvers may raise a request's risk tier.")
    if user.pk in conflicted_user_ids(request):
        raise NotAllowed("You cannot change the tier of your own request.")
    if tier not in TIER_ORDER:
        raise ValidationError({"risk_tier": f"Choose one of: {', '.join(TIER_ORDER)}."})
    if TIER_ORDER[tier] <= TIER_ORDER[request.tier]:
        raise ValidationError(
            {"risk_tier": f"The tier can only be raised (it is {request.tier}); it is never lowered."}
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Raising the tier needs a recorded reason."})
    if request.state != ApprovalRequest.State.PENDING:
        raise IllegalTransition(f"Only a pending request's tier can be raised (it is {request.state}).")
    now = timezone.now()
    before = request.tier
    current = list(request.steps.filter(round=request.round).order_by("order"))
    approved = [s.role for s in current if s.state == ApprovalStep.State.APPROVED]
    needed = remaining_roles(steps_for(tier), approved)
    request.steps.filter(round=request.round, state=ApprovalStep.State.PENDING).delete()
    start = max((s.order for s in current if s.state != ApprovalStep.State.PENDING), default=0) + 1
    steps = create_steps(request, needed, now, start_order=start) if needed else []
    ApprovalRequest.objects.filter(pk=request.pk).update(tier=tier, updated_at=now)
    request.tier = tier
    touch(request, now)
    add_event(request, actor, Comment.Event.TIER_RAISED, f"{before} → {tier}: {reason}", now=now)
    audit.record(
        actor,
        "approval.tier_raised",
        request,
        before={"tier": before},
        after={"tier": tier, "route": describe_steps(steps_for(tier))},
        reason=reason,
    )
    handler_for(request.kind).on_tier_raised(request, actor, reason)
    open_steps = [s for s in steps if s.state == ApprovalStep.State.PENDING]
    if open_steps:
        notify_step_opened(request, open_steps[0], actor)
    return request


def awaiting_count(user) -> int:
    return ApprovalRequest.objects.awaiting(user).count()


def next_awaiting(user, *, after: ApprovalRequest | None = None) -> ApprovalRequest | None:
    """The oldest request waiting for this person (for 'next item' after a decision)."""
    qs = ApprovalRequest.objects.awaiting(user).order_by("submitted_at", "pk")
    if after is not None:
        qs = qs.exclude(pk=after.pk)
    return qs.first()
