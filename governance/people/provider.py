"""The identity provider as Steward's settings describe it: SSO is on when `OIDC_RP_CLIENT_ID` is set,
and empty endpoint settings are filled from the provider's discovery document (cached an hour)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.cache import cache
from mozilla_django_oidc.utils import import_from_settings

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


def end_session_endpoint() -> str:
    if not sso_enabled():
        return ""
    try:
        return oidc_setting("OIDC_OP_LOGOUT_ENDPOINT", "") or ""
    except requests.RequestException:
        return ""


def provider_origin() -> str:
    """The origin sign-out redirects to (allowed in CSP form-action), or ''."""
    endpoint = end_session_endpoint()
    if not endpoint:
        return ""
    parts = urlsplit(endpoint)
    return f"{parts.scheme}://{parts.netloc}"
