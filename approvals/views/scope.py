"""Scope-change pages: the owner's request form and the page where approvers decide it.

Thin: parse, authorise, call one service (approvals.flows.scope or the approval engine), render.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from approvals.flows import scope
from approvals.models import ApprovalRequest
from approvals.selectors import decision_state, steps_prefetch
from approvals.services import engine
from governance.access import MEMBERS, role_required
from governance.actors import as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.ids import parse_id
from inventory import access
from inventory.models import Action, Environment, Identity, ResourceKind, ScopeChange


@role_required(*MEMBERS)
def scope_change_new(request, pk: int):
    identity = get_object_or_404(Identity.objects.select_related("owner", "team"), pk=pk)
    if not access.can_edit(request.user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may change its scope.")
    grants = list(identity.grants.current())
    errors: dict[str, list[str]] = {}
    # Prefilled from observed use (the identity page's "Request this scope" links).
    values = {
        "resource_kind": request.GET.get("resource_kind", ""),
        "resource_name": request.GET.get("resource_name", ""),
        "actions": [a for a in request.GET.getlist("actions") if a],
        "remove": [],
        "reason": "",
    }
    values["environments"] = list(identity.environments)
    status = 200
    if request.method == "POST":
        post = request.POST
        values = {
            "resource_kind": post.get("resource_kind", ""),
            "resource_name": post.get("resource_name", "").strip(),
            "actions": post.getlist("actions"),
            "remove": [pk for pk in map(parse_id, post.getlist("remove")) if pk is not None],
            "environments": post.getlist("environments"),
            "reason": post.get("reason", ""),
        }
        add = []
        if values["resource_kind"] or values["resource_name"] or values["actions"]:
            add = [
                {
                    "resource_kind": values["resource_kind"],
                    "resource_name": values["resource_name"],
                    "actions": values["actions"],
                }
            ]
        try:
            change = scope.request_scope_change(
                as_actor(request.user),
                identity,
                add=add,
                remove=values["remove"],
                environments=values["environments"],
                reason=values["reason"],
            )
        except ValidationError as exc:
            errors, status = exc.message_dict, 400
        else:
            if change.state == ScopeChange.State.APPLIED:
                messages.success(request, "Scope changed: the removal applies now.")
                return redirect(identity.get_absolute_url())
            messages.success(request, "Scope change submitted for approval.")
            return redirect("inventory:scope-change", pk=change.pk)
    context = {
        "identity": identity,
        "grants": grants,
        "values": values,
        "errors": errors,
        "resource_kinds": ResourceKind.choices,
        "actions": Action.choices,
        "environment_choices": Environment.choices,
    }
    return render(request, "approvals/flows/scope_form.html", context, status=status)


def _approval(change: ScopeChange) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.prefetch_related(steps_prefetch())
        .filter(kind=scope.KIND, object_id=change.pk)
        .first()
    )


@role_required(*MEMBERS)
def scope_change_detail(request, pk: int):
    change = get_object_or_404(ScopeChange.objects.select_related("identity", "requester"), pk=pk)
    context = {"change": change, **decision_state(request.user, _approval(change))}
    return render(request, "approvals/flows/scope_change.html", context)


@require_POST
@role_required(*MEMBERS)
def scope_change_decide(request, pk: int):
    change = get_object_or_404(ScopeChange, pk=pk)
    approval = _approval(change)
    if approval is None:
        raise IllegalTransition("This scope change needed no approval.")
    comment = request.POST.get("comment", "")
    try:
        if request.POST.get("decision") == "approve":
            engine.approve(as_actor(request.user), approval, comment=comment)
            messages.success(request, "Approved.")
        else:
            engine.reject(as_actor(request.user), approval, comment=comment)
            messages.success(request, "Rejected: nothing changes.")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("inventory:scope-change", pk=change.pk)
