"""Single sign-on with OpenID Connect (mozilla-django-oidc), configured only by the environment.

SSO is on when `OIDC_RP_CLIENT_ID` is set. Who a login is, and with which roles, is decided in
`governance.people.sso` (bound to the provider's `(issuer, sub)`, never matched by name). This module
is the plumbing: endpoint discovery, ID token checks, the callback that shows a refusal's reason, and
the SSO session kept server-side (the ID token and `sid` for logout, the refresh token for re-checks,
encrypted) — never in a cookie or a log.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from governance.people import sso, sso_session
from governance.people.models import User

logger = logging.getLogger(__name__)

DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_ISSUER": "issuer",
    "OIDC_OP_LOGOUT_ENDPOINT": "end_session_endpoint",
}
DISCOVERY_CACHE_SECONDS = 3600


def sso_enabled() -> bool:
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", ""))


def discovery_document() -> dict[str, Any]:
    url = getattr(settings, "OIDC_OP_DISCOVERY_ENDPOINT", "")
    if not url:
        return {}
    key = f"steward:oidc-discovery:{url}"
    document = cache.get(key)
    if document is None:
        response = requests.get(url, timeout=getattr(settings, "OIDC_TIMEOUT", 10))
        response.raise_for_status()
        document = response.json()
        cache.set(key, document, DISCOVERY_CACHE_SECONDS)
    return document


def oidc_setting(attr: str, *default):
    """A setting, with empty endpoint settings filled from the provider's discovery document."""
    value = import_from_settings(attr, *default)
    if not value and attr in DISCOVERED and sso_enabled():
        value = discovery_document().get(DISCOVERED[attr], value)
    return value


class StewardOIDCBackend(OIDCAuthenticationBackend):
    """Create or update the Steward user from the IdP's claims; map groups to roles; audit it."""

    get_settings = staticmethod(oidc_setting)

    # Read on use, not at construction: Django builds a backend for every request of a signed-in
    # user, and that must never depend on reaching the provider.
    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: self.get_settings("OIDC_OP_JWKS_ENDPOINT", None) or None)
    OIDC_RP_CLIENT_ID = property(lambda self: self.get_settings("OIDC_RP_CLIENT_ID"))
    OIDC_RP_CLIENT_SECRET = property(lambda self: self.get_settings("OIDC_RP_CLIENT_SECRET"))
    OIDC_RP_SIGN_ALGO = property(lambda self: self.get_settings("OIDC_RP_SIGN_ALGO", "RS256"))
    OIDC_RP_IDP_SIGN_KEY = property(lambda self: self.get_settings("OIDC_RP_IDP_SIGN_KEY", None))

    def __init__(self, *args, **kwargs):
        self.UserModel = User

    def authenticate(self, request, **kwargs):
        if not sso_enabled() or "password" in kwargs:
            return None
        return super().authenticate(request, **kwargs)

    def get_user(self, user_id):
        # Unlike the library's, refuse a user deactivated since they signed in.
        user = super().get_user(user_id)
        return user if user is not None and user.is_active else None

    def _verify_jws(self, payload, key):
        """Check signature and algorithm (the library), plus audience and, when known, issuer."""
        claims = super()._verify_jws(payload, key)
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The ID token was issued for another client.")
        issuer = self.get_settings("OIDC_OP_ISSUER", "")
        if issuer and claims.get("iss") != issuer:
            raise SuspiciousOperation("The ID token comes from an unexpected issuer.")
        return claims

    def retrieve_matching_jwk(self, token):
        """The provider's signing key for this token: matched by `kid`, or, when the token names no
        `kid`, the provider's only key for the algorithm (OpenID Connect Core 10.1 allows that)."""
        header = jwt.get_unverified_header(token)
        if "kid" in header:
            return super().retrieve_matching_jwk(token)
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=self.get_settings("OIDC_TIMEOUT", 10))
        response.raise_for_status()
        keys = [
            key
            for key in response.json().get("keys", [])
            if key.get("alg", header.get("alg")) == header.get("alg") and key.get("use", "sig") == "sig"
        ]
        if len(keys) != 1:
            raise SuspiciousOperation("The ID token names no key id and the provider has several keys.")
        return jwt.PyJWK(keys[0])

    def verify_refreshed_id_token(self, token: str) -> dict[str, Any]:
        """An ID token from a refresh grant: signature, audience and issuer as at login. Its nonce, if
        the provider repeats it, is not checked: the token came straight from the token endpoint,
        not through the browser, so there is no authorisation response to replay."""
        if self.OIDC_RP_SIGN_ALGO.startswith(("RS", "ES")):
            key = self.OIDC_RP_IDP_SIGN_KEY or self.retrieve_matching_jwk(token)
        else:
            key = self.OIDC_RP_CLIENT_SECRET
        return self.get_payload_data(token, key)

    def verify_claims(self, claims):
        return bool(claims.get("sub"))

    def get_token(self, payload):
        # Kept for the session: the refresh token (for re-checks).
        self.token_info = super().get_token(payload)
        return self.token_info

    def store_tokens(self, access_token, id_token):
        """Nothing here: the SSO session is written once the login is accepted (`sso_session`)."""

    def get_or_create_user(self, access_token, id_token, payload):
        user_info = self.get_userinfo(access_token, id_token, payload) or {}
        if user_info.get("sub") not in (None, payload.get("sub")):
            # OpenID Connect Core 5.3.2: a userinfo answer for another subject is not to be used.
            raise SuspiciousOperation("The userinfo answer names another subject than the ID token.")
        # Claims in the ID token (groups, sid) count too; the userinfo answer wins, but never for
        # the subject and issuer, which only the signed ID token may say.
        claims = {**payload, **user_info, "iss": payload.get("iss"), "sub": payload.get("sub")}
        if not claims.get("iss"):
            claims["iss"] = self.get_settings("OIDC_OP_ISSUER", "")
        login = sso.sign_in(claims, create=self.get_settings("OIDC_CREATE_USER", True))
        sso_session.start(
            self.request,
            issuer=login.issuer,
            subject=login.subject,
            sid=str(payload.get("sid") or ""),
            id_token=id_token,
            refresh_token=(getattr(self, "token_info", None) or {}).get("refresh_token", ""),
        )
        return login.user


class _OnlyWhenEnabled:
    """The SSO endpoints answer 404 while SSO is off, and need no login themselves."""

    @classmethod
    def as_view(cls, **initkwargs):
        inner = super().as_view(**initkwargs)

        @login_not_required
        def view(request, *args, **kwargs):
            if not sso_enabled():
                raise Http404("Single sign-on is not configured.")
            return inner(request, *args, **kwargs)

        return view


class StewardOIDCAuthenticateView(_OnlyWhenEnabled, OIDCAuthenticationRequestView):
    get_settings = staticmethod(oidc_setting)


class StewardOIDCCallbackView(_OnlyWhenEnabled, OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        try:
            return super().get(request)
        except sso.SsoRefused as refusal:
            # Steward refuses this person: say why, and what an administrator does about it.
            return render(
                request, "registration/sso_refused.html", {"refusal": refusal}, status=refusal.status
            )
        except (SuspiciousOperation, requests.RequestException, jwt.PyJWTError) as exc:
            # A forged or replayed callback, or an unreachable provider: a failed login, not a 500.
            logger.warning("SSO callback refused: %s", exc.__class__.__name__)
            return self.login_failure()
