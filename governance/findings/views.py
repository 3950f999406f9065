from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.shortcuts import render

from governance.access import MEMBERS, READERS, is_htmx, role_required
from governance.findings.api import severity_rank
from governance.findings.catalogue import RULES
from governance.findings.filters import FindingFilter
from governance.findings.identity import covering_exceptions
from governance.findings.models import Finding, Severity

TEMPLATE = "governance/findings/finding_list.html"


@role_required(*MEMBERS)
def finding_list(request):
    """Findings the viewer may see; open ones by default, worst first."""
    data = request.GET.copy()
    data.setdefault("status", Finding.Status.OPEN)  # "Any status" submits an empty value
    visible = Finding.objects.visible_to(request.user)
    queryset = visible.select_related("identity", "identity__team", "identity__owner", "owner").order_by(
        severity_rank().desc(), "-last_seen_at", "-id"
    )
    filterset = FindingFilter(data, queryset=queryset, request=request)
    results = filterset.qs if filterset.is_valid() else Finding.objects.none()
    page = Paginator(results, 50).get_page(request.GET.get("page"))
    # A suppressed finding stays listed, with the exception that covers it linked (one query).
    page.object_list = covering_exceptions(page.object_list)
    query = data.copy()
    query.pop("page", None)
    open_counts = visible.filter(status=Finding.Status.OPEN).aggregate(
        total=Count("id"), **{sev: Count("id", filter=Q(severity=sev)) for sev in Severity.values}
    )
    context = {
        "filter": filterset,
        "page": page,
        "query": query.urlencode(),
        "open_counts": open_counts,
        "severities": Severity.values,
        "rules": RULES,
        "can_request_exception": not request.user.is_auditor,
        "sees_all": request.user.has_role(*READERS),
    }
    template = (
        "governance/findings/finding_list.html#results"
        if is_htmx(request)
        else "governance/findings/finding_list.html"
    )
    return render(request, template, context)
