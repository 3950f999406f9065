"""Loopback servers for workload identity tests: an OIDC issuer that signs tokens in the shapes GitHub
Actions, Kubernetes and SPIFFE (JWT-SVID) issue, serving its JWKS; and a Security Event Token
receiver (RFC 8935) that records what it is pushed.

Claims follow each issuer's documentation:
- GitHub Actions: https://docs.github.com/actions/security-for-github-actions/security-hardening-your-deployments/about-security-hardening-with-openid-connect
  (RS256, `kid` and `x5t` headers; jti, sub, aud, ref, sha, repository, repository_owner, …,
  iss, nbf, exp, iat);
- Kubernetes projected service-account tokens (RS256; `aud` a list; `kubernetes.io` namespace, pod,
  serviceaccount; sub `system:serviceaccount:<ns>:<name>`; jti since 1.29);
- SPIFFE JWT-SVID (https://github.com/spiffe/spiffe/blob/main/standards/JWT-SVID.md): sub the SPIFFE ID,
  aud, exp required, iat optional, no jti; ES256.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


class _Key:
    def __init__(self, kind: str):
        self.kind = kind
        self.kid = uuid.uuid4().hex[:16]
        if kind == "RSA":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
            jwk = json.loads(RSAAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
            jwk = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        self.public_jwk = {**jwk, "kid": self.kid, "use": "sig", "alg": self.alg}


class _Server:
    def __init__(self, handler_cls):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.stopped = False

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        if self.stopped:
            return
        self.stopped = True
        self.httpd.shutdown()
        self.httpd.server_close()


class _IssuerHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        issuer: TestIssuer = self.server.owner
        if self.path == "/.well-known/openid-configuration":
            body = {
                "issuer": issuer.url,
                "jwks_uri": issuer.jwks_uri,
                "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            }
        elif self.path == "/jwks":
            issuer.jwks_fetches += 1
            body = {"keys": [k.public_jwk for k in issuer.published]}
        else:
            self.send_response(404)
            self.end_headers()
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class TestIssuer(_Server):
    """An OIDC issuer on loopback. `published` keys are in its JWKS; `signing` signs."""

    __test__ = False

    def __init__(self, kind: str = "RSA"):
        super().__init__(_IssuerHandler)
        self.signing = _Key(kind)
        self.published = [self.signing]
        self.jwks_fetches = 0

    @property
    def jwks_uri(self) -> str:
        return f"{self.url}/jwks"

    def rotate(self, *, keep_old: bool = True) -> None:
        new = _Key(self.signing.kind)
        self.published = ([*self.published] if keep_old else []) + [new]
        self.signing = new

    def sign(self, claims: dict[str, Any], *, key: _Key | None = None, headers: dict | None = None) -> str:
        key = key or self.signing
        head = {"kid": key.kid, "typ": "JWT", **(headers or {})}
        return jwt.encode(claims, key.private, algorithm=key.alg, headers=head)

    def _times(self, now: float | None, lifetime: int) -> dict[str, int]:
        now = int(now if now is not None else time.time())
        return {"iat": now, "nbf": now, "exp": now + lifetime}

    def github(
        self,
        *,
        repository: str = "acme/payments",
        environment: str = "prod",
        ref: str = "refs/heads/main",
        aud: str = "steward",
        now: float | None = None,
        lifetime: int = 300,
        **extra,
    ) -> str:
        owner = repository.split("/")[0]
        workflow_ref = f"{repository}/.github/workflows/deploy.yml@{ref}"
        claims = {
            "jti": str(uuid.uuid4()),
            "sub": f"repo:{repository}:environment:{environment}",
            "environment": environment,
            "aud": aud,
            "ref": ref,
            "sha": "example-sha-0123456789abcdef0123456789abcdef",
            "repository": repository,
            "repository_owner": owner,
            "actor_id": "12",
            "repository_visibility": "private",
            "repository_id": "74",
            "repository_owner_id": "65",
            "run_id": "example-run-id",
            "run_number": "10",
            "run_attempt": "2",
            "runner_environment": "github-hosted",
            "actor": "octocat",
            "workflow": "deploy",
            "head_ref": "",
            "base_ref": "",
            "event_name": "push",
            "ref_type": "branch",
            "job_workflow_ref": workflow_ref,
            "workflow_ref": workflow_ref,
            "iss": self.url,
            **self._times(now, lifetime),
            **extra,
        }
        return self.sign(claims, headers={"x5t": "example-thumbprint"})

    def kubernetes(
        self,
        *,
        namespace: str = "payments",
        service_account: str = "deployer",
        aud: str = "steward",
        now: float | None = None,
        lifetime: int = 3600,
        **extra,
    ) -> str:
        claims = {
            "aud": [aud],
            "iss": self.url,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "node": {"name": "node-1", "uid": str(uuid.uuid4())},
                "pod": {"name": f"{service_account}-7d9f", "uid": str(uuid.uuid4())},
                "serviceaccount": {"name": service_account, "uid": str(uuid.uuid4())},
            },
            "sub": f"system:serviceaccount:{namespace}:{service_account}",
            **self._times(now, lifetime),
            **extra,
        }
        return self.sign(claims)

    def spiffe(
        self,
        *,
        spiffe_id: str = "spiffe://example.org/ns/payments/sa/deployer",
        aud: str = "steward",
        now: float | None = None,
        lifetime: int = 300,
        **extra,
    ) -> str:
        times = self._times(now, lifetime)
        claims = {
            "sub": spiffe_id,
            "aud": [aud],
            "exp": times["exp"],
            "iat": times["iat"],
            "iss": self.url,
            **extra,
        }
        return self.sign(claims)


class _ReceiverHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        receiver: SetReceiverServer = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        with receiver.lock:
            receiver.requests.append({"content_type": self.headers.get("Content-Type"), "body": body})
            fail = receiver.fail_next > 0
            if fail:
                receiver.fail_next -= 1
        if fail:
            data = json.dumps({"err": "invalid_request", "description": "try again"}).encode()
            self.send_response(400)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


class SetReceiverServer(_Server):
    """Records every pushed SET; answers 202 (or 400 for the next `fail_next` pushes)."""

    __test__ = False

    def __init__(self):
        super().__init__(_ReceiverHandler)
        self.requests: list[dict[str, str]] = []
        self.fail_next = 0
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"{self.url}/events"
