"""OpenID Connect Back-Channel Logout 1.0: the provider tells Steward a session ended.

The logout token is checked as section 2.6 says: signed by the provider's key with the configured
algorithm, `iss` the provider, `aud` Steward's client id, `iat` present and recent, `jti` never seen
before, the back-channel `events` member, `sid` and/or `sub`, and no `nonce`. Then the sessions it
names end: by `sid` those the provider knows by it; by `sub` every session of the person bound to it.
"""

from __future__ import annotations

import time

import jwt
import requests
from django.core.cache import cache
from django.core.exceptions import SuspiciousOperation
from django.db import transaction

from governance import audit
from governance.people.models import SignedInSession, SsoBinding
from governance.people.sessions import end_session_keys

EVENT = "http://schemas.openid.net/event/backchannel-logout"
MAX_AGE_SECONDS = 300  # a logout token older than this is refused (clock skew allowed on top)
LEEWAY_SECONDS = 60


class InvalidLogoutToken(Exception):
    pass


def verify(token: str) -> dict:
    from governance.people.oidc import StewardOIDCBackend
    from governance.people.provider import oidc_setting, sso_enabled

    if not sso_enabled():
        raise InvalidLogoutToken("Single sign-on is not configured.")
    if not token:
        raise InvalidLogoutToken("No logout_token was sent.")
    backend = StewardOIDCBackend()
    algorithm = backend.OIDC_RP_SIGN_ALGO
    issuer = oidc_setting("OIDC_OP_ISSUER", "")
    if not issuer:
        raise InvalidLogoutToken("The provider's issuer is not configured (OIDC_OP_ISSUER or discovery).")
    try:
        if jwt.get_unverified_header(token).get("alg") != algorithm:
            raise InvalidLogoutToken(f"The logout token is not signed with {algorithm}.")
        key = backend.OIDC_RP_IDP_SIGN_KEY or backend.retrieve_matching_jwk(token)
        if isinstance(key, jwt.PyJWK):
            key = key.key
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=backend.OIDC_RP_CLIENT_ID,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "aud", "iat", "jti"]},
        )
    except InvalidLogoutToken:
        raise
    except (jwt.PyJWTError, SuspiciousOperation, requests.RequestException, ValueError, TypeError) as exc:
        raise InvalidLogoutToken(f"The logout token does not verify: {exc.__class__.__name__}: {exc}")
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(EVENT), dict):
        raise InvalidLogoutToken(f"The logout token has no '{EVENT}' event.")
    if "nonce" in claims:
        raise InvalidLogoutToken("A logout token must not carry a nonce.")
    if not claims.get("sid") and not claims.get("sub"):
        raise InvalidLogoutToken("The logout token names neither a sid nor a sub.")
    if (
        not isinstance(claims["iat"], int | float)
        or claims["iat"] < time.time() - MAX_AGE_SECONDS - LEEWAY_SECONDS
    ):
        raise InvalidLogoutToken("The logout token is too old.")
    # Replay: each jti once. The shared cache (STEWARD_CACHE_URL) makes this hold across processes.
    if not cache.add(
        f"steward:bcl-jti:{issuer}:{claims['jti']}", 1, timeout=MAX_AGE_SECONDS * 2 + LEEWAY_SECONDS
    ):
        raise InvalidLogoutToken("This logout token was already used (replayed jti).")
    return claims


def log_out(token: str) -> int:
    """Verify the token and end the sessions it names; returns how many ended."""
    claims = verify(token)
    issuer, sid, sub = claims["iss"], str(claims.get("sid") or ""), str(claims.get("sub") or "")
    sessions = SignedInSession.objects.filter(sso_issuer=issuer)
    binding = SsoBinding.objects.filter(issuer=issuer, subject=sub).first() if sub else None
    if sid:
        sessions = sessions.filter(sso_sid=sid)
        if binding is not None:
            sessions = sessions.filter(user_id=binding.user_id)
    elif binding is not None:
        sessions = sessions.filter(user_id=binding.user_id)
    else:
        sessions = sessions.none()
    rows = list(sessions.select_related("user"))
    with transaction.atomic():
        for user in {row.user_id: row.user for row in rows}.values():
            audit.record(
                "system:sso",
                "user.sso_logged_out",
                user,
                after={"issuer": issuer, "sid": sid, "sub": sub},
                reason="The identity provider ended the session (back-channel logout).",
            )
        ended = end_session_keys([row.session_key for row in rows])
    return ended
