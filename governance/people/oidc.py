"""Single sign-on with OpenID Connect (mozilla-django-oidc), configured only by the environment.

SSO is on when `OIDC_RP_CLIENT_ID` is set. At each login the user is created or updated from the
claims (username from `preferred_username`, email, display name) and their role groups are set from
the identity provider's group claim through `STEWARD_OIDC_ROLE_MAP`. A user deactivated in Steward is
refused whatever the provider says. When the provider says the account is disabled (the
`STEWARD_OIDC_ACTIVE_CLAIM` claim, default `active`, is false), the user is deprovisioned: deactivated
as `system:sso` through the same service as the admin and the HR import, so what they owned is
re-homed at once. The provider's tokens are never stored.
"""

from __future__ import annotations

import logging
from typing import Any

import jwt
import requests
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, SuspiciousOperation
from django.db import transaction
from django.http import Http404
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from governance import audit
from governance.actors import system
from governance.people.models import Role, User
from governance.people.services import deactivate_user

logger = logging.getLogger(__name__)

SSO_ACTOR = system("sso")
DISCOVERED = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_ISSUER": "issuer",
}
DISCOVERY_CACHE_SECONDS = 3600


def sso_enabled() -> bool:
    return bool(getattr(settings, "OIDC_RP_CLIENT_ID", ""))


def role_map() -> dict[str, str]:
    """Parse STEWARD_OIDC_ROLE_MAP ("idp-group=Role name,...") into {idp group: Steward role}."""
    raw = getattr(settings, "STEWARD_OIDC_ROLE_MAP", "") or ""
    mapping: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        group, sep, role = item.partition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or role not in Role.values:
            raise ImproperlyConfigured(
                f"STEWARD_OIDC_ROLE_MAP entry '{item.strip()}' must be 'idp-group=Role' with Role one of: "
                f"{', '.join(Role.values)}."
            )
        mapping[group] = role
    return mapping


def roles_from_claims(claims: dict[str, Any]) -> set[str]:
    groups = claims.get(settings.STEWARD_OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    mapping = role_map()
    return {mapping[g] for g in groups if isinstance(g, str) and g in mapping}


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

    @staticmethod
    def username_from(claims: dict[str, Any]) -> str:
        return str(claims.get("preferred_username") or claims.get("email") or "").strip()[:150]

    def verify_claims(self, claims):
        return bool(self.username_from(claims))

    def filter_users_by_claims(self, claims):
        return User.objects.filter(username=self.username_from(claims))

    def get_or_create_user(self, access_token, id_token, payload):
        user_info = self.get_userinfo(access_token, id_token, payload)
        # Claims in the ID token (e.g. groups) count too; the userinfo answer wins on conflict.
        claims = {**(payload or {}), **(user_info or {})}
        if not self.verify_claims(claims):
            raise SuspiciousOperation("The identity provider sent no preferred_username or email.")
        return sync_user(claims, create=self.get_settings("OIDC_CREATE_USER", True))


DEPROVISIONED = "The identity provider reports the account disabled (SSO deprovisioning)."
FALSE_WORDS = {"false", "0", "no", "disabled", "inactive", "suspended", "deprovisioned"}


def disabled_by_provider(claims: dict[str, Any]) -> bool:
    """True when the provider's active claim says no. A missing claim says nothing."""
    name = getattr(settings, "STEWARD_OIDC_ACTIVE_CLAIM", "")
    if not name or name not in claims:
        return False
    value = claims[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    return str(value).strip().lower() in FALSE_WORDS


def _profile(claims: dict[str, Any]) -> dict[str, str]:
    name = claims.get("name") or " ".join(
        part for part in (claims.get("given_name"), claims.get("family_name")) if part
    )
    return {"email": str(claims.get("email") or "")[:254], "display_name": str(name or "")[:200]}


@transaction.atomic
def sync_user(claims: dict[str, Any], *, create: bool = True) -> User | None:
    """Create or update the user named by the claims and set their roles; None when refused."""
    username = StewardOIDCBackend.username_from(claims)
    user = User.objects.select_for_update().filter(username=username).first()
    profile = _profile(claims)
    if disabled_by_provider(claims):
        if user is not None and user.is_active:
            deactivate_user(SSO_ACTOR, user, reason=DEPROVISIONED)
        else:
            logger.info("SSO login refused: the identity provider reports %s disabled", username)
        return None
    if user is None:
        if not create:
            logger.info("SSO login refused: no Steward user %s and user creation is off", username)
            return None
        user = User(username=username, **profile)
        user.set_unusable_password()
        user.save()
        audit.record(SSO_ACTOR, "user.created", user, after={"username": username, **profile})
    elif not user.is_active:
        audit.record(
            SSO_ACTOR,
            "user.sso_login_refused",
            user,
            reason="The user is deactivated in Steward; the identity provider's answer does not override it.",
        )
        return None
    else:
        changes = {k: v for k, v in profile.items() if v and getattr(user, k) != v}
        if changes:
            before = {k: getattr(user, k) for k in changes}
            for key, value in changes.items():
                setattr(user, key, value)
            user.save(update_fields=list(changes))
            audit.record(SSO_ACTOR, "user.updated", user, before=before, after=changes)
    _set_roles(user, roles_from_claims(claims))
    return user


def _set_roles(user: User, wanted: set[str]) -> None:
    """The IdP is authoritative for the four role groups; other groups are left alone."""
    current = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    if current == wanted:
        return
    if current - wanted:
        user.groups.remove(*Group.objects.filter(name__in=current - wanted))
    if wanted - current:
        # The role groups come with a migration; get_or_create keeps SSO working if one was removed.
        user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in sorted(wanted - current)))
    user.__dict__.pop("roles", None)
    audit.record(
        SSO_ACTOR,
        "user.roles_changed",
        user,
        before={"roles": sorted(current)},
        after={"roles": sorted(wanted)},
        reason=f"Mapped from the identity provider's '{settings.STEWARD_OIDC_GROUPS_CLAIM}' claim.",
    )


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
        except (SuspiciousOperation, requests.RequestException, jwt.PyJWTError) as exc:
            # A forged or replayed callback, or an unreachable provider: a failed login, not a 500.
            logger.warning("SSO callback refused: %s", exc.__class__.__name__)
            return self.login_failure()
