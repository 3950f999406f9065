"""The approval inbox for IAM and Security: pending work across kinds, oldest first."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from approvals import selectors
from approvals.models import ApprovalRequest
from approvals.registry import registered_kinds
from governance.access import is_htmx
from governance.lists.services import without_page
from governance.people.models import Role, Team
from inventory.models import RiskTier


@require_GET
def inbox(request):
    user = request.user
    governor = user.has_role(Role.IAM, Role.SECURITY) and not user.is_auditor
    reader = governor or user.has_role(Role.AUDITOR)
    if not reader:
        # Tool owners follow their own requests; the inbox is for approvers.
        return redirect("intake-mine")
    scope = request.GET.get("scope") or ("mine" if governor else "all")
    if scope not in selectors.SCOPES or (scope == "mine" and not governor):
        scope = "all"
    filters = {key: request.GET.get(key, "") for key in ("tier", "kind", "team", "age")}
    queryset = selectors.inbox(user, scope=scope, filters=filters)
    page = Paginator(queryset, 25).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "scope": scope,
        "governor": governor,
        "filters": filters,
        "query": without_page(request.GET),
        "counts": selectors.tier_counts(selectors.inbox(user, scope=scope)),
        "tiers": RiskTier.choices,
        "kinds": registered_kinds(),
        "teams": Team.objects.order_by("name"),
        "ages": selectors.AGE_CHOICES,
        "now": timezone.now(),
    }
    template = "approvals/inbox.html#results" if is_htmx(request) else "approvals/inbox.html"
    return render(request, template, context)


@require_GET
def approval_detail(request, pk: int):
    """A stable link for any kind: sends people to the page where that kind is decided."""
    approval = get_object_or_404(ApprovalRequest, pk=pk)
    user = request.user
    involved = approval.requester_id == user.pk or approval.parties.filter(pk=user.pk).exists()
    if not (involved or user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR)):
        raise PermissionDenied("This request is not yours to see.")
    return redirect(approval.get_absolute_url())
