"""Signed attestations: a short-lived JWT (ES256) saying "Steward allowed this, just in time".

A gateway verifies it offline with the public keys at `/.well-known/jwks.json`. The key is the
`attestation` key file under STEWARD_SIGNING_KEY_DIR (governance.signing), never a database row.
Keys rotate: the newest signs; a retired key stays published a day, long after every attestation it
signed (five minutes at most) has expired.

Keys that older releases kept encrypted in the database (SigningKey rows) no longer sign; migration
0015 erased their private halves, and their public halves stay published until `published_until`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.utils import timezone

from governance import signing
from governance.actors import system
from governance.decisions.models import SigningKey

if TYPE_CHECKING:
    from governance.decisions.questions import Answer
    from governance.policy.cedar import Subject

PURPOSE = "attestation"
ATTESTATION_SECONDS = 300
SIGNING_DAYS = 30
ALGORITHM = signing.ES256
TOKEN_TYPE = signing.PURPOSES[PURPOSE].typ


def rotate(actor, *, now: datetime | None = None, reason: str = "scheduled rotation") -> signing.SigningKey:
    """A new attestation key signs from now; the one before it stays published a day."""
    return signing.rotate_and_record(actor, PURPOSE, reason=reason, now=now)


def rotate_signing_keys_if_due(now: datetime | None = None) -> dict[str, Any]:
    """For the job registry: make sure an attestation key signs now, rotating one older than
    SIGNING_DAYS. A provisioned, read-only key folder is left alone (the operator rotates)."""
    now = now or timezone.now()
    key = signing.signing_key(PURPOSE)
    if key.created_at > now - timedelta(days=SIGNING_DAYS):
        return {"rotated": 0, "kid": key.kid}
    if not signing.folder_writable(signing.key_dir()):
        return {"rotated": 0, "kid": key.kid, "due": True, "note": "the key folder is read-only"}
    return {"rotated": 1, "kid": rotate(system("attestation"), now=now).kid}


def issue(answer: Answer, subject: Subject, now: datetime) -> str:
    """An attestation for an allow that rests on a live just-in-time grant."""
    expiry = now + timedelta(seconds=ATTESTATION_SECONDS)
    jit_expiries = [
        g.expires_at for g in subject.grants if g.jit and g.id in answer.verdict.grants and g.expires_at
    ]
    if jit_expiries:
        expiry = min(expiry, datetime.fromtimestamp(min(jit_expiries), tz=now.tzinfo))
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
    return signing.sign_jwt(PURPOSE, claims)


def published_keys(now: datetime | None = None) -> dict[str, list[dict[str, str]]]:
    """The JWKS document: every key file's public half still published (all purposes), then the
    public halves of keys older releases kept in the database, until they lapse."""
    now = now or timezone.now()
    legacy = SigningKey.objects.filter(published_until__gt=now).values_list("public_jwk", flat=True)
    return {"keys": signing.public_keys(now=now, ensure=True) + list(legacy)}


def verify(token: str, jwks: dict[str, Any]) -> dict[str, Any]:
    """What a gateway does offline (used by tests): pick the key by kid, check signature and time."""
    return signing.verify_jwt(token, jwks, PURPOSE, audience="steward-gateway")[1]
