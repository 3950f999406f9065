"""Workload identity pages: trusted issuers (Security proposes, a second person approves), SET
receivers and their deliveries; binding and revoking from the identity page."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from governance import safe_json
from governance.access import READERS, role_required
from governance.actors import as_actor
from governance.links import link
from governance.people.models import Role
from inventory.models import Identity
from workload import issuers, services
from workload.models import SetDelivery, SetReceiver, TrustBinding, TrustedIssuer

VERBS = {
    "approve": services.approve_issuer,
    "reject": services.reject_issuer,
    "retire": services.retire_issuer,
}


def _errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {field: [m for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
    return {"form": exc.messages}


def _page(request, *, form=None, errors=None, receiver_form=None, receiver_errors=None, status=200):
    rows = list(
        TrustedIssuer.objects.select_related("proposed_by", "decided_by")
        .annotate(binding_count=Count("bindings", filter=Q(bindings__state=TrustBinding.State.ACTIVE)))
        .order_by("state", "name")
    )
    context = {
        "issuers": rows,
        "templates": list(issuers.TEMPLATES.values()),
        "template_json": json.dumps(
            {
                k: {"issuer": t.issuer, "jwks_uri": t.jwks_uri, "audience": t.audience}
                for k, t in issuers.TEMPLATES.items()
            }
        ),
        "form": form or {"template": "github_actions", **_template_values("github_actions")},
        "errors": errors or {},
        "receivers": list(SetReceiver.objects.order_by("-active", "name")),
        "receiver_form": receiver_form or {},
        "receiver_errors": receiver_errors or {},
        "deliveries": list(
            SetDelivery.objects.select_related("receiver", "identity").order_by("-created_at", "-pk")[:20]
        ),
        "is_security": request.user.has_role(Role.SECURITY) and not request.user.is_auditor,
        "may_decide": request.user.has_role(Role.SECURITY, Role.IAM) and not request.user.is_auditor,
    }
    return render(request, "workload/issuers.html", context, status=status)


def _template_values(key: str) -> dict[str, str]:
    template = issuers.TEMPLATES.get(key) or issuers.TEMPLATES["custom"]
    return {"issuer": template.issuer, "jwks_uri": template.jwks_uri, "audience": template.audience}


@role_required(*READERS)
@require_http_methods(["GET", "POST"])
def issuer_list(request):
    if request.method == "GET":
        return _page(request)
    form = {
        k: request.POST.get(k, "").strip()
        for k in ("name", "template", "issuer", "jwks_uri", "jwks", "audience", "reason")
    }
    data = dict(form)
    errors: dict[str, list[str]] = {}
    if form["jwks"]:
        try:
            data["jwks"] = safe_json.loads(form["jwks"])
        except ValueError:
            errors["jwks"] = ["The pasted key set is not JSON."]
    else:
        data["jwks"] = None
    if not errors:
        try:
            issuer = services.propose_issuer(as_actor(request.user), data)
        except ValidationError as exc:
            errors = _errors(exc)
        else:
            messages.success(
                request,
                f"{issuer.name} proposed. Another person (Security or IAM) approves it before any "
                "token from it is exchanged.",
            )
            return redirect(link("workload:issuers"))
    return _page(request, form=form, errors=errors, status=400)


@role_required(*READERS)
@require_POST
def issuer_decide(request, pk: int, verb: str):
    issuer = get_object_or_404(TrustedIssuer, pk=pk)
    VERBS[verb](as_actor(request.user), issuer.pk, request.POST.get("reason", "").strip())
    messages.success(request, f"{issuer.name}: {verb}d." if verb != "reject" else f"{issuer.name}: rejected.")
    return redirect(link("workload:issuers"))


@role_required(*READERS)
@require_POST
def receiver_add(request):
    form = {k: request.POST.get(k, "").strip() for k in ("name", "endpoint", "audience")}
    try:
        receiver = services.add_receiver(as_actor(request.user), form)
    except ValidationError as exc:
        return _page(request, receiver_form=form, receiver_errors=_errors(exc), status=400)
    messages.success(
        request,
        f"Receiver {receiver.name} registered: it gets a signed event when a workload's sessions end.",
    )
    return redirect(link("workload:issuers"))


@role_required(*READERS)
@require_POST
def receiver_remove(request, pk: int):
    receiver = get_object_or_404(SetReceiver, pk=pk)
    services.remove_receiver(as_actor(request.user), receiver.pk)
    messages.success(request, f"Receiver {receiver.name} removed.")
    return redirect(link("workload:issuers"))


@require_POST
def binding_create(request, pk: int):
    if not request.user.is_authenticated:
        return redirect(link("login"))
    identity = get_object_or_404(Identity, pk=pk)
    claims = {request.POST.get("claim", "").strip(): request.POST.get("value", "").strip()}
    try:
        binding = services.create_binding(
            as_actor(request.user),
            identity=identity,
            issuer_id=request.POST.get("issuer"),
            claims=claims,
            reason=request.POST.get("reason", ""),
        )
    except ValidationError as exc:
        for field, problems in _errors(exc).items():
            for problem in problems:
                messages.error(request, f"Binding not made ({field}): {problem}")
        return redirect(identity.get_absolute_url())
    if binding.state == TrustBinding.State.ACTIVE:
        messages.success(request, "Bound: tokens carrying these claims now exchange for this identity.")
    else:
        messages.success(request, "Binding requested: it follows the identity tier's approval route.")
    return redirect(identity.get_absolute_url())


@require_POST
def binding_revoke(request, pk: int):
    if not request.user.is_authenticated:
        return redirect(link("login"))
    binding = get_object_or_404(TrustBinding.objects.select_related("identity"), pk=pk)
    services.revoke_binding(as_actor(request.user), binding.pk, request.POST.get("reason", "").strip())
    messages.success(request, "Binding revoked; its live access tokens were revoked with it.")
    return redirect(binding.identity.get_absolute_url())
