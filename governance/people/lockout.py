"""Failed-login lockout: django-axes per (username, address), plus a limit per address across usernames.

Axes locks a username at one address after AXES_FAILURE_LIMIT failures. On its own that lets one
address try one password against every username (password spraying) without limit. Axes can count
per address too (`AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]`) but with the
same limit for both, which would lock a shared office address after five typos. So this handler adds
the per-address count with its own, higher limit (`STEWARD_LOGIN_ADDRESS_FAILURE_LIMIT`, 0 = off),
over the same records and cool-off window axes keeps.
"""

from __future__ import annotations

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Sum


def address_failures(request) -> int:
    """Failed logins from the request's address within the cool-off window, whatever the username."""
    attempts = AccessAttempt.objects.filter(ip_address=request.axes_ip_address)
    if settings.AXES_COOLOFF_TIME is not None:
        attempts = attempts.filter(attempt_time__gte=get_cool_off_threshold(request))
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


def address_locked(request) -> bool:
    limit = getattr(settings, "STEWARD_LOGIN_ADDRESS_FAILURE_LIMIT", 0)
    return bool(limit) and settings.AXES_LOCK_OUT_AT_FAILURE and address_failures(request) >= limit


class StewardAxesHandler(AxesDatabaseHandler):
    def is_locked(self, request, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or address_locked(request)

    def user_login_failed(self, sender, credentials: dict, request=None, **kwargs):
        super().user_login_failed(sender, credentials, request=request, **kwargs)
        if request is None or getattr(request, "axes_locked_out", False):
            return
        if self.is_whitelisted(request, credentials) or not address_locked(request):
            return
        # The same answer as axes' own lockout: the middleware turns it into the 429 login page.
        request.axes_locked_out = True
        request.axes_credentials = credentials
        user_locked_out.send(
            "axes",
            request=request,
            username=get_client_username(request, credentials),
            ip_address=request.axes_ip_address,
        )
