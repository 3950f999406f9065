"""The SSO side of a Steward session: what the identity provider said at login, kept server-side.

`request.session["steward_sso"]` holds the issuer, `sub`, the provider's session id (`sid`), the ID
token (the `id_token_hint` for RP-initiated logout), the refresh token (encrypted with a key derived
from SECRET_KEY) and when the provider was last asked. The session store is server-side, so none of
it reaches a cookie; none of it is logged.

Re-check: at most every `STEWARD_SSO_RECHECK_SECONDS` a request asks the provider again (refresh
token grant, then userinfo), applies the answer (roles, active) and ends the session on a refusal.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth import logout
from django.core.exceptions import SuspiciousOperation
from django.db import transaction

from governance import audit

logger = logging.getLogger(__name__)

KEY = "steward_sso"


def _fernet() -> Fernet:
    digest = hashlib.sha256(b"steward.sso.refresh-token:" + settings.SECRET_KEY.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _seal(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode() if value else ""


def _unseal(value: str) -> str:
    if not value:
        return ""
    try:
        return _fernet().decrypt(value.encode()).decode()
    except InvalidToken:  # SECRET_KEY rotated: the next re-check ends the session
        return ""


def start(request, *, issuer: str, subject: str, sid: str, id_token: str, refresh_token: str) -> None:
    request.session[KEY] = {
        "issuer": issuer,
        "sub": subject,
        "sid": sid,
        "id_token": id_token,
        "refresh_token": _seal(refresh_token or ""),
        "checked_at": time.time(),
    }


def of(request) -> dict[str, Any] | None:
    session = getattr(request, "session", None)
    return session.get(KEY) if session is not None else None


# -- the provider's answer, again ------------------------------------------------------------------


class Unreachable(Exception):
    """The provider could not be asked (network, 5xx): keep the session and ask again later."""


def due(state: dict[str, Any]) -> bool:
    return time.time() - state.get("checked_at", 0) >= settings.STEWARD_SSO_RECHECK_SECONDS


def ask_provider(state: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The provider's current claims for this session's subject, and the new refresh token.

    None when the provider refuses (the account disabled or removed: `invalid_grant`, 401);
    Unreachable when it could not answer."""
    from governance.people.oidc import StewardOIDCBackend

    backend = StewardOIDCBackend()
    refresh_token = _unseal(state.get("refresh_token", ""))
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
    from governance.people import sso

    state = of(request)
    if not state or not due(state):
        return None
    user = request.user
    fresh = dict(state)
    try:
        claims, refresh_token = ask_provider(fresh)
    except Unreachable as exc:
        logger.warning("SSO re-check could not reach the identity provider (%s); will retry", exc)
        state["checked_at"] = time.time() - settings.STEWARD_SSO_RECHECK_SECONDS + 60
        request.session[KEY] = state
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
        end_current(request, reason)
        return reason
    fresh.update(refresh_token=_seal(refresh_token), checked_at=time.time())
    request.session[KEY] = fresh
    return None


def end_current(request, reason: str) -> None:
    user = request.user
    with transaction.atomic():
        audit.record(sso_actor(), "user.sso_session_ended", user, reason=reason)
    logout(request)


def sso_actor():
    from governance.people.sso import SSO_ACTOR

    return SSO_ACTOR


# -- logout ----------------------------------------------------------------------------------------


def end_session_endpoint() -> str:
    from governance.people.oidc import oidc_setting, sso_enabled

    if not sso_enabled():
        return ""
    try:
        return oidc_setting("OIDC_OP_LOGOUT_ENDPOINT", "") or ""
    except requests.RequestException:
        return ""


def provider_logout_url(request, state: dict[str, Any] | None) -> str:
    """Where to send the browser to end the provider's session too (RP-initiated logout 1.0), or ''."""
    endpoint = end_session_endpoint()
    if not state or not endpoint:
        return ""
    params = {
        "client_id": settings.OIDC_RP_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(settings.STEWARD_SSO_POST_LOGOUT_PATH),
    }
    if state.get("id_token"):
        params["id_token_hint"] = state["id_token"]
    separator = "&" if urlsplit(endpoint).query else "?"
    return f"{endpoint}{separator}{urlencode(params)}"


def provider_origin() -> str:
    """The origin sign-out redirects to (allowed in CSP form-action), or ''."""
    endpoint = end_session_endpoint()
    if not endpoint:
        return ""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"
