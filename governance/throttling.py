"""API rate limits: one bucket per API token, or per signed-in user for browser sessions.

A sliding-window counter: two fixed-window counts (this window and the last), the last weighted by
how much of it still lies within one window of now. Constant work per request — one read of two
counters and one increment, on Redis one atomic script call (one round trip) — where DRF's
SimpleRateThrottle stores and rewrites the list of every request's time in the window (3,000 floats
per token at the default rate, pickled twice a request).
"""

from __future__ import annotations

import math
import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from governance.cache import incr_many, window_admit

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """ "600/min" -> (600, 60): DRF's notation (the period's first letter counts)."""
    number, period = rate.split("/")
    return int(number), PERIODS[period.strip()[0]]


class ApiRateThrottle(BaseThrottle):
    """`STEWARD_API_RATE` (e.g. "600/min") per token; read on each request so it can be tuned."""

    scope = "api"

    def get_rate(self) -> str | None:
        return getattr(settings, "STEWARD_API_RATE", None) or None

    def get_cache_key(self, request, view) -> str:
        token = getattr(request, "auth", None)
        if token is not None and getattr(token, "pk", None) is not None and hasattr(token, "key_prefix"):
            ident = f"token:{token.pk}"
        elif token is not None and getattr(token, "is_machine_credential", False):
            ident = f"workload:{token.identity_id}"  # a workload's access tokens share its bucket
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"anon:{self.get_ident(request)}"
        return f"throttle_{self.scope}_{ident}"

    def allow_request(self, request, view) -> bool:
        rate = self.get_rate()
        if rate is None:
            return True
        limit, duration = parse_rate(rate)
        now = time.time()
        window = int(now // duration)
        key = self.get_cache_key(request, view)
        current_key, previous_key = f"{key}:{window}", f"{key}:{window - 1}"
        still_counts = 1 - (now - window * duration) / duration  # the last window's share still in view
        # On Redis, read and count in one atomic round trip (a script); elsewhere two cache calls.
        admitted = window_admit(current_key, previous_key, limit, still_counts, duration * 2)
        if admitted is None:
            counts = cache.get_many([current_key, previous_key])
            current, previous = counts.get(current_key, 0), counts.get(previous_key, 0)
            admitted = current + previous * still_counts < limit
            if admitted:
                incr_many({current_key: 1}, duration * 2)
        if not admitted:
            self._wait = max(1, math.ceil((window + 1) * duration - now))  # a retry then has a fair chance
        return admitted

    def wait(self) -> int | None:
        return getattr(self, "_wait", None)
