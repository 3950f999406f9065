"""Pages: the decisions log, just-in-time access requests, and the public JWKS."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_POST

from approvals.selectors import decision_state, steps_prefetch
from approvals.views.decide import act_from_page, decide_from_page, refused_page
from governance.access import READERS, is_htmx, role_required
from governance.actors import from_request
from governance.decisions import attestation, jit
from governance.decisions.api import DecisionRecordFilter
from governance.decisions.models import AccessRequest, DecisionOutcome, DecisionRecord
from governance.ids import parse_id
from inventory.models import Action, Environment, Identity

PAGE_SIZE = 50
DETAIL_TEMPLATE = "governance/decisions/access_request.html"


@require_GET
@role_required(*READERS)
def decisions_log(request):
    filterset = DecisionRecordFilter(
        request.GET or None, queryset=DecisionRecord.objects.select_related("identity").order_by("-at", "-pk")
    )
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if valid else DecisionRecord.objects.none()
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    identity_id = request.GET.get("identity", "")
    context = {
        "page": page,
        "query": query.urlencode(),
        "filters": {k: request.GET.get(k, "") for k in ("identity", "action", "decision", "environment")},
        "errors": filterset.errors if filterset.is_bound and not valid else {},
        "identity": Identity.objects.filter(pk=parse_id(identity_id)).only("pk", "name").first()
        if parse_id(identity_id)
        else None,
        "actions": Action.choices,
        "outcomes": DecisionOutcome.choices,
        "environments": Environment.choices,
    }
    template = (
        "governance/decisions/log.html#results" if is_htmx(request) else "governance/decisions/log.html"
    )
    return render(request, template, context)


# ---------------------------------------------------------------- access requests


@require_GET
def access_requests(request):
    queryset = jit.visible_to(request.user).select_related("identity", "requester", "grant")
    state = request.GET.get("state", "")
    if state in AccessRequest.State.values:
        queryset = queryset.filter(state=state)
    page = Paginator(queryset.order_by("-created_at", "-pk"), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "page": page,
        "state": state,
        "states": AccessRequest.State.choices,
        "query": query.urlencode(),
    }
    return render(request, "governance/decisions/access_requests.html", context)


def _page_request(request, pk: int) -> AccessRequest:
    return get_object_or_404(
        jit.visible_to(request.user).select_related("identity", "identity__owner", "requester", "grant"),
        pk=pk,
    )


@require_GET
def access_request_detail(request, pk: int):
    ar = _page_request(request, pk)
    return render(request, DETAIL_TEMPLATE, _detail_context(request, ar))


def _detail_context(request, ar: AccessRequest) -> dict:
    approval = (
        jit.ApprovalRequest.objects.prefetch_related(steps_prefetch(), "comments", "parties")
        .filter(kind=jit.KIND, object_id=ar.pk)
        .first()
    )
    user = request.user
    context = {
        "ar": ar,
        **decision_state(user, approval),
        "can_end": ar.state in (AccessRequest.State.PENDING, AccessRequest.State.APPROVED)
        and (ar.state == AccessRequest.State.APPROVED or user.pk == ar.requester_id)
        and not user.is_auditor
        and (user.pk == ar.requester_id or jit.is_party(user, ar.identity) or user.is_governor),
        "now": timezone.now(),
    }
    return context


@require_POST
def access_request_decide(request, pk: int):
    return decide_from_page(
        request,
        _page_request(request, pk),
        approve=jit.approve,
        reject=jit.reject,
        refused=refused_page(
            request, DETAIL_TEMPLATE, lambda: _detail_context(request, _page_request(request, pk))
        ),
        approved="Approved: the grant is live now.",
        rejected="Rejected.",
    )


@require_POST
def access_request_end(request, pk: int):
    actor = from_request(request)
    reason = request.POST.get("reason", "")
    return act_from_page(
        request, _page_request(request, pk), lambda ar: jit.end_access(actor, ar, reason), "Access ended."
    )


# ---------------------------------------------------------------- public keys


@login_not_required
@require_GET
@cache_control(public=True, max_age=300)
def jwks(request):
    """Public keys for verifying Steward's attestations offline (no login)."""
    return JsonResponse(attestation.published_keys())
