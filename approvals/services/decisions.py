"""Deciding a step: approve, reject, request changes."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStep, Comment
from approvals.registry import handler_for
from approvals.routing import ROLE_LABELS
from approvals.services.common import (
    Decision,
    add_event,
    lock_request,
    notify_requester,
    notify_step_opened,
    person_of,
    refusal,
    step_summary,
    touch,
)
from governance import audit
from governance.actors import as_actor
from governance.errors import IllegalTransition, NotAllowed

# ---------------------------------------------------------------- decisions


def _target_step(request: ApprovalRequest, step_id: int | None) -> ApprovalStep:
    if step_id is None:
        raise IllegalTransition(f"This request has no open step (it is {request.get_state_display()}).")
    step = ApprovalStep.objects.select_related("decided_by").filter(pk=step_id, request=request).first()
    if step is None or step.round != request.round:
        raise IllegalTransition("That step is no longer open: the request was sent back and resubmitted.")
    if step.state != ApprovalStep.State.PENDING:
        by = f" by {step.decider_label}" if step.decider_label else ""
        raise IllegalTransition(f"Step {step.order} was already decided ({step.get_state_display()}{by}).")
    earlier_open = request.steps.filter(
        round=request.round, state=ApprovalStep.State.PENDING, order__lt=step.order
    ).exists()
    if earlier_open:
        raise IllegalTransition(f"Step {step.order} is not open yet: an earlier step must be decided first.")
    return step


@transaction.atomic
def decide(
    actor, request: ApprovalRequest, decision: str, *, comment: str = "", step_id: int | None = None
) -> ApprovalRequest:
    """Approve, reject or send back the caller's step.

    `step_id` is the step the person saw; without it, the step that is open now. If someone else
    decided that step in the meantime, this raises IllegalTransition (409) and changes nothing.
    """
    actor = as_actor(actor)
    comment = (comment or "").strip()
    user = person_of(actor)
    if user is None:
        raise NotAllowed("Scheduled jobs do not decide requests; only policy auto-approval does.")
    if step_id is None:
        # "The caller's step" is the one open when they asked; read before waiting for the lock, so
        # two people who both saw step 1 get one decision and one 409, not a decision on step 2.
        step_id = (
            ApprovalStep.objects.filter(request=request, state=ApprovalStep.State.PENDING)
            .order_by("order")
            .values_list("pk", flat=True)
            .first()
        )
    request = lock_request(request)
    # Who you are comes first (403), then whether the request can still move (409), then what you
    # sent (400): someone who may not decide never learns what a valid decision would look like.
    if message := refusal(user, request, None):
        raise NotAllowed(message)
    if request.state != ApprovalRequest.State.PENDING:
        raise IllegalTransition(
            f"This request is {request.get_state_display()}; nothing is waiting for a decision."
        )
    step = _target_step(request, step_id)
    if message := refusal(user, request, step):
        raise NotAllowed(message)
    if decision not in Decision.ALL:
        raise ValidationError({"decision": f"Choose one of: {', '.join(Decision.ALL)}."})
    if decision != Decision.APPROVE and not comment:
        raise ValidationError({"comment": "Say why, so the requester knows what to do next."})
    now = timezone.now()
    new_state = {
        Decision.APPROVE: ApprovalStep.State.APPROVED,
        Decision.REJECT: ApprovalStep.State.REJECTED,
        Decision.REQUEST_CHANGES: ApprovalStep.State.CHANGES_REQUESTED,
    }[decision]
    claimed = ApprovalStep.objects.filter(pk=step.pk, state=ApprovalStep.State.PENDING).update(
        state=new_state, decided_by=user, decided_at=now, comment=comment
    )
    if claimed != 1:  # belt and braces: the lock already serialises deciders
        raise IllegalTransition(f"Step {step.order} was already decided by someone else.")
    step.refresh_from_db()
    if decision == Decision.APPROVE:
        return _after_approval(actor, request, step, comment, now)
    return _close_or_send_back(actor, request, step, decision, comment, now)


def _after_approval(actor, request, step, comment, now) -> ApprovalRequest:
    add_event(request, actor, Comment.Event.APPROVED, comment, step=step, now=now)
    next_step = (
        request.steps.filter(round=request.round, state=ApprovalStep.State.PENDING).order_by("order").first()
    )
    if next_step is not None:
        ApprovalStep.objects.filter(pk=next_step.pk).update(opened_at=now)
        touch(request, now)
        audit.record(
            actor,
            "approval.step_approved",
            request,
            after={"step": step.order, "role": step.role, "next": next_step.role},
            reason=comment,
        )
        notify_step_opened(request, next_step, actor)
        notify_requester(
            request,
            actor,
            "approval.step_approved",
            f"step {step.order} approved by {actor.label}; now with {ROLE_LABELS[next_step.role]}",
            comment,
        )
        return request
    ApprovalRequest.objects.filter(pk=request.pk).update(
        state=ApprovalRequest.State.APPROVED,
        decided_at=now,
        last_activity_at=now,
        due_at=None,
        updated_at=now,
    )
    request.state, request.decided_at = ApprovalRequest.State.APPROVED, now
    audit.record(
        actor,
        "approval.approved",
        request,
        before={"state": ApprovalRequest.State.PENDING},
        after={"state": request.state, "final_step": step.order, "steps": step_summary(request)},
        reason=comment,
    )
    handler_for(request.kind).on_approved(request, actor)
    notify_requester(request, actor, "approval.approved", f"approved (final step by {actor.label})", comment)
    return request


def _close_or_send_back(actor, request, step, decision, comment, now) -> ApprovalRequest:
    ApprovalStep.objects.filter(
        request=request, round=request.round, state=ApprovalStep.State.PENDING
    ).update(state=ApprovalStep.State.SKIPPED)
    if decision == Decision.REJECT:
        state, event, verb = ApprovalRequest.State.REJECTED, Comment.Event.REJECTED, "approval.rejected"
    else:
        state = ApprovalRequest.State.CHANGES_REQUESTED
        event, verb = Comment.Event.CHANGES_REQUESTED, "approval.changes_requested"
    ApprovalRequest.objects.filter(pk=request.pk).update(
        state=state,
        decided_at=now if state == ApprovalRequest.State.REJECTED else None,
        last_activity_at=now,
        due_at=None,
        updated_at=now,
    )
    request.state = state
    add_event(request, actor, event, comment, step=step, now=now)
    audit.record(
        actor,
        verb,
        request,
        before={"state": ApprovalRequest.State.PENDING},
        after={"state": state, "step": step.order, "role": step.role},
        reason=comment,
    )
    handler = handler_for(request.kind)
    if state == ApprovalRequest.State.REJECTED:
        handler.on_rejected(request, actor)
        notify_requester(request, actor, "approval.rejected", f"rejected by {actor.label}", comment)
    else:
        handler.on_changes_requested(request, actor)
        notify_requester(
            request, actor, "approval.changes_requested", f"{actor.label} asks for changes", comment
        )
    return request


def approve(actor, request, *, comment: str = "", step_id: int | None = None) -> ApprovalRequest:
    return decide(actor, request, Decision.APPROVE, comment=comment, step_id=step_id)


def reject(actor, request, *, comment: str, step_id: int | None = None) -> ApprovalRequest:
    return decide(actor, request, Decision.REJECT, comment=comment, step_id=step_id)


def request_changes(actor, request, *, comment: str, step_id: int | None = None) -> ApprovalRequest:
    return decide(actor, request, Decision.REQUEST_CHANGES, comment=comment, step_id=step_id)
