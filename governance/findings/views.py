from django.db.models import Count, Q
from django.shortcuts import render

from governance.access import MEMBERS, READERS, is_htmx, role_required
from governance.findings.api import severity_rank
from governance.findings.catalogue import RULES
from governance.findings.filters import FindingFilter
from governance.findings.identity import covering_exceptions
from governance.findings.models import Finding, Severity
from governance.lists import services as lists
from governance.lists.export import csv_response
from governance.paging import OnePassPaginator

TEMPLATE = "governance/findings/finding_list.html"
PAGE_SIZE = 50
FINDINGS_LIST = lists.register(
    lists.ListSpec(
        key="findings",
        title="Findings",
        url_name="findings",
        export_name="findings-export",
        roles=MEMBERS,
        columns=(
            ("rule", "Rule"),
            ("identity", "Identity"),
            ("severity", "Severity"),
            ("status", "Status"),
            ("due_at", "Due"),
            ("evidence", "Evidence"),
            ("seen", "Seen"),
            ("frameworks", "Frameworks"),
        ),
        fixed=("rule",),
    )
)
EXPORT_HEADER = [
    "id", "rule", "severity", "status", "identity_id", "identity", "team", "owner",
    "first_seen_at", "last_seen_at", "due_at", "resolved_at", "resolution",
]  # fmt: skip


def _filtered(request):
    """The viewer's findings under the request's filters: open ones by default, worst first."""
    data = request.GET.copy()
    data.setdefault("status", Finding.Status.OPEN)  # "Any status" submits an empty value
    visible = Finding.objects.visible_to(request.user)
    queryset = visible.select_related("identity", "identity__team", "identity__owner", "owner").order_by(
        severity_rank().desc(), "-last_seen_at", "-id"
    )
    filterset = FindingFilter(data, queryset=queryset, request=request)
    results = filterset.qs if filterset.is_valid() else Finding.objects.none()
    return data, visible, filterset, results


@role_required(*MEMBERS)
def finding_export(request):
    """Exactly the list's current filter as CSV, streamed."""
    _, _, _, results = _filtered(request)
    rows = (
        (
            f.pk,
            f.rule,
            f.severity,
            f.status,
            f.identity_id,
            f.identity.name,
            f.identity.team.slug if f.identity.team_id else "",
            f.owner.username if f.owner_id else "",
            f.first_seen_at,
            f.last_seen_at,
            f.due_at,
            f.resolved_at,
            f.resolution,
        )  # fmt: skip
        for f in results.iterator(chunk_size=2000)
    )
    return csv_response("findings", EXPORT_HEADER, rows)


@role_required(*MEMBERS)
def finding_list(request):
    """Findings the viewer may see; open ones by default, worst first."""
    data, visible, filterset, results = _filtered(request)
    # Worst first: no index has that order (the rank of a severity, then last seen, which the sweep moves
    # every hour), so each page reads every match anyway; count them in the same pass.
    page = OnePassPaginator(results, PAGE_SIZE).get_page(request.GET.get("page"))
    # A suppressed finding stays listed, with the exception that covers it linked (one query).
    page.object_list = covering_exceptions(page.object_list)
    open_counts = visible.filter(status=Finding.Status.OPEN).aggregate(
        total=Count("id"), **{sev: Count("id", filter=Q(severity=sev)) for sev in Severity.values}
    )
    context = {
        **lists.page_context(request.user, FINDINGS_LIST, filterset, page, data),
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
