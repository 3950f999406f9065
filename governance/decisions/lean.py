"""The decision endpoint's lean path: `POST /api/v1/decisions/` with a bearer token, answered without
URL resolution, the inner middleware and DRF's request machinery.

A gateway asks one question per request, hundreds a second; resolving the URL through every app's
patterns, the session, CSRF, axes and DRF's negotiation, parsing and rendering cost more CPU than the
decision itself (bench/README.md, issue 23). This middleware sits just inside the ones that shape
every response (security headers, CSP, no-store, request id, the NUL check), so the answer leaves
with the same headers, and serves the request with the very parts the DRF view uses, in DRF's order:

1. the view's authentication classes (a workload's access token, then a static `stw_` token);
2. the view's permission classes (`DecisionViewSet.get_permissions` for `create`);
3. the JSON body through `governance.safe_json` (depth limit, NUL, finite numbers);
4. the view's throttle (`ApiRateThrottle`);
5. `governance.decisions.api.answer`, the view's own body, and its exception handler for a refusal.

Whatever is not the plain case goes down the ordinary stack untouched, which then answers exactly as
before: no bearer header, a session, another content type or `Accept`, a query string, an
authentication or permission refusal, a body that does not parse, or a throttled caller. Everything
the lean path checks before the throttle has no side effect, so falling through never counts a
request twice. `STEWARD_LEAN_DECISIONS=0` turns it off; tests/governance/test_lean_decisions.py asks
the same questions both ways and compares the answers, the headers and what was recorded.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.settings import api_settings

from governance import safe_json

_PATH: list[str] = []
_JSON_TYPES = ("", "*/*", "application/json", "application/*")
ALLOW = "GET, POST, HEAD, OPTIONS"


def decisions_path() -> str:
    if not _PATH:
        _PATH.append(reverse("api:decision-list"))
    return _PATH[0]


def _plain(request) -> bool:
    """A token's JSON question and nothing unusual about it."""
    meta = request.META
    if request.method != "POST" or meta.get("QUERY_STRING"):
        return False
    if not meta.get("HTTP_AUTHORIZATION", "").startswith("Bearer "):
        return False
    content_type, *options = [part.strip().lower() for part in meta.get("CONTENT_TYPE", "").split(";")]
    if content_type != "application/json" or any(o not in ("charset=utf-8", "") for o in options):
        return False  # another charset: DRF decodes by it
    accept = meta.get("HTTP_ACCEPT", "")
    return all(part.split(";")[0].strip().lower() in _JSON_TYPES for part in accept.split(","))


class LeanDecisionMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            getattr(settings, "STEWARD_LEAN_DECISIONS", True)
            and request.path_info == decisions_path()
            and _plain(request)
        ):
            response = serve(request)
            if response is not None:
                return response
        return self.get_response(request)


def _view():
    from governance.decisions.api import DecisionViewSet

    return DecisionViewSet(action="create", format_kwarg=None, args=(), kwargs={})


def serve(request) -> HttpResponse | None:
    """The answer, or None to let the ordinary stack answer (it will refuse the same way): the request
    is then handed on as it came, with nothing set on it."""
    lazy_user = request.user
    response = _serve(request)
    if response is None:
        request.user = lazy_user
        for name in ("auth", "parser_context"):
            request.__dict__.pop(name, None)
    return response


def _serve(request) -> HttpResponse | None:
    from governance.decisions.api import answer

    view = _view()
    request.parser_context = {"view": view}  # a workload token's authentication asks which view
    view.request = request
    try:
        for authenticator in view.get_authenticators():
            found = authenticator.authenticate(request)
            if found is not None:
                break
        else:
            return None
    except APIException:
        return None
    request.user, request.auth = found
    for permission in view.get_permissions():
        if not permission.has_permission(request, view):
            return None
    try:
        data = safe_json.loads(request.body)
    except ValueError:
        return None
    for throttle in view.get_throttles():
        if not throttle.allow_request(request, view):
            return None
    # From here the request has counted against the limit: every outcome is answered here.
    try:
        body, status = answer(request, data), 200
    except Exception as exc:  # noqa: BLE001 - what the view's exception handler does not know re-raises
        handled = api_settings.EXCEPTION_HANDLER(exc, {"view": view, "request": request})
        if handled is None:
            raise
        body, status = handled.data, handled.status_code
    response = HttpResponse(
        json.dumps(
            body, cls=JSONRenderer.encoder_class, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ),
        status=status,
        content_type="application/json",
    )
    # What DRF's finalize_response adds: the methods the route answers (the router maps GET to the
    # log and POST to asking) and the negotiation's Vary; on the ordinary stack the session middleware
    # adds Cookie (DRF's authentication looked at the session), kept so caches see the same answer.
    response["Allow"] = ALLOW
    response["Vary"] = "Accept, Cookie"
    return response
