"""Reactivation pages: an owner asks for a suspended identity to run again; approvers decide it.

Thin: parse, authorise, call one service (approvals.flows.reactivation or the approval engine), render.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render

from approvals.flows import reactivation
from approvals.routing import describe_steps, steps_for
from approvals.views import engine_pages
from governance.access import MEMBERS, role_required
from governance.actors import as_actor
from governance.errors import NotAllowed
from inventory import access
from inventory.models import Identity, ReactivationRequest


@role_required(*MEMBERS)
def reactivation_new(request, pk: int):
    identity = get_object_or_404(Identity.objects.select_related("owner", "team"), pk=pk)
    if not access.can_edit(request.user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may ask for its reactivation.")
    errors: dict[str, list[str]] = {}
    reason = ""
    status = 200
    if request.method == "POST":
        reason = request.POST.get("reason", "")
        try:
            item = reactivation.request_reactivation(as_actor(request.user), identity, reason)
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
        else:
            messages.success(request, f"Reactivation of {identity.name} submitted for approval.")
            return redirect(item.get_absolute_url())
    pending = ReactivationRequest.objects.filter(
        identity=identity, state=ReactivationRequest.State.PENDING
    ).first()
    context = {
        "identity": identity,
        "reason": reason,
        "errors": errors,
        "pending": pending,
        "route": describe_steps(steps_for(identity.risk_tier)),
    }
    return render(request, "approvals/flows/reactivation_form.html", context, status=status)


reactivation_detail, reactivation_decide = engine_pages.request_views(
    ReactivationRequest, reactivation.KIND, unchanged="the identity stays suspended"
)
