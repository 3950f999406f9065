from __future__ import annotations

from django.core.paginator import Paginator
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults

from governance.access import READERS, is_htmx, role_required
from governance.filters import AuditEventFilter, audit_page_source
from governance.models import AuditEvent


@role_required(*READERS)
def audit_log(request):
    filterset = AuditEventFilter(request.GET or None, queryset=AuditEvent.objects.order_by("-seq"))
    # Unfiltered (unbound) shows everything; invalid filters show nothing plus their errors.
    valid = not filterset.is_bound or filterset.is_valid()
    queryset = filterset.qs if valid else AuditEvent.objects.none()
    page = Paginator(audit_page_source(queryset, request.GET), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"filter": filterset, "page": page, "query": query.urlencode()}
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
