"""Pages: the register, the request form, an exception's page; decide and revoke posts."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from approvals.models import ApprovalRequest
from approvals.selectors import decision_state, steps_prefetch
from approvals.views.decide import act_from_page, decide_from_page, refused_page
from governance.access import MEMBERS, READERS, is_htmx, role_required
from governance.actors import from_request
from governance.errors import NotAllowed
from governance.exceptions import services
from governance.exceptions.filters import ExceptionFilter
from governance.exceptions.forms import ExceptionRequestForm
from governance.exceptions.models import PolicyException
from governance.findings.models import Finding
from governance.lists.services import without_page
from governance.people.models import Role

LIST_TEMPLATE = "governance/exceptions/exception_list.html"
DETAIL_TEMPLATE = "governance/exceptions/exception_detail.html"
PAGE_SIZE = 50


@require_GET
@role_required(*MEMBERS)
def exception_list(request):
    visible = PolicyException.objects.visible_to(request.user)
    queryset = visible.select_related(
        "identity", "identity__team", "identity__owner", "requested_by"
    ).order_by("-created_at", "-pk")
    filterset = ExceptionFilter(request.GET, queryset=queryset, request=request)
    results = filterset.qs if filterset.is_valid() else PolicyException.objects.none()
    page = Paginator(results, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filter": filterset,
        "page": page,
        "query": without_page(request.GET),
        "rules": services.rule_choices(),
        "labels": dict(services.rule_choices()),
        "now": timezone.now(),
        "sees_all": request.user.has_role(*READERS),
        "can_request": not request.user.is_auditor,
    }
    return render(request, f"{LIST_TEMPLATE}#results" if is_htmx(request) else LIST_TEMPLATE, context)


@require_http_methods(["GET", "POST"])
@role_required(Role.OWNER, Role.IAM, Role.SECURITY)
def exception_new(request):
    if request.user.is_auditor:
        raise PermissionDenied("Auditors read everything and request nothing.")
    if request.method == "POST":
        form = ExceptionRequestForm(request.POST, user=request.user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                exc = services.request_exception(
                    from_request(request),
                    identity=data["identity"],
                    rule=data["rule"],
                    justification=data["justification"],
                    compensating_controls=data["compensating_controls"],
                    expires_at=data["expires_at"],
                    renewal_of=data.get("renewal_of"),
                )
            except ValidationError as exc_error:
                for field, errors in exc_error.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            except NotAllowed as refused:
                raise PermissionDenied(refused.message) from refused
            else:
                messages.success(request, "Exception requested: Security will decide it.")
                return redirect(exc.get_absolute_url())
        status = 400
    else:
        initial = {k: request.GET.get(k) for k in ("identity", "rule", "renewal_of") if request.GET.get(k)}
        if previous := initial.get("renewal_of"):
            old = PolicyException.objects.visible_to(request.user).filter(pk=previous).first()
            if old is not None:
                initial.update(
                    identity=old.identity_id,
                    rule=old.rule,
                    justification=old.justification,
                    compensating_controls=old.compensating_controls,
                )
        form = ExceptionRequestForm(initial=initial, user=request.user)
        status = 200
    return render(request, "governance/exceptions/exception_form.html", {"form": form}, status=status)


def _page_exception(request, pk: int) -> PolicyException:
    return get_object_or_404(
        PolicyException.objects.visible_to(request.user).select_related(
            "identity", "identity__owner", "identity__team", "requested_by", "renewal_of"
        ),
        pk=pk,
    )


@require_GET
@role_required(*MEMBERS)
def exception_detail(request, pk: int):
    exc = _page_exception(request, pk)
    return render(request, DETAIL_TEMPLATE, _detail_context(request, exc))


def _detail_context(request, exc: PolicyException) -> dict:
    approval = (
        ApprovalRequest.objects.prefetch_related(steps_prefetch(), "comments", "parties")
        .filter(pk=exc.approval_id)
        .first()
    )
    user = request.user
    history = PolicyException.objects.filter(identity=exc.identity, rule=exc.rule).select_related(
        "requested_by"
    )
    context = {
        "exc": exc,
        "rule_label": services.rule_label(exc.rule),
        **decision_state(user, approval),
        "comments": approval.comments.all() if approval else [],
        "can_revoke": exc.state == PolicyException.State.ACTIVE
        and user.has_role(Role.IAM, Role.SECURITY)
        and not user.is_auditor,
        "can_renew": exc.state in (PolicyException.State.ACTIVE, PolicyException.State.EXPIRED)
        and not user.is_auditor
        and (
            user.pk in (exc.identity.owner_id, exc.identity.backup_owner_id)
            or user.has_role(Role.IAM, Role.SECURITY)
        )
        and not exc.renewals.filter(state__in=services.OPEN_STATES).exists(),
        "findings": Finding.objects.filter(identity=exc.identity, rule=exc.rule).order_by("-last_seen_at")[
            :20
        ],
        "history": history.order_by("created_at", "pk"),
        "now": timezone.now(),
    }
    return context


@require_POST
@role_required(*MEMBERS)
def exception_decide(request, pk: int):
    return decide_from_page(
        request,
        _page_exception(request, pk),
        approve=services.approve,
        reject=services.reject,
        refused=refused_page(
            request, DETAIL_TEMPLATE, lambda: _detail_context(request, _page_exception(request, pk))
        ),
        approved="Approved.",
        rejected="Rejected.",
    )


@require_POST
@role_required(*MEMBERS)
def exception_revoke(request, pk: int):
    actor = from_request(request)
    reason = request.POST.get("reason", "")
    return act_from_page(
        request,
        _page_exception(request, pk),
        lambda exc: services.revoke_exception(actor, exc, reason),
        "Revoked: the finding reopens.",
    )


def identity_panel_items(identity):
    """Active and requested exceptions for the identity page (soonest expiry first)."""
    return list(
        PolicyException.objects.filter(identity=identity)
        .filter(Q(state=PolicyException.State.ACTIVE) | Q(state=PolicyException.State.REQUESTED))
        .order_by("expires_at", "pk")
    )
