"""The page and the decide action shared by the flows on an identity that run on the approval engine
(activation, reactivation): who may see a request, its steps and who may decide, and the decision
itself. `request_views` makes both views for a flow's request model."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals.models import ApprovalRequest
from approvals.selectors import decision_state, steps_prefetch
from approvals.services import engine
from governance.access import MEMBERS, role_required
from governance.actors import as_actor
from governance.errors import IllegalTransition
from inventory import access


def approval_for(kind: str, object_id: int) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.prefetch_related(steps_prefetch(), "parties")
        .filter(kind=kind, object_id=object_id)
        .first()
    )


def request_page(request, item, approval: ApprovalRequest | None, template: str):
    """The request's page for those involved in it, the identity's editors and auditors."""
    user = request.user
    involved = approval is not None and user.pk in engine.conflicted_user_ids(approval)
    if not (involved or access.can_edit(user, item.identity) or user.is_auditor):
        raise PermissionDenied("This request is not yours to see.")
    state = decision_state(user, approval)
    step = state["open_step"]
    context = {
        "item": item,
        "identity": item.identity,
        **state,
        "can_withdraw": approval is not None and approval.is_open and user.pk == approval.requester_id,
        "holders": list(engine.eligible_deciders(approval, step)) if step else [],
    }
    return render(request, template, context)


def decide(request, item, approval: ApprovalRequest | None, *, what: str, unchanged: str):
    """Approve, reject or withdraw through the engine; `unchanged` says what stays as it is."""
    if approval is None:
        raise IllegalTransition(f"This {what} has no approval to decide.")
    decision = request.POST.get("decision", "")
    comment = request.POST.get("comment", "")
    actor = as_actor(request.user)
    try:
        if decision == "approve":
            engine.approve(actor, approval, comment=comment)
            messages.success(request, "Approved.")
        elif decision == "reject":
            engine.reject(actor, approval, comment=comment)
            messages.success(request, f"Rejected: {unchanged}.")
        elif decision == "withdraw":
            engine.withdraw(actor, approval, reason=comment or "withdrawn by the requester")
            messages.success(request, f"Withdrawn: {unchanged}.")
        else:
            # Through the engine, so who may decide is checked (403) before the missing choice.
            engine.decide(actor, approval, decision, comment=comment)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect(item.get_absolute_url())


def request_views(model, kind: str, *, unchanged: str):
    """The request's page and its decide action for a flow whose requests are rows of `model` (an
    IdentityRequest) decided on the engine under `kind`: `(detail, decide)`, each taking `pk`. The page
    is `approvals/flows/<kind>.html`; `unchanged` says what stays as it is when it is not approved."""
    template, what = f"approvals/flows/{kind}.html", kind

    @role_required(*MEMBERS)
    def detail(request, pk: int):
        item = get_object_or_404(
            model.objects.select_related("identity", "identity__owner", "requester"), pk=pk
        )
        return request_page(request, item, approval_for(kind, item.pk), template)

    @require_POST
    @role_required(*MEMBERS)
    def decide_view(request, pk: int):
        item = get_object_or_404(model, pk=pk)
        return decide(request, item, approval_for(kind, item.pk), what=what, unchanged=unchanged)

    detail.__name__, decide_view.__name__ = f"{what}_detail", f"{what}_decide"
    return detail, decide_view
