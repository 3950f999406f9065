"""Activation pages: an imported, registered or triaged identity whose tier needs more than one
approval step waits `proposed`; approvers decide its activation here.

Thin: authorise, call the approval engine, render.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Prefetch
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals.models import ApprovalRequest, ApprovalStep
from approvals.services import engine
from governance.access import MEMBERS, role_required
from governance.actors import as_actor
from governance.errors import IllegalTransition
from inventory import activation, services
from inventory.models import ActivationRequest


def _conflict(request, exc: IllegalTransition):
    return render(request, "409.html", {"message": exc.message}, status=409)


def approval_of(item: ActivationRequest) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.prefetch_related(
            Prefetch(
                "steps", queryset=ApprovalStep.objects.select_related("decided_by").order_by("round", "order")
            ),
            "parties",
        )
        .filter(kind=activation.KIND, object_id=item.pk)
        .first()
    )


@role_required(*MEMBERS)
def activation_detail(request, pk: int):
    item = get_object_or_404(
        ActivationRequest.objects.select_related("identity", "identity__owner", "requester"), pk=pk
    )
    approval = approval_of(item)
    user = request.user
    involved = approval is not None and user.pk in engine.conflicted_user_ids(approval)
    if not (involved or services.can_edit(user, item.identity) or user.is_auditor):
        raise PermissionDenied("This request is not yours to see.")
    step = approval.open_step() if approval else None
    refusal = engine.refusal(user, approval, step) if approval and step else None
    context = {
        "item": item,
        "identity": item.identity,
        "approval": approval,
        "steps": approval.current_steps() if approval else [],
        "open_step": step,
        "refusal": refusal,
        "can_decide": step is not None and refusal is None,
        "can_withdraw": approval is not None and approval.is_open and user.pk == approval.requester_id,
        "holders": list(engine.eligible_deciders(approval, step)) if step else [],
    }
    return render(request, "inventory/ownership/activation.html", context)


@require_POST
@role_required(*MEMBERS)
def activation_decide(request, pk: int):
    item = get_object_or_404(ActivationRequest, pk=pk)
    approval = approval_of(item)
    if approval is None:
        return _conflict(request, IllegalTransition("This activation has no approval to decide."))
    decision = request.POST.get("decision", "")
    comment = request.POST.get("comment", "")
    actor = as_actor(request.user)
    try:
        if decision == "approve":
            engine.approve(actor, approval, comment=comment)
            messages.success(request, "Approved.")
        elif decision == "reject":
            engine.reject(actor, approval, comment=comment)
            messages.success(request, "Rejected: the identity stays proposed and returns to triage.")
        elif decision == "withdraw":
            engine.withdraw(actor, approval, reason=comment or "withdrawn by the requester")
            messages.success(request, "Withdrawn: the identity stays proposed and returns to triage.")
        else:
            # Through the engine, so who may decide is checked (403) before the missing choice.
            engine.decide(actor, approval, decision, comment=comment)
    except IllegalTransition as exc:
        return _conflict(request, exc)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(item.get_absolute_url())
