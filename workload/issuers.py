"""Trusted issuers: ready-made templates, and their keys (a pasted JWKS or one read from `jwks_uri`).

Keys read from `jwks_uri` are cached on the issuer's row and in the process. An unknown `kid` (the
issuer rotated) refreshes them, at most once every `REFRESH_FLOOR` per issuer, so a stream of tokens
with made-up key ids cannot make Steward hammer the issuer; a document larger than `MAX_JWKS_BYTES`
or slower than `FETCH_TIMEOUT` is refused. Only https URLs are read, and http on loopback (a local
issuer or a test's): a JWKS over plain http could be swapped on the way.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from workload.models import IssuerTemplate, TrustedIssuer

CACHE_SECONDS = 15 * 60
REFRESH_FLOOR = 30.0
FETCH_TIMEOUT = 5.0
MAX_JWKS_BYTES = 256 * 1024
# Asymmetric algorithms only: never `none`, never HMAC (a shared secret is what this removes).
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]


@dataclass(frozen=True)
class Template:
    key: str
    label: str
    issuer: str  # a fixed issuer URL, or a pattern shown as a hint
    jwks_uri: str
    audience: str
    claims_hint: dict[str, str]
    help: str


TEMPLATES: dict[str, Template] = {
    IssuerTemplate.GITHUB_ACTIONS: Template(
        IssuerTemplate.GITHUB_ACTIONS,
        "GitHub Actions",
        "https://token.actions.githubusercontent.com",
        "https://token.actions.githubusercontent.com/.well-known/jwks",
        "steward",
        {"sub": "repo:acme/payments:environment:prod"},
        "A workflow with `permissions: id-token: write` asks for a token with "
        "`core.getIDToken('steward')`. Bind `sub` (repository and environment or ref) or "
        "`job_workflow_ref` (a reusable workflow at a pinned ref).",
    ),
    IssuerTemplate.GITLAB_CI: Template(
        IssuerTemplate.GITLAB_CI,
        "GitLab CI",
        "https://gitlab.com",
        "https://gitlab.com/oauth/discovery/keys",
        "steward",
        {"sub": "project_path:acme/payments:ref_type:branch:ref:main"},
        "A job declares `id_tokens: STEWARD_TOKEN: aud: steward`. For a self-managed GitLab, use its "
        "own URL as the issuer. Bind `sub`, or `project_path` with `ref_protected`.",
    ),
    IssuerTemplate.KUBERNETES: Template(
        IssuerTemplate.KUBERNETES,
        "Kubernetes service accounts",
        "https://kubernetes.default.svc.cluster.local",
        "",
        "steward",
        {"sub": "system:serviceaccount:payments:deployer"},
        "A pod mounts a projected service-account token with `audience: steward`. The issuer is the "
        "cluster's `--service-account-issuer`; its keys are at `/openid/v1/jwks` (or paste them).",
    ),
    IssuerTemplate.SPIFFE: Template(
        IssuerTemplate.SPIFFE,
        "SPIFFE trust domain (JWT-SVID)",
        "https://spire.example.org",
        "https://spire.example.org/keys",
        "steward",
        {"sub": "spiffe://example.org/ns/payments/sa/deployer"},
        "A workload fetches a JWT-SVID for audience `steward` from the Workload API. Give the "
        "OIDC discovery provider's issuer and keys, or paste the trust bundle's JWKS. Bind the SPIFFE "
        "ID (`sub`).",
    ),
    IssuerTemplate.CUSTOM: Template(
        IssuerTemplate.CUSTOM, "Other OIDC issuer", "", "", "steward", {"sub": "…"}, ""
    ),
}


class JwksError(ValueError):
    """The issuer's keys could not be read, or are not a key set."""


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_error(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return None
    return "Give an https URL (plain http only on loopback)."


def jwks_error(document: Any) -> str | None:
    """Why a pasted or fetched document is not a usable JWKS (public keys only), or None."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list) or not document["keys"]:
        return "A JSON Web Key Set is an object with a non-empty `keys` list."
    for key in document["keys"]:
        if not isinstance(key, dict) or key.get("kty") not in ("RSA", "EC", "OKP"):
            return "Every key needs `kty` RSA, EC or OKP (no symmetric keys)."
        if any(member in key for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
            return "The key set holds private key material: paste the public keys only."
    return None


def fetch(url: str) -> dict[str, Any]:
    problem = url_error(url)
    if problem:
        raise JwksError(problem)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - checked above
            data = response.read(MAX_JWKS_BYTES + 1)
    except (OSError, ValueError) as exc:
        raise JwksError(f"could not read {url}: {exc}") from None
    if len(data) > MAX_JWKS_BYTES:
        raise JwksError(f"{url} answered more than {MAX_JWKS_BYTES} bytes")
    try:
        document = json.loads(data)
    except ValueError:
        raise JwksError(f"{url} did not answer JSON") from None
    problem = jwks_error(document)
    if problem:
        raise JwksError(f"{url}: {problem}")
    return document


_keys: dict[int, tuple[float, dict[str, Any]]] = {}  # issuer pk -> (read at, jwks)
_last_refresh: dict[int, float] = {}
_lock = threading.Lock()


def clear_cache() -> None:
    with _lock:
        _keys.clear()
        _last_refresh.clear()


def _refresh(issuer: TrustedIssuer) -> dict[str, Any]:
    try:
        document = fetch(issuer.jwks_uri)
    except JwksError as exc:
        TrustedIssuer.objects.filter(pk=issuer.pk).update(jwks_error=str(exc)[:500])
        raise
    TrustedIssuer.objects.filter(pk=issuer.pk).update(
        jwks_cache=document, jwks_fetched_at=timezone.now(), jwks_error=""
    )
    return document


def key_set(issuer: TrustedIssuer, *, kid: str | None = None) -> dict[str, Any]:
    """The issuer's keys; refreshed from `jwks_uri` when stale or when `kid` is unknown (bounded)."""
    if issuer.jwks and not issuer.jwks_uri:
        return issuer.jwks
    now = time.monotonic()
    with _lock:
        cached = _keys.get(issuer.pk)
    document = cached[1] if cached and now - cached[0] < CACHE_SECONDS else None
    if document is None and issuer.jwks_cache and issuer.jwks_fetched_at:
        age = (timezone.now() - issuer.jwks_fetched_at).total_seconds()
        if age < CACHE_SECONDS:
            document = issuer.jwks_cache
    known = document is not None and (kid is None or any(k.get("kid") == kid for k in document["keys"]))
    if known:
        with _lock:
            _keys.setdefault(issuer.pk, (now, document))
        return document
    with _lock:
        too_soon = now - _last_refresh.get(issuer.pk, -REFRESH_FLOOR) < REFRESH_FLOOR
        if not too_soon:
            _last_refresh[issuer.pk] = now
    if too_soon:
        # The kid stays unknown: the signature check refuses it.
        if document is not None:
            return document
        if issuer.jwks_cache:
            return issuer.jwks_cache
        raise JwksError("the issuer's keys could not be read a moment ago; try again shortly")
    document = _refresh(issuer)
    with _lock:
        _keys[issuer.pk] = (now, document)
    return document
