"""/healthz: is this process's database and broker reachable, and what the features' own checks say
(the sweep's age). Load balancers and anonymous callers get the status only; IAM and Security the
details."""

from __future__ import annotations

import time

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache

from config.celery import app
from governance import health
from governance.access import GOVERNORS


def _broker_status() -> dict:
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
    """Checks the features register (e.g. time since the last governance sweep)."""
    return health.extra_checks()
