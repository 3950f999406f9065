"""Signing keys: one per purpose, read from files under STEWARD_SIGNING_KEY_DIR, never from the database.

The point of a signature here is that someone who can write to the database cannot produce one, so
the private keys live outside it. The folder holds::

    <dir>/attestation.pem          the key that signs now, one file per purpose (PKCS#8 PEM,
    <dir>/audit-checkpoint.pem     Ed25519 -> EdDSA or P-256 -> ES256; anything else is refused)
    <dir>/evidence.pem
    <dir>/retired/<kid>.pem        public halves of keys retired by rotation: still published in
                                   /.well-known/jwks.json so what they signed can still be verified

A missing key is generated on first use, only when the folder is writable (production mounts a
provisioned folder read-only; README). Rotation (`manage.py rotate_signing_key PURPOSE`) writes a new
key and keeps the old public half under `retired/`. A key's id is `<purpose>-<RFC 7638 thumbprint>`,
so a verifier accepts a key only for the purpose it was made for: the attestation key on the web
nodes cannot sign an evidence manifest.

This module needs no database: `verify_evidence --jwks` runs it on a machine without one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.conf import settings
from django.utils import timezone

EDDSA = "EdDSA"
ES256 = "ES256"
RETIRED = "retired"


@dataclass(frozen=True)
class Purpose:
    name: str
    typ: str  # the JWS `typ` header: a token of one purpose is never taken for another's
    algorithm: str  # for keys generated here; a provisioned key's own type decides its algorithm
    # How long a retired key stays in the JWKS; None: for good (what it signed is kept for years).
    published_after_retirement: timedelta | None


PURPOSES: dict[str, Purpose] = {
    # Attestations live five minutes; gateways already verify ES256, so that stays.
    "attestation": Purpose("attestation", "steward-attestation+jwt", ES256, timedelta(days=1)),
    "audit-checkpoint": Purpose("audit-checkpoint", "steward-audit-checkpoint+jwt", EDDSA, None),
    "evidence": Purpose("evidence", "steward-evidence-manifest+jose", EDDSA, None),
    # Workload identity (issue 21). Access tokens live 15 minutes, delegation tokens 5: a retired key
    # stays published a day. A Security Event Token may be checked later by a receiver: a week.
    "access-token": Purpose("access-token", "at+jwt", ES256, timedelta(days=1)),
    "delegation": Purpose("delegation", "steward-delegation+jwt", ES256, timedelta(days=1)),
    "security-event": Purpose("security-event", "secevent+jwt", ES256, timedelta(days=7)),
}


class SigningKeyError(RuntimeError):
    """A key is missing and cannot be made here, or a key file is not one Steward can use."""


class SignatureInvalid(ValueError):
    """A signature does not verify: forged, altered, or signed by a key not published for that use."""


@dataclass(frozen=True)
class SigningKey:
    purpose: str
    kid: str
    algorithm: str
    private_key: Any
    public_jwk: dict[str, str]
    created_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def key_dir() -> Path:
    return Path(settings.STEWARD_SIGNING_KEY_DIR)


def purpose(name: str) -> Purpose:
    try:
        return PURPOSES[name]
    except KeyError:
        raise SigningKeyError(f"unknown signing purpose {name!r}; known: {', '.join(PURPOSES)}") from None


def _public_members(public_key) -> tuple[dict[str, str], str]:
    """The JWK members RFC 7638 hashes for the thumbprint, and the key's JWS algorithm."""
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": _b64(raw)}, EDDSA
    if isinstance(public_key, ec.EllipticCurvePublicKey) and isinstance(public_key.curve, ec.SECP256R1):
        numbers = public_key.public_numbers()
        members = {
            "crv": "P-256",
            "kty": "EC",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }
        return members, ES256
    raise SigningKeyError("signing keys must be Ed25519 or EC P-256")


def public_jwk(purpose_name: str, public_key) -> dict[str, str]:
    members, algorithm = _public_members(public_key)
    thumbprint = _b64(
        hashlib.sha256(json.dumps(members, separators=(",", ":"), sort_keys=True).encode()).digest()
    )
    return {**members, "kid": f"{purpose_name}-{thumbprint}", "use": "sig", "alg": algorithm}


def _generate(algorithm: str):
    if algorithm == EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _private_pem(private_key) -> bytes:
    return private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_new(path: Path, data: bytes, *, replace: bool, mtime: float | None = None) -> bool:
    """Write a key file readable by its owner only. Without `replace`, never overwrite: of two
    processes creating the same key at once, one wins (a hard link is atomic) and both use its key."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".new-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)


_cache: dict[Path, tuple[tuple[int, int, int], SigningKey]] = {}
_lock = threading.Lock()


def _load(path: Path, purpose_name: str) -> SigningKey:
    """The key in `path`, cached until the file changes (a rotation elsewhere is seen at once)."""
    stat = path.stat()
    signature = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    with _lock:
        cached = _cache.get(path)
        if cached and cached[0] == signature:
            return cached[1]
    try:
        private_key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{path} is not an unencrypted PKCS#8 PEM private key: {exc}") from None
    jwk = public_jwk(purpose_name, private_key.public_key())
    key = SigningKey(
        purpose=purpose_name,
        kid=jwk["kid"],
        algorithm=jwk["alg"],
        private_key=private_key,
        public_jwk=jwk,
        created_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
    )
    with _lock:
        _cache[path] = (signature, key)
    return key


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def current_key_path(purpose_name: str) -> Path:
    return key_dir() / f"{purpose(purpose_name).name}.pem"


def folder_writable(folder: Path) -> bool:
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return os.access(probe, os.W_OK | os.X_OK)


def signing_key(purpose_name: str) -> SigningKey:
    """The key that signs for `purpose_name` now; made on first use when the folder is writable."""
    spec = purpose(purpose_name)
    path = current_key_path(spec.name)
    if not path.exists():
        if not folder_writable(path.parent):
            raise SigningKeyError(
                f"no {spec.name} signing key at {path}, and {path.parent} is not writable: provision one "
                f"(README, 'Signing keys') or run `python manage.py rotate_signing_key {spec.name}` "
                "where the folder is writable"
            )
        _write_new(path, _private_pem(_generate(spec.algorithm)), replace=False)
    return _load(path, spec.name)


def rotate(purpose_name: str, *, now: datetime | None = None) -> tuple[SigningKey, str | None]:
    """A new key signs from now on; the old key's public half moves to `retired/` and stays published.

    Returns the new key and the retired key's id (None when there was no key before)."""
    spec = purpose(purpose_name)
    now = now or timezone.now()
    path = current_key_path(spec.name)
    retired_kid = None
    if path.exists():
        old = _load(path, spec.name)
        public_pem = old.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        # The retired file's time is its retirement time: attestation keys leave the JWKS a day later.
        _write_new(key_dir() / RETIRED / f"{old.kid}.pem", public_pem, replace=True, mtime=now.timestamp())
        retired_kid = old.kid
    _write_new(path, _private_pem(_generate(spec.algorithm)), replace=True, mtime=now.timestamp())
    return _load(path, spec.name), retired_kid


def _retired_keys() -> list[tuple[dict[str, str], datetime]]:
    """(public JWK, retired at) for every retired key, newest first. Files named by their key id."""
    folder = key_dir() / RETIRED
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.pem"):
        purpose_name = purpose_of(path.stem)
        if not purpose_name:
            continue
        data = path.read_bytes()
        try:
            if b"PRIVATE KEY" in data:
                public_key = serialization.load_pem_private_key(data, password=None).public_key()
            else:
                public_key = serialization.load_pem_public_key(data)
            jwk = public_jwk(purpose_name, public_key)
        except (ValueError, TypeError, SigningKeyError):
            continue  # not a key Steward made; ignore rather than break the JWKS
        found.append((jwk, datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)))
    return sorted(found, key=lambda item: item[1], reverse=True)


def public_keys(
    *, now: datetime | None = None, published_only: bool = True, ensure: bool = False
) -> list[dict[str, str]]:
    """Every public key from the folder: the current key of each purpose, then retired ones.

    `published_only` drops retired keys past their purpose's publication window (only attestation
    keys have one); verification inside Steward passes False and sees every key it ever had.
    `ensure` (the JWKS endpoint) first makes any missing key it may make, so the set a verifier pins
    holds every purpose's key before anything is signed."""
    now = now or timezone.now()
    keys = []
    for spec in PURPOSES.values():
        path = current_key_path(spec.name)
        if ensure and not path.exists():
            try:
                signing_key(spec.name)
            except SigningKeyError:
                continue  # a read-only folder without this key: nothing to publish for it
        if path.exists():
            keys.append(_load(path, spec.name).public_jwk)
    for jwk, retired_at in _retired_keys():
        spec = PURPOSES[purpose_of(jwk["kid"])]
        window = spec.published_after_retirement
        if published_only and window is not None and retired_at + window <= now:
            continue
        keys.append(jwk)
    return keys


def key_files_since(purpose_name: str) -> datetime | None:
    """When the oldest key of a purpose (current or retired) was written: signing began no later."""
    spec = purpose(purpose_name)
    times = []
    path = current_key_path(spec.name)
    if path.exists():
        times.append(datetime.fromtimestamp(path.stat().st_mtime, tz=UTC))
    folder = key_dir() / RETIRED
    if folder.is_dir():
        times += [
            datetime.fromtimestamp(p.stat().st_mtime, tz=UTC) for p in folder.glob(f"{spec.name}-*.pem")
        ]
    return min(times) if times else None


def purpose_of(kid: str) -> str:
    for name in PURPOSES:
        if kid.startswith(name + "-"):
            return name
    return ""


# ---------------------------------------------------------------- signing


def sign_jwt(purpose_name: str, claims: dict[str, Any]) -> str:
    key = signing_key(purpose_name)
    return jwt.encode(
        claims,
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": PURPOSES[purpose_name].typ},
    )


def sign_detached(purpose_name: str, payload: bytes) -> str:
    """A JWS in compact serialization with a detached payload (RFC 7515, appendix F): the signature is
    over BASE64URL(header) '.' BASE64URL(payload), and the payload part is left empty."""
    key = signing_key(purpose_name)
    full = jwt.api_jws.encode(
        payload,
        key.private_key,
        algorithm=key.algorithm,
        headers={"kid": key.kid, "typ": PURPOSES[purpose_name].typ},
    )
    header, _payload, signature = full.split(".")
    return f"{header}..{signature}"


# ---------------------------------------------------------------- verifying


def local_jwks() -> dict[str, list[dict[str, str]]]:
    """Every public key in the folder, retired ones included (for verification inside Steward)."""
    return {"keys": public_keys(published_only=False)}


def load_jwks(source: str, *, timeout: float = 10.0) -> dict[str, list[dict[str, Any]]]:
    """A JWKS from a file or an http(s) URL (e.g. https://steward.example/.well-known/jwks.json)."""
    if source.startswith(("https://", "http://")):
        import urllib.request

        with urllib.request.urlopen(source, timeout=timeout) as response:  # noqa: S310 - the operator's URL
            data = response.read(1 << 20)
    else:
        data = Path(source).read_bytes()
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise SigningKeyError(f"{source} is not a JSON Web Key Set: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise SigningKeyError(f"{source} is not a JSON Web Key Set (no 'keys' list)")
    return document


def _key_for(header: dict[str, Any], jwks: dict[str, Any], purpose_name: str) -> jwt.PyJWK:
    spec = purpose(purpose_name)
    if header.get("typ") != spec.typ:
        raise SignatureInvalid(f"the JWS header's typ is {header.get('typ')!r}, not {spec.typ!r}")
    kid = header.get("kid")
    if not isinstance(kid, str) or purpose_of(kid) != spec.name:
        raise SignatureInvalid(f"the signing key {kid!r} is not a Steward {spec.name} key")
    jwk = next((k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") == kid), None)
    if jwk is None:
        raise SignatureInvalid(f"the signing key {kid} is not in the key set")
    try:
        key = jwt.PyJWK(jwk)
    except jwt.PyJWTError as exc:
        raise SignatureInvalid(f"the key {kid} in the key set is unusable: {exc}") from None
    if header.get("alg") not in (EDDSA, ES256) or header.get("alg") != key.algorithm_name:
        raise SignatureInvalid(f"the JWS algorithm {header.get('alg')!r} does not match the key {kid}")
    return key


def _header(token: str) -> dict[str, Any]:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise SignatureInvalid(f"not a JWS: {exc}") from None
    return header


def verify_detached(token: str, payload: bytes, jwks: dict[str, Any], purpose_name: str) -> dict[str, Any]:
    """Check a detached-payload JWS over `payload`; return its header. Raises SignatureInvalid."""
    parts = token.strip().split(".")
    if len(parts) != 3 or parts[1] != "":
        raise SignatureInvalid("not a compact JWS with a detached payload (header..signature)")
    header = _header(token.strip())
    key = _key_for(header, jwks, purpose_name)
    attached = f"{parts[0]}.{_b64(payload)}.{parts[2]}"
    try:
        jwt.api_jws.decode_complete(attached, key.key, algorithms=[key.algorithm_name])
    except jwt.PyJWTError as exc:
        raise SignatureInvalid(f"the signature does not verify: {exc}") from None
    return header


def verify_jwt(token: str, jwks: dict[str, Any], purpose_name: str, **options) -> tuple[dict, dict]:
    """Check a signed JWT of `purpose_name`; return (header, claims). Raises SignatureInvalid."""
    header = _header(token)
    key = _key_for(header, jwks, purpose_name)
    try:
        claims = jwt.decode(token, key.key, algorithms=[key.algorithm_name], **options)
    except jwt.PyJWTError as exc:
        raise SignatureInvalid(f"the signature does not verify: {exc}") from None
    return header, claims


def rotate_and_record(actor, purpose_name: str, *, reason: str, now: datetime | None = None) -> SigningKey:
    """Rotate a purpose's key and write the audit event (the only function here that needs the
    database; verification never calls it)."""
    from django.db import transaction

    from governance import audit
    from governance.actors import as_actor

    now = now or timezone.now()
    key, retired = rotate(purpose_name, now=now)
    with transaction.atomic():
        audit.record(
            as_actor(actor),
            "signing_key.rotated",
            ("signing_key", key.kid[:64], f"{purpose_name} key {key.kid}"[:255]),
            after={"purpose": purpose_name, "kid": key.kid, "retired": [retired] if retired else []},
            reason=reason,
        )
    return key
