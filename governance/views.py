from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.cache import never_cache

from governance.access import GOVERNORS, READERS, is_htmx, role_required
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


def _broker_status() -> dict:
    from config.celery import app

    started = time.monotonic()
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return {"ok": True, "ms": round((time.monotonic() - started) * 1000, 1)}
    except Exception as exc:  # noqa: BLE001 - any failure means "unreachable"
        return {"ok": False, "error": exc.__class__.__name__}


def _sees_health_details(user) -> bool:
    """IAM, Security and superusers see each check; everyone else (load balancers, anonymous
    callers, other roles) only the status, so the answer tells an outsider nothing about the stack."""
    return user.is_authenticated and user.has_role(*GOVERNORS)


@login_not_required
@never_cache
def healthz(request):
    checks: dict[str, dict] = {}
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = {
            "ok": True,
            "vendor": connection.vendor,
            "ms": round((time.monotonic() - started) * 1000, 1),
        }
    except Exception as exc:  # noqa: BLE001
        checks["database"] = {"ok": False, "error": exc.__class__.__name__}
    checks["broker"] = _broker_status()
    for name, check in _extra_health_checks():
        checks[name] = check
    ok = all(c.get("ok") for c in checks.values())
    body: dict = {"status": "ok" if ok else "degraded"}
    if _sees_health_details(request.user):
        body.update(checks=checks, debug=settings.DEBUG)
    return JsonResponse(body, status=200 if ok else 503)


def _extra_health_checks():
    """Checks contributed by later features (e.g. time since the last governance sweep)."""
    from governance import health

    return health.extra_checks()


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
