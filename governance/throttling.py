"""API rate limits: one bucket per API token, or per signed-in user for browser sessions."""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ApiRateThrottle(SimpleRateThrottle):
    """`STEWARD_API_RATE` (e.g. "600/min") per token; read on each request so it can be tuned."""

    scope = "api"

    def get_rate(self):
        return getattr(settings, "STEWARD_API_RATE", None) or None

    def allow_request(self, request, view):
        # The rate may have changed since this instance was built (settings are read per request).
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        if token is not None and getattr(token, "pk", None) is not None and hasattr(token, "key_prefix"):
            ident = f"token:{token.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
