"""Trusted issuers: ready-made templates, and their keys (a pasted JWKS or one read from `jwks_uri`).

Keys read from `jwks_uri` are cached on the issuer's row and in the process. An unknown `kid` (the
issuer rotated) refreshes them, at most once every `REFRESH_FLOOR` per issuer, so a stream of tokens
with made-up key ids cannot make Steward hammer the issuer; a document larger than `MAX_JWKS_BYTES`
or slower than `FETCH_TIMEOUT` is refused. Only https URLs are read, and http on loopback (a local
issuer or a test's): a JWKS over plain http could be swapped on the way.
"""

from __future__ import annotations

import http.client
import ipaddress
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from governance import safe_json
from workload.models import IssuerTemplate, TrustedIssuer

CACHE_SECONDS = 15 * 60
MAX_STALE = 24 * 3600  # keys read this long ago still verify while the issuer cannot be reached
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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A JWKS is read from the URL two people approved, not from wherever it redirects."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} refused", headers, fp)


_opener = urllib.request.build_opener(_NoRedirects)


def fetch(url: str) -> dict[str, Any]:
    problem = url_error(url)
    if problem:
        raise JwksError(problem)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with _opener.open(request, timeout=FETCH_TIMEOUT) as response:
            data = response.read(MAX_JWKS_BYTES + 1)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        raise JwksError(f"could not read {url}: {exc}") from None
    if len(data) > MAX_JWKS_BYTES:
        raise JwksError(f"{url} answered more than {MAX_JWKS_BYTES} bytes")
    try:
        document = safe_json.loads(data)
    except ValueError:
        raise JwksError(f"{url} did not answer JSON (or answered it nested too deep)") from None
    problem = jwks_error(document)
    if problem:
        raise JwksError(f"{url}: {problem}")
    return document


_keys: dict[int, tuple[float, dict[str, Any]]] = {}  # issuer pk -> (read at, monotonic; jwks)
_last_refresh: dict[int, float] = {}
_lock = threading.Lock()
_fetching: dict[int, threading.Lock] = {}


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


def _cached(issuer: TrustedIssuer, now: float, max_age: float) -> dict[str, Any] | None:
    """This process's copy, else the row's, when younger than `max_age` seconds (each by its own
    read time: a copy from the row keeps the row's age)."""
    with _lock:
        cached = _keys.get(issuer.pk)
    if cached and now - cached[0] < max_age:
        return cached[1]
    if issuer.jwks_cache and issuer.jwks_fetched_at:
        age = (timezone.now() - issuer.jwks_fetched_at).total_seconds()
        if age < max_age:
            with _lock:
                _keys[issuer.pk] = (now - age, issuer.jwks_cache)
            return issuer.jwks_cache
    return None


def _knows(document: dict[str, Any] | None, kid: str | None) -> bool:
    return document is not None and (kid is None or any(k.get("kid") == kid for k in document["keys"]))


def key_set(issuer: TrustedIssuer, *, kid: str | None = None) -> dict[str, Any]:
    """The issuer's keys; refreshed from `jwks_uri` when stale or when `kid` is unknown (bounded).

    Concurrent requests in one process wait for one read instead of each failing; while the issuer
    cannot be read, keys read within `MAX_STALE` still verify (never older: a withdrawn key must stop)."""
    if issuer.jwks and not issuer.jwks_uri:
        return issuer.jwks
    document = _cached(issuer, time.monotonic(), CACHE_SECONDS)
    if _knows(document, kid):
        return document
    with _lock:
        fetching = _fetching.setdefault(issuer.pk, threading.Lock())
    with fetching:
        now = time.monotonic()
        document = _cached(issuer, now, CACHE_SECONDS)
        if _knows(document, kid):
            return document  # another request read them while this one waited
        with _lock:
            too_soon = now - _last_refresh.get(issuer.pk, -REFRESH_FLOOR) < REFRESH_FLOOR
            if not too_soon:
                _last_refresh[issuer.pk] = now
        if not too_soon:
            try:
                document = _refresh(issuer)
            except JwksError:
                stale = _cached(issuer, now, MAX_STALE)
                if stale is None:
                    raise
                return stale
            with _lock:
                _keys[issuer.pk] = (now, document)
            return document
        # The kid stays unknown (the signature check refuses it), or the last read failed a moment ago.
        stale = document or _cached(issuer, now, MAX_STALE)
        if stale is None:
            raise JwksError("the issuer's keys could not be read a moment ago; try again shortly")
        return stale
