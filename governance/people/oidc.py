"""Single sign-on with OpenID Connect (mozilla-django-oidc), configured only by the environment.

SSO is on when `OIDC_RP_CLIENT_ID` is set. Who a login is, and with which roles, is decided in
`governance.people.sso` (bound to the provider's `(issuer, sub)`, never matched by name). This module
is the plumbing: ID token checks, the callback that shows a refusal's reason, and the re-check that
asks the provider again at most every `STEWARD_SSO_RECHECK_SECONDS` (refresh token grant, then
userinfo), applies the answer (roles, active) and ends the session on a refusal. Endpoint discovery is
`governance.people.provider`; the SSO session kept server-side (the ID token and `sid` for logout, the
refresh token for re-checks, encrypted; never in a cookie or a log) is `governance.people.sso_session`.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404
from django.shortcuts import render
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from governance.people import sso, sso_session
from governance.people.models import User
from governance.people.provider import oidc_setting, sso_enabled

logger = logging.getLogger(__name__)


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


# -- the provider's answer, again ------------------------------------------------------------------


class Unreachable(Exception):
    """The provider could not be asked (network, 5xx): keep the session and ask again later."""


def ask_provider(state: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The provider's current claims for this session's subject, and the new refresh token.

    None when the provider refuses (the account disabled or removed: `invalid_grant`, 401);
    Unreachable when it could not answer."""
    backend = StewardOIDCBackend()
    refresh_token = sso_session.refresh_token_of(state)
    if not refresh_token:
        # Nothing to ask with: the provider issued no refresh token (ask for `offline_access`).
        # The session ends at the re-check; signing in again asks the provider afresh.
        return None, ""
    payload = {
        "client_id": backend.OIDC_RP_CLIENT_ID,
        "client_secret": backend.OIDC_RP_CLIENT_SECRET,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    try:
        answer = backend.get_token(payload)
    except requests.HTTPError as exc:
        error = _oauth_error(exc.response)
        if error == "invalid_grant":  # the grant is gone: account disabled, removed or signed out
            return None, ""
        # invalid_client and the like are Steward's configuration, not the person's standing.
        logger.error(
            "SSO re-check: the token endpoint answered %s (%s)", _status(exc.response), error or "no code"
        )
        raise Unreachable(error or str(_status(exc.response)))
    except requests.RequestException as exc:
        raise Unreachable(exc.__class__.__name__)
    claims: dict[str, Any] = {}
    # A forged or mismatched ID token in the answer is a refusal (SuspiciousOperation, PyJWTError).
    if answer.get("id_token"):
        try:
            claims.update(backend.verify_refreshed_id_token(answer["id_token"]))
        except (SuspiciousOperation, jwt.PyJWTError):
            logger.warning("SSO re-check: the refreshed ID token does not verify")
            return None, ""
        state["id_token"] = answer["id_token"]
    try:
        claims.update(backend.get_userinfo(answer.get("access_token", ""), None, None) or {})
    except requests.HTTPError as exc:
        if exc.response is not None and exc.response.status_code in (401, 403):
            return None, ""
        raise Unreachable("userinfo")
    except requests.RequestException as exc:
        raise Unreachable(exc.__class__.__name__)
    if claims.get("sub", state["sub"]) != state["sub"]:
        return None, ""
    claims["sub"], claims["iss"] = state["sub"], state["issuer"]
    return claims, answer.get("refresh_token") or refresh_token


def _status(response) -> int:
    return response.status_code if response is not None else 0


def _oauth_error(response) -> str:
    try:
        return str(response.json().get("error", "")) if response is not None else ""
    except ValueError:
        return ""


def recheck(request) -> str | None:
    """Re-check a due SSO session against the provider. Returns the reason when it ended it."""
    state = sso_session.of(request)
    if not state or not sso_session.due(state):
        return None
    user = request.user
    fresh = dict(state)
    try:
        claims, refresh_token = ask_provider(fresh)
    except Unreachable as exc:
        logger.warning("SSO re-check could not reach the identity provider (%s); will retry", exc)
        sso_session.retry_soon(request, state)
        return None
    reason = ""
    if claims is None:
        reason = (
            "The identity provider no longer accepts this sign-in (account disabled, removed or signed out)."
        )
    else:
        try:
            sso.recheck(user, claims)
        except sso.SsoRefused as refusal:
            reason = refusal.message
    if reason:
        sso_session.end_current(request, reason)
        return reason
    sso_session.renew(request, fresh, refresh_token)
    return None
