import uuid

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject, CSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from governance.request_context import request_id as _request_id


class RequestIdMiddleware:
    """Give every request an id (or reuse X-Request-ID) so audit events can be traced to it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming[:64] if incoming.isprintable() and incoming else uuid.uuid4().hex
        request.request_id = request_id
        token = _request_id.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _request_id.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ReadOnlyRolesMiddleware:
    """Auditors, and signed-in people who hold no role, change nothing through the browser.

    Refused here, before any view reads the form, so a direct POST gets 403 whatever it carries
    (never a 400 or a redirect that hints it would work with a better body). The services refuse
    the same people on their own; this is the door, they are the lock. The API has the same rule in
    its permission classes; the admin keeps its own staff check.
    """

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
    # Reading that happens to be a POST: asking for an evidence pack, checking an uploaded one,
    # trying a request against the policy, and leaving.
    READING_POSTS = ("/evidence/", "/evidence/verify/", "/policy/try/")
    # A person's own list preferences (columns, saved filters): never governed state (governance.lists).
    PREFERENCE_PREFIXES = ("/lists/",)
    # /scim/: bearer tokens only; /integrations/slack/interactions/: Slack's signature only, never a session.
    EXEMPT_PREFIXES = (
        "/api/",
        "/admin/",
        "/accounts/",
        "/oidc/",
        "/scim/",
        "/integrations/slack/interactions/",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method not in self.SAFE_METHODS and self._read_only(request.user):
            path = request.path_info
            exempt = (*self.EXEMPT_PREFIXES, *self.PREFERENCE_PREFIXES)
            if path not in self.READING_POSTS and not path.startswith(exempt):
                from django.core.exceptions import PermissionDenied
                from django.views.defaults import permission_denied

                message = (
                    "Auditors have read-only access."
                    if request.user.is_auditor
                    else "Your account holds no Steward role, so it can only read."
                )
                return permission_denied(request, PermissionDenied(message))
        return self.get_response(request)

    @staticmethod
    def _read_only(user) -> bool:
        if not user.is_authenticated or user.is_superuser:
            return False
        from governance.people.models import Role

        writers = (Role.OWNER, Role.IAM, Role.SECURITY)
        return not user.has_role(*writers)


class IllegalTransitionMiddleware:
    """A service's IllegalTransition that a browser view did not catch is a 409 page, never a 500.

    Views handle the transitions they expect (with their own message and page); this is the net
    under them, so a state that moved between two clicks always gets a clear answer.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from governance.errors import IllegalTransition

        if isinstance(exception, IllegalTransition) and not request.path_info.startswith("/api/"):
            from django.shortcuts import render

            return render(request, "409.html", {"message": exception.message}, status=409)
        return None


class SsoSessionMiddleware:
    """Sessions follow the identity provider: a due SSO session is re-checked (roles, active) and
    ended on a refusal; and every page's CSP lets the sign-out form continue to the provider's
    end_session_endpoint (form-action covers the redirect after a form POST)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from governance.people import oidc, provider, sso_session

        if not provider.sso_enabled():
            return self.get_response(request)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and sso_session.of(request):
            reason = oidc.recheck(request)
            if reason:
                from django.contrib import messages

                messages.warning(request, f"Your session ended: {reason}")
        response = self.get_response(request)
        if response.get("Content-Type", "").startswith("text/html"):
            origin = provider.provider_origin()
            if origin:
                update = dict(getattr(response, "_csp_update", None) or {})
                update["form-action"] = [*update.get("form-action", []), origin]
                response._csp_update = update
        return response


class NoStoreMiddleware:
    """`Cache-Control: no-store` on every answer to a signed-in person or an API token, and on every
    download: inventories, audit events and evidence packs must not stay in a shared computer's
    browser cache or a proxy. Static files (WhiteNoise answers them before this runs) and anonymous
    answers such as /healthz keep their own headers; so does a view that declares its answer
    `public` (the JWKS: public keys, the same for everyone).

    Read after the view: DRF authenticates a bearer token inside the view and sets `request.user`.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if self._private(request, response) and "public" not in response.get("Cache-Control", ""):
            from django.utils.cache import patch_cache_control

            patch_cache_control(response, no_store=True)
        return response

    @staticmethod
    def _private(request, response) -> bool:
        user = getattr(request, "user", None)
        return bool(
            (user is not None and user.is_authenticated)
            or request.headers.get("Authorization")
            or response.get("Content-Disposition", "").lower().startswith("attachment")
        )


class RefuseNulMiddleware:
    """A NUL character in the path, the query string or a form field is refused with 400 before any
    view reads it: PostgreSQL cannot store NUL in text, so it would reach the database as a 500.
    (JSON bodies are refused the same way by governance.safe_json.)"""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._carries_nul(request):
            from django.http import HttpResponseBadRequest, JsonResponse

            message = "The request contains a NUL character (\\x00), which Steward does not accept."
            if request.path_info.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain; charset=utf-8")
        return self.get_response(request)

    @staticmethod
    def _carries_nul(request) -> bool:
        if "\x00" in request.path_info or "%00" in request.META.get("QUERY_STRING", ""):
            return True
        if any("\x00" in key or any("\x00" in v for v in values) for key, values in request.GET.lists()):
            return True
        content_type = request.META.get("CONTENT_TYPE", "")
        if request.method == "POST" and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            try:
                fields = request.POST.lists()
            except Exception:  # noqa: BLE001 - a malformed body is the view's (and CSRF's) to refuse
                return False
            return any(
                "\x00" in key or any(isinstance(v, str) and "\x00" in v for v in values)
                for key, values in fields
            )
        return False


class PolicyHeadersMiddleware(CSPMiddleware):
    """django-csp's middleware, with both policies built once for the answers that need nothing
    per request: no nonce asked for, no view's `csp_update`/`csp_replace`/`csp_exempt` (every API
    answer and most pages). The library builds them from the settings on every answer, converting
    its policy parts to dictionaries and copying the directives (an eighth of a decision's Python:
    bench/README.md, issue 23's sixth pass). Any other answer takes the library's own path, so the
    headers are the same either way (tests/security/test_policy_headers.py)."""

    _OVERRIDES = (
        "_csp_config", "_csp_update", "_csp_replace", "_csp_exempt",
        "_csp_config_ro", "_csp_update_ro", "_csp_replace_ro", "_csp_exempt_ro",
    )  # fmt: skip
    _built: dict[bool, tuple[str, tuple[str, ...]]] = {}

    def process_response(self, request, response):
        # Any override at all, even one set to None (the library reads `_csp_exempt = None` as exempt).
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in self._OVERRIDES
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # as the library: Django's debug pages keep their inline styles
        for report_only, header in ((False, HEADER), (True, HEADER_REPORT_ONLY)):
            policy, excluded = self._policy(report_only)
            if policy and header not in response and not request.path_info.startswith(excluded):
                response[header] = policy
        # As the library: a nonce asked for after the header is written is an error, not a silent gap.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response

    @classmethod
    def _policy(cls, report_only: bool) -> tuple[str, tuple[str, ...]]:
        built = cls._built.get(report_only)
        if built is None:  # a local: another thread may clear the cache between two reads of it
            setting = "CONTENT_SECURITY_POLICY_REPORT_ONLY" if report_only else "CONTENT_SECURITY_POLICY"
            prefixes = (getattr(settings, setting, None) or {}).get("EXCLUDE_URL_PREFIXES") or ()
            built = cls._built[report_only] = (build_policy(report_only=report_only), tuple(prefixes))
        return built


@receiver(setting_changed)
def _policy_settings_changed(setting, **kwargs):
    if setting in ("CONTENT_SECURITY_POLICY", "CONTENT_SECURITY_POLICY_REPORT_ONLY", "DEBUG"):
        PolicyHeadersMiddleware._built.clear()
