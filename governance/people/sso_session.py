"""The SSO side of a Steward session: what the identity provider said at login, kept server-side.

`request.session["steward_sso"]` holds the issuer, `sub`, the provider's session id (`sid`), the ID
token (the `id_token_hint` for RP-initiated logout), the refresh token (encrypted with a key derived
from SECRET_KEY) and when the provider was last asked. The session store is server-side, so none of
it reaches a cookie; none of it is logged.

Re-check: at most every `STEWARD_SSO_RECHECK_SECONDS` (`due`) a request asks the provider again
(`governance.people.oidc.recheck`), which keeps the answer here (`renew`) or ends the session
(`end_current`).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

from cryptography.fernet import Fernet, InvalidToken
from django.conf import settings
from django.contrib.auth import logout
from django.db import transaction

from governance import audit
from governance.people.provider import end_session_endpoint

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


def refresh_token_of(state: dict[str, Any]) -> str:
    return _unseal(state.get("refresh_token", ""))


def renew(request, state: dict[str, Any], refresh_token: str) -> None:
    """The provider answered: keep its (possibly rotated) refresh token; the next re-check is due later."""
    request.session[KEY] = {**state, "refresh_token": _seal(refresh_token), "checked_at": time.time()}


def retry_soon(request, state: dict[str, Any]) -> None:
    """The provider could not be asked: keep the session and ask again in a minute."""
    state["checked_at"] = time.time() - settings.STEWARD_SSO_RECHECK_SECONDS + 60
    request.session[KEY] = state


def due(state: dict[str, Any]) -> bool:
    return time.time() - state.get("checked_at", 0) >= settings.STEWARD_SSO_RECHECK_SECONDS


def end_current(request, reason: str) -> None:
    user = request.user
    with transaction.atomic():
        audit.record(sso_actor(), "user.sso_session_ended", user, reason=reason)
    logout(request)


def sso_actor():
    from governance.people.sso import SSO_ACTOR

    return SSO_ACTOR


# -- logout ----------------------------------------------------------------------------------------


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
