from __future__ import annotations

import json

from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults

from governance.access import READERS, is_htmx, role_required
from governance.filters import AuditEventFilter, audit_page_source, audit_total
from governance.lists import services as lists
from governance.lists.export import csv_response
from governance.models import AuditEvent
from governance.paging import CountedPaginator

AUDIT_LIST = lists.register(
    lists.ListSpec(
        key="audit",
        title="Audit log",
        url_name="audit-log",
        export_name="audit-export",
        roles=READERS,
        columns=(
            ("seq", "#"),
            ("at", "When"),
            ("actor", "Actor"),
            ("verb", "Verb"),
            ("subject", "Subject"),
            ("change", "Change"),
            ("reason", "Reason"),
            ("request_id", "Request id"),
        ),
        default=("seq", "at", "actor", "verb", "subject", "change", "reason"),
        fixed=("verb",),
    )
)
EXPORT_HEADER = [
    "seq", "at", "actor", "actor_kind", "on_behalf_of", "verb", "subject_type", "subject_id",
    "subject_label", "before", "after", "reason", "request_id", "hash",
]  # fmt: skip


def _filtered(request):
    filterset = AuditEventFilter(request.GET or None, queryset=AuditEvent.objects.order_by("-seq"))
    # Unfiltered (unbound) shows everything; invalid filters show nothing plus their errors.
    valid = not filterset.is_bound or filterset.is_valid()
    return filterset, filterset.qs if valid else AuditEvent.objects.none()


@role_required(*READERS)
def audit_export(request):
    """Exactly the log's current filter as CSV, newest first, streamed."""
    _, queryset = _filtered(request)
    rows = (
        (
            e.seq,
            e.at,
            e.actor,
            e.actor_kind,
            e.on_behalf_of,
            e.verb,
            e.subject_type,
            e.subject_id,
            e.subject_label,
            "" if e.before is None else json.dumps(e.before, sort_keys=True, default=str),
            "" if e.after is None else json.dumps(e.after, sort_keys=True, default=str),
            e.reason,
            e.request_id,
            e.hash,
        )  # fmt: skip
        for e in queryset.iterator(chunk_size=2000)
    )
    return csv_response("audit", EXPORT_HEADER, rows)


@role_required(*READERS)
def audit_log(request):
    filterset, queryset = _filtered(request)
    source = audit_page_source(queryset, request.GET)
    page = CountedPaginator(source, 50, counted=audit_total(request.GET)).get_page(request.GET.get("page"))
    context = lists.page_context(request.user, AUDIT_LIST, filterset, page, request.GET)
    template = "governance/audit_list.html#results" if is_htmx(request) else "governance/audit_list.html"
    return render(request, template, context)


# ---------------------------------------------------------------- error pages


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def page_not_found(request, exception):
    """API clients get JSON errors everywhere under /api/, even for a path no view answers."""
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse({"detail": "Something went wrong on our side; it has been logged."}, status=500)
    return defaults.server_error(request)
