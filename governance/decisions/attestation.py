"""Signed attestations: a short-lived JWT (ES256) saying "Steward allowed this, just in time".

A gateway verifies it offline with the public keys at `/.well-known/jwks.json`. Keys rotate: the
newest key signs; older keys stay published until every attestation they could have signed has
expired. Private keys are stored encrypted with a key derived from SECRET_KEY (AES-GCM).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance import audit
from governance.actors import as_actor, system
from governance.decisions.models import SigningKey

if TYPE_CHECKING:
    from governance.decisions.service import Answer
    from governance.policy.cedar import Subject

ATTESTATION_SECONDS = 300
SIGNING_DAYS = 30
ALGORITHM = "ES256"
TOKEN_TYPE = "steward-attestation+jwt"
_current: dict[str, Any] = {}
_lock = threading.Lock()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _wrapping_key() -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"steward attestation signing keys"
    ).derive(settings.SECRET_KEY.encode("utf-8"))


def _seal(pem: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + AESGCM(_wrapping_key()).encrypt(nonce, pem, b"steward-signing-key")


def _open(blob: bytes) -> bytes:
    blob = bytes(blob)
    return AESGCM(_wrapping_key()).decrypt(blob[:12], blob[12:], b"steward-signing-key")


def _public_jwk(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    numbers = public_key.public_numbers()
    jwk = {
        "crv": "P-256",
        "kty": "EC",
        "x": _b64(numbers.x.to_bytes(32, "big")),
        "y": _b64(numbers.y.to_bytes(32, "big")),
    }
    # RFC 7638 thumbprint as the key id.
    thumbprint = _b64(
        hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()).digest()
    )
    return {**jwk, "kid": thumbprint, "use": "sig", "alg": ALGORITHM}


@transaction.atomic
def rotate(actor, *, now: datetime | None = None, reason: str = "scheduled rotation") -> SigningKey:
    """Create a new signing key; the keys before it stop signing now but stay published a while."""
    actor = as_actor(actor)
    now = now or timezone.now()
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    jwk = _public_jwk(private.public_key())
    signs_until = now + timedelta(days=SIGNING_DAYS)
    retired = SigningKey.objects.select_for_update().filter(signs_until__gt=now)
    retired_kids = list(retired.values_list("kid", flat=True))
    # Anything they signed expires within ATTESTATION_SECONDS; keep them published a day to be kind
    # to caches.
    retired.update(signs_until=now, published_until=now + timedelta(days=1))
    key = SigningKey.objects.create(
        kid=jwk["kid"],
        public_jwk=jwk,
        private_key_encrypted=_seal(pem),
        created_at=now,
        signs_until=signs_until,
        published_until=signs_until + timedelta(days=1),
    )
    audit.record(
        actor,
        "attestation_key.rotated",
        key,
        after={"kid": key.kid, "signs_until": signs_until.isoformat(), "retired": retired_kids},
        reason=reason,
    )
    with _lock:
        _current.clear()
    return key


def rotate_signing_keys_if_due(now: datetime | None = None) -> dict[str, int]:
    """For the job registry: make sure a key signs now, rotating when the current one is due."""
    now = now or timezone.now()
    if SigningKey.objects.filter(signs_until__gt=now + timedelta(days=1)).exists():
        return {"rotated": 0}
    rotate(system("attestation"), now=now)
    return {"rotated": 1}


def _signing_key(now: datetime) -> tuple[str, ec.EllipticCurvePrivateKey]:
    with _lock:
        if _current and _current["signs_until"] > now:
            return _current["kid"], _current["key"]
    key = SigningKey.objects.filter(signs_until__gt=now).order_by("-created_at", "-pk").first()
    if key is None:
        key = rotate(system("attestation"), now=now, reason="first use")
    private = serialization.load_pem_private_key(_open(key.private_key_encrypted), password=None)
    with _lock:
        _current.update(kid=key.kid, key=private, signs_until=key.signs_until)
    return key.kid, private


def issue(answer: Answer, subject: Subject, now: datetime) -> str:
    """An attestation for an allow that rests on a live just-in-time grant."""
    expiry = now + timedelta(seconds=ATTESTATION_SECONDS)
    jit_expiries = [
        g.expires_at for g in subject.grants if g.jit and g.id in answer.verdict.grants and g.expires_at
    ]
    if jit_expiries:
        expiry = min(expiry, datetime.fromtimestamp(min(jit_expiries), tz=now.tzinfo))
    kid, key = _signing_key(now)
    claims = {
        "iss": settings.STEWARD_BASE_URL,
        "sub": f"identity:{answer.identity_id}",
        "aud": "steward-gateway",
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int(expiry.timestamp()),
        "jti": str(uuid.uuid4()),
        "decision": answer.verdict.decision,
        "action": answer.ask.action,
        "resource": {"kind": answer.ask.resource_kind, "name": answer.ask.resource_name},
        "environment": answer.ask.environment,
        "task_ref": answer.ask.task_ref,
        "grants": answer.verdict.grants,
        "policy_version": answer.verdict.policy_version,
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": TOKEN_TYPE})


def published_keys(now: datetime | None = None) -> dict[str, list[dict[str, str]]]:
    """The JWKS document: every key still published, newest first. Creates the first key if none."""
    now = now or timezone.now()
    keys = list(SigningKey.objects.filter(published_until__gt=now).values_list("public_jwk", flat=True))
    if not keys:
        keys = [rotate(system("attestation"), now=now, reason="first use").public_jwk]
    return {"keys": keys}


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """What a gateway does offline (used by tests): pick the key by kid, check signature and time."""
    kid = jwt.get_unverified_header(token)["kid"]
    jwk = next(k for k in jwks["keys"] if k["kid"] == kid)
    public = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(jwk))
    return jwt.decode(token, public, algorithms=[ALGORITHM], audience="steward-gateway")
