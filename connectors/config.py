"""Checking a connector's configuration: known keys only, no secrets, endpoints on the allowlist.

The worker signs requests (AWS SigV4) or sends tokens with the credentials of its environment; a
configurable endpoint could send those elsewhere. So every URL setting must name a host in
STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST (loopback hosts too are allowed outside production, for local
emulators), checked when the configuration is saved and again before every run.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from connectors import kinds
from inventory.secrets_guard import looks_like_secret

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")
# Setting names that can only hold a secret: refused whatever the value.
SECRET_KEY_WORDS = re.compile(
    r"secret|passw|token|private|credential|session|api[_-]?key|access[_-]?key|client[_-]?key|auth",
    re.IGNORECASE,
)
NO_SECRETS = (
    "Secrets never go in a connector's configuration: the worker reads its credentials from its "
    "environment, as the SDK's default chain does (for AWS: a role assumed by web identity, or the "
    "instance's role)."
)


def allowlist() -> list[str]:
    return [h.strip().lower() for h in settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST if h.strip()]


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def endpoint_error(url: Any) -> str | None:
    """Why this URL may not be a connector's endpoint, or None when it may."""
    if not isinstance(url, str) or not url.strip():
        return "Give an absolute https URL."
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        return "Give an absolute https URL."
    if parts.scheme not in ("http", "https") or not host:
        return "Give an absolute https URL."
    if parts.username or parts.password:
        return "No user name or password in the URL: " + NO_SECRETS
    loopback = _is_loopback(host)
    if loopback and not settings.PRODUCTION:
        return None
    if not any(host == a or (a.startswith(".") and host.endswith(a)) for a in allowlist()):
        where = "loopback hosts are refused in production; " if loopback else ""
        return (
            f"The host '{host}' is not in STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST ({where}the worker's "
            "signed requests go only to hosts named there)."
        )
    if parts.scheme != "https":
        return "Use https."
    return None


def clean_config(kind: str, config: Any) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The configuration as the kind will use it, and per-setting error messages."""
    try:
        cls = kinds.get(kind)
    except KeyError:
        return {}, {}  # the kind's own error is reported on `kind`
    if config is None:
        config = {}
    if not isinstance(config, dict):
        return {}, {"config": ['Give an object of settings, e.g. {"region": "eu-west-1"}.']}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in config.items():
        key_text = str(key)
        if SECRET_KEY_WORDS.search(key_text) or (isinstance(value, str) and looks_like_secret(value)):
            errors.setdefault(key_text, []).append(NO_SECRETS)
            continue
        setting = cls.settings.get(key_text)
        if setting is None:
            known = ", ".join(sorted(cls.settings)) or "none"
            errors.setdefault(key_text, []).append(f"Unknown setting for {kind}; known: {known}.")
            continue
        if value is None or value == "":
            continue  # the default applies
        if setting.type is int and (isinstance(value, bool) or not isinstance(value, int)):
            errors.setdefault(key_text, []).append("Must be a whole number.")
            continue
        if setting.type is str and not isinstance(value, str):
            errors.setdefault(key_text, []).append("Must be text.")
            continue
        if setting.type is bool and not isinstance(value, bool):
            errors.setdefault(key_text, []).append("Must be true or false.")
            continue
        if key_text.endswith("_url") and (err := endpoint_error(value)):
            errors.setdefault(key_text, []).append(err)
            continue
        if setting.check and (err := setting.check(value)):
            errors.setdefault(key_text, []).append(err)
            continue
        cleaned[key_text] = value.strip() if isinstance(value, str) else value
    for key, setting in cls.settings.items():
        if setting.required and key not in cleaned and key not in errors:
            errors[key] = [f"Required for {kind}: {setting.help}"]
    return cleaned, errors


def endpoint_errors(config: dict[str, Any]) -> list[str]:
    """Checked again before each run: the allowlist may have shrunk since the config was saved."""
    return [
        f"{key}: {err}"
        for key, value in sorted(config.items())
        if key.endswith("_url") and value and (err := endpoint_error(value))
    ]
