"""The approval engine: open a request, decide its steps, send it back, withdraw it, discuss it.

Every function takes the actor, runs in one transaction, locks the request row
(`select_for_update`), checks the current state, and writes its audit event in that transaction.
A step is decided with a conditional update, so two people deciding the same step at once yield one
decision and one IllegalTransition (HTTP 409). Separation of duties is enforced here, not in views.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from approvals import notifications
from approvals.models import SYSTEM_POLICY, ApprovalRequest, ApprovalStep, ApproverRole, Comment, roles_of
from approvals.registry import handler_for
from approvals.routing import ROLE_LABELS
from governance import audit
from governance.actors import Actor, system
from governance.people.models import Role, User
from governance.policy.services import current_policy

NEEDS = {ApproverRole.IAM: "an IAM approver", ApproverRole.SECURITY: "a Security admin"}
ROLE_GROUPS = {ApproverRole.IAM: Role.IAM, ApproverRole.SECURITY: Role.SECURITY}


class Decision:
    APPROVE = "approve"
    REJECT = "reject"
    REQUEST_CHANGES = "request_changes"
    ALL = (APPROVE, REJECT, REQUEST_CHANGES)


# ---------------------------------------------------------------- who may decide


def conflicted_user_ids(request: ApprovalRequest) -> set[int]:
    """The requester and everyone who counts as them (e.g. the owner-to-be)."""
    return {request.requester_id, *(u.pk for u in request.parties.all())}


def refusal(user: User | None, request: ApprovalRequest, step: ApprovalStep | None) -> str | None:
    """Why this person may not decide `step` now (None when they may). Used by services and pages."""
    if user is None or not user.is_authenticated:
        return "Sign in to decide requests."
    if user.is_auditor:
        return "Auditors read everything and decide nothing."
    if user.pk in conflicted_user_ids(request):
        return "You cannot decide your own request: you are its requester or the owner-to-be."
    if step is None:
        return None
    if step.role not in roles_of(user):
        return f"Step {step.order} needs {NEEDS[step.role]}; your role does not allow it."
    earlier = next(
        (
            s
            for s in request.steps.all()
            if s.round == request.round and s.decided_by_id == user.pk and s.pk != step.pk
        ),
        None,
    )
    if earlier is not None:
        return (
            f"You already decided step {earlier.order} of this request; "
            "a different person must decide each step."
        )
    return None


def eligible_deciders(request: ApprovalRequest, step: ApprovalStep | None):
    """Everyone who could decide `step` now: the people who 'hold' the request."""
    if step is None:
        return User.objects.none()
    decided = [s.decided_by_id for s in request.steps.all() if s.round == request.round and s.decided_by_id]
    return (
        User.objects.filter(is_active=True, groups__name=ROLE_GROUPS[step.role])
        .exclude(groups__name=Role.AUDITOR)
        .exclude(pk__in=conflicted_user_ids(request) | set(decided))
        .distinct()
        .order_by("username")
    )


# ---------------------------------------------------------------- internals


def lock_request(request: ApprovalRequest) -> ApprovalRequest:
    return (
        ApprovalRequest.objects.select_for_update(of=("self",)).select_related("requester").get(pk=request.pk)
    )


def person_of(actor: Actor) -> User | None:
    return actor.user if not actor.is_system else None


def touch(request: ApprovalRequest, now) -> None:
    days = int(current_policy().get("request_reminder_days", 3))
    ApprovalRequest.objects.filter(pk=request.pk).update(
        last_activity_at=now, due_at=now + timedelta(days=days), updated_at=now
    )
    request.last_activity_at = now
    request.due_at = now + timedelta(days=days)


def add_event(request, actor: Actor, event: str, body: str = "", step=None, now=None) -> Comment:
    return Comment.objects.create(
        request=request,
        step=step,
        author=person_of(actor),
        author_label=(actor.on_behalf_of or actor.label) if actor.kind == "token" else actor.label,
        event=event,
        body=body or "",
        round=request.round,
        created_at=now or timezone.now(),
    )


def create_steps(request: ApprovalRequest, roles: list[str], now, start_order: int = 1) -> list[ApprovalStep]:
    steps = [
        ApprovalStep(
            request=request,
            round=request.round,
            order=start_order + index,
            role=role,
            opened_at=now if index == 0 else None,
        )
        for index, role in enumerate(roles)
    ]
    ApprovalStep.objects.bulk_create(steps)
    return list(request.steps.filter(round=request.round).order_by("order"))


def step_summary(request: ApprovalRequest) -> list[dict]:
    return [
        {"order": s.order, "role": s.role, "state": s.state, "decided_by": s.decider_label}
        for s in request.steps.filter(round=request.round).select_related("decided_by").order_by("order")
    ]


def notify_step_opened(request: ApprovalRequest, step: ApprovalStep, actor: Actor) -> None:
    people = eligible_deciders(request, step)
    notifications.notify(
        "approval.step_opened",
        notifications.recipients_from(people, exclude=person_of(actor)),
        f"Approval needed: {request.title} ({request.tier})",
        f"{request.requester} asks for approval of {request.title}, risk tier {request.tier}. "
        f"Step {step.order} needs {ROLE_LABELS[step.role]}.",
        request.get_absolute_url(),
        about=request,
    )


def notify_requester(request: ApprovalRequest, actor: Actor, event: str, summary: str, comment: str) -> None:
    people = [request.requester, *request.parties.all()]
    body = summary + (f"\n\nComment from {actor.label}: {comment}" if comment else "")
    notifications.notify(
        event,
        notifications.recipients_from(people, exclude=person_of(actor)),
        f"{request.title}: {summary}",
        body,
        request.get_absolute_url(),
        about=request,
    )


def finish_auto_approval(request: ApprovalRequest, rule: str, now) -> None:
    """Policy marks this safe: every step is decided by system:policy, with the rule recorded."""
    actor = system("policy")
    ApprovalStep.objects.filter(
        request=request, round=request.round, state=ApprovalStep.State.PENDING
    ).update(
        state=ApprovalStep.State.APPROVED,
        decided_by_system=SYSTEM_POLICY,
        rule=rule,
        decided_at=now,
        comment="Approved automatically by policy.",
    )
    ApprovalRequest.objects.filter(pk=request.pk).update(
        state=ApprovalRequest.State.APPROVED, decided_at=now, due_at=None, updated_at=now
    )
    request.state = ApprovalRequest.State.APPROVED
    request.decided_at = now
    add_event(request, actor, Comment.Event.APPROVED, f"Approved automatically. Rule: {rule}", now=now)
    audit.record(
        actor,
        "approval.auto_approved",
        request,
        after={"state": request.state, "rule": rule, "steps": step_summary(request)},
        reason=rule,
    )
    handler_for(request.kind).on_approved(request, actor)
    notify_requester(request, actor, "approval.approved", "approved automatically by policy", rule)
