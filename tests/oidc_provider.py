"""A real OpenID Connect provider on loopback for the SSO tests (the `oidc-provider-mock` package:
an authlib-based OIDC server speaking HTTP, with discovery, JWKS, RS256 ID tokens and a login page)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlparse

import requests
import werkzeug.serving

from tests.loopback import serving

ROLE_MAP = (
    "steward-iam=IAM approver,steward-security=Security admin,steward-auditors=Auditor,engineering=Tool owner"
)


@dataclass
class Provider:
    url: str

    def set_user(self, sub: str, **claims) -> None:
        """What the provider will say about `sub` (claims beyond the standard ones are always sent)."""
        response = requests.put(f"{self.url}/users/{sub}", json=claims, timeout=5)
        response.raise_for_status()

    def settings(self) -> dict[str, str]:
        return {
            "OIDC_RP_CLIENT_ID": "steward-test",
            "OIDC_RP_CLIENT_SECRET": "client-secret-for-tests",
            "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{self.url}/oauth2/authorize",
            "OIDC_OP_TOKEN_ENDPOINT": f"{self.url}/oauth2/token",
            "OIDC_OP_USER_ENDPOINT": f"{self.url}/userinfo",
            "OIDC_OP_JWKS_ENDPOINT": f"{self.url}/jwks",
            "OIDC_OP_ISSUER": self.url,
            "OIDC_RP_SIGN_ALGO": "RS256",
            "STEWARD_OIDC_ROLE_MAP": ROLE_MAP,
        }

    def approve(self, authorize_url: str, sub: str) -> str:
        """Submit the provider's sign-in form as `sub`; return where it sends the browser back."""
        response = requests.post(authorize_url, data={"sub": sub}, allow_redirects=False, timeout=5)
        assert response.status_code in (302, 303), response.text[:500]
        return response.headers["Location"]


@contextmanager
def running_provider() -> Iterator[Provider]:
    from oidc_provider_mock import app

    server = werkzeug.serving.make_server("127.0.0.1", 0, app(require_nonce=True), threaded=True)
    with serving(server, poll_interval=0.1) as url:
        yield Provider(url=url)


def path_and_query(url: str) -> str:
    parsed = urlparse(url)
    return f"{parsed.path}?{parsed.query}" if parsed.query else parsed.path
