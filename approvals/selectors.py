"""Read-side queries for approval pages and the API: fixed query counts whatever the page size."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Case, Count, Exists, OuterRef, Prefetch, Q, When
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStep, Comment, IntakeRequest, roles_of
from approvals.reminders import SUBJECT_TYPE as REMINDER_SUBJECT
from approvals.routing import ROLE_LABELS
from approvals.services import engine
from approvals.services.intake_checks import answers_of, preview
from governance.audit_models import AuditEvent
from governance.ids import parse_id
from governance.people.models import Role
from inventory.models import TIER_ORDER, Identity

AGE_CHOICES = [
    ("", "any age"),
    ("1", "waiting 1+ days"),
    ("3", "3+ days"),
    ("7", "7+ days"),
    ("14", "14+ days"),
]
SCOPES = ("mine", "all")


def last_decision(steps) -> ApprovalStep | None:
    """The step decided most recently (by a person or by policy) among `steps` already loaded: what
    a refused decider is shown after losing a race."""
    return max((s for s in steps if s.decided_at), key=lambda s: s.decided_at, default=None)


def steps_prefetch() -> Prefetch:
    return Prefetch(
        "steps", queryset=ApprovalStep.objects.select_related("decided_by").order_by("round", "order")
    )


def decision_state(user, approval: ApprovalRequest | None) -> dict[str, Any]:
    """What a request's page shows of its approval: the steps of the current round, the open step, and
    whether this person may decide it now (else the refusal that says why)."""
    step = approval.open_step() if approval else None
    refusal = engine.refusal(user, approval, step) if approval and step else None
    return {
        "approval": approval,
        "steps": approval.current_steps() if approval else [],
        "open_step": step,
        "refusal": refusal,
        "can_decide": step is not None and refusal is None,
    }


def inbox(user, *, scope: str = "mine", filters: dict[str, str] | None = None):
    """'mine': waiting for this person now. 'all': every open request (IAM, Security, auditors)."""
    filters = filters or {}
    if scope == "all":
        qs = ApprovalRequest.objects.pending().with_current_step()
    else:
        qs = ApprovalRequest.objects.awaiting(user)
    if filters.get("tier") in TIER_ORDER:
        qs = qs.filter(tier=filters["tier"])
    if filters.get("kind"):
        qs = qs.filter(kind=filters["kind"])
    if filters.get("team"):
        qs = qs.filter(team__slug=filters["team"])
    if (days := parse_id(filters.get("age"))) is not None:
        # Capped at a century: a date before the year 1 is an OverflowError.
        qs = qs.filter(submitted_at__lte=timezone.now() - timedelta(days=min(days, 36_500)))
    return qs.select_related("requester", "team").order_by("submitted_at", "pk")


def tier_counts(qs) -> dict[str, int]:
    counts = dict(qs.order_by().values_list("tier").annotate(n=Count("pk")).values_list("tier", "n"))
    return {tier: counts.get(tier, 0) for tier in TIER_ORDER}


def api_inbox(user, *, scope: str = "mine"):
    """The API's inbox: what waits for the caller, plus what the caller already decided."""
    awaiting = ApprovalRequest.objects.awaiting(user).values("pk")
    if scope == "all" and user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR):
        qs = ApprovalRequest.objects.all()
    else:
        decided = ApprovalStep.objects.filter(request=OuterRef("pk"), decided_by=user)
        qs = ApprovalRequest.objects.filter(Q(pk__in=awaiting) | Q(Exists(decided)))
    return (
        qs.with_current_step()
        .annotate(awaiting_you=Case(When(pk__in=awaiting, then=True), default=False))
        .select_related("requester", "team")
        .prefetch_related(steps_prefetch())
        .order_by("submitted_at", "pk")
    )


def holder_label(approval: ApprovalRequest | None, state: str) -> str:
    """Who holds a request now, in words (uses prefetched steps)."""
    if state == IntakeRequest.State.DRAFT:
        return "you (draft)"
    if state == IntakeRequest.State.CHANGES_REQUESTED:
        return "you (changes requested)"
    if approval is None or approval.state != ApprovalRequest.State.PENDING:
        return "—"
    step = approval.open_step()
    if step is None:
        return "—"
    total = len(approval.current_steps())
    return f"{ROLE_LABELS[step.role]} (step {step.order} of {total})"


def my_intake_requests(user):
    return (
        IntakeRequest.objects.filter(Q(requester=user) | Q(owner=user) | Q(backup_owner=user))
        .select_related("approval", "identity", "team", "owner")
        .prefetch_related(
            Prefetch("approval__steps", queryset=ApprovalStep.objects.order_by("round", "order"))
        )
        .order_by("-created_at", "-pk")
    )


def intake_for_page(queryset, pk: int) -> IntakeRequest:
    from django.shortcuts import get_object_or_404

    return get_object_or_404(
        queryset.select_related(
            "requester", "owner", "backup_owner", "team", "identity", "approval"
        ).prefetch_related(
            Prefetch(
                "approval__steps",
                queryset=ApprovalStep.objects.select_related("decided_by").order_by("round", "order"),
            ),
            Prefetch(
                "approval__comments",
                queryset=Comment.objects.select_related("author").order_by("created_at", "pk"),
            ),
            "approval__parties",
        ),
        pk=pk,
    )


def intake_page_context(intake: IntakeRequest, user) -> dict[str, Any]:
    approval = intake.approval
    is_requester = user.pk == intake.requester_id
    result = preview(answers_of(intake), floor=intake.tier_floor, floor_reason=intake.tier_floor_reason)
    context: dict[str, Any] = {
        "intake": intake,
        "approval": approval,
        "preview": result,
        "is_requester": is_requester,
        "can_edit": is_requester and intake.is_editable,
        "can_submit": is_requester and intake.is_editable,
        "can_withdraw": is_requester and intake.state in IntakeRequest.OPEN_STATES,
        "other_identities": list(
            Identity.objects.owned_by(intake.requester)
            .exclude(pk=intake.identity_id or 0)
            .select_related("team")
            .order_by("name")[:25]
        ),
        "rounds": [],
        "open_step": None,
        "holders": [],
        "refusal": None,
        "can_decide": False,
        "can_comment": False,
        "can_raise_tier": False,
        "higher_tiers": [],
    }
    if approval is None:
        return context
    steps = list(approval.steps.all())
    rounds: dict[int, list[ApprovalStep]] = {}
    for step in steps:
        rounds.setdefault(step.round, []).append(step)
    context["rounds"] = sorted(rounds.items(), reverse=True)
    step = approval.open_step()
    context["open_step"] = step
    if step is not None:
        context["holders"] = list(engine.eligible_deciders(approval, step))
        refusal = engine.refusal(user, approval, step)
        context["refusal"] = refusal
        context["can_decide"] = refusal is None
        conflicted = user.pk in engine.conflicted_user_ids(approval)
        context["can_raise_tier"] = (
            "iam" in roles_of(user) and not conflicted and TIER_ORDER[approval.tier] < TIER_ORDER["critical"]
        )
        context["higher_tiers"] = [t for t in TIER_ORDER if TIER_ORDER[t] > TIER_ORDER[approval.tier]]
    context["can_comment"] = engine.may_comment(user, approval)
    if roles_of(user) and not context["can_decide"]:
        context["next_item"] = engine.next_awaiting(user, after=approval)
    context["comments"] = list(approval.comments.all())
    # Overdue with its approvers: who the reminders escalated it to, and when (issue 22 item 9).
    context["escalations"] = list(
        AuditEvent.objects.filter(
            verb="reminder.escalated", subject_type=REMINDER_SUBJECT, subject_id=str(approval.pk)
        )
        .order_by("-seq")
        .values("at", "after")[:10]
    )
    return context
