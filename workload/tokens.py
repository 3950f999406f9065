"""The tokens Steward signs for machine callers, and reading them back.

- An **access token** (RFC 9068 shape, `typ: at+jwt`, ES256, at most 15 minutes) names one identity
  (`sub: identity:<id>`) and who is behind the call: `act` (RFC 8693 §4.1, nested: the nearest party
  first) and `chain`, the same parties as a list from intent to execution, e.g.
  `[person alice, identity 12 "claude-code"]` for an assistant acting for Alice, or
  `[identity 7 "planner", identity 9 "coder"]` for agent B spawned by agent A.
- A **delegation token** (`typ: steward-delegation+jwt`, 5 minutes) is what a signed-in person hands
  to an assistant: its `actor_token` in an exchange.

The key is in /.well-known/jwks.json (governance.signing). Each token has a row (`IssuedToken`) so it
can be revoked before it expires; verification reads the row and the identity's status in one query.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import connection
from django.utils import timezone

from governance import signing
from governance.prepared import server_bound_cursor
from workload.models import IssuedToken, TrustBinding

ACCESS = "access-token"
DELEGATION = "delegation"
ACCESS_SECONDS = 15 * 60
DELEGATION_SECONDS = 5 * 60
AUDIENCE = "steward"
EXCHANGE_AUDIENCE = "steward-token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"


def issuer_url() -> str:
    return settings.STEWARD_BASE_URL.rstrip("/")


class TokenInvalid(ValueError):
    """Not a Steward token of the expected kind, forged, expired, or revoked."""


# ---------------------------------------------------------------- the chain


def person_link(user) -> dict[str, Any]:
    return {
        "kind": "person",
        "sub": f"user:{user.get_username()}",
        "name": user.get_username(),
        "id": user.pk,
    }


def identity_link(identity_id: int, name: str) -> dict[str, Any]:
    return {"kind": "identity", "sub": f"identity:{identity_id}", "name": name, "id": identity_id}


def act_claim(chain: list[dict[str, Any]]) -> dict[str, Any] | None:
    """RFC 8693 `act`: the party acting for the subject, with its own `act` nested (nearest first).
    `chain` runs from intent to execution and ends with the subject itself."""
    act = None
    for link in chain[:-1]:
        act = {"sub": link["sub"], **({"act": act} if act else {})}
    return act


def describe(chain: list[dict[str, Any]]) -> str:
    """ "alice → claude-code → reviewer-bot": who intended, then who executed."""
    return " → ".join(link.get("name") or link.get("sub", "?") for link in chain)


# ---------------------------------------------------------------- signing


def _mint(
    purpose: str, claims: dict[str, Any], *, now: datetime, seconds: int, **row: Any
) -> tuple[str, IssuedToken]:
    """Sign `claims` as Steward's (`iss`), valid for `seconds` from `now` under a new `jti`, and write
    the token's row with those times and `row`'s fields (inside the caller's transaction)."""
    jti = uuid.uuid4().hex
    expires = now + timedelta(seconds=seconds)
    claims = {
        "iss": issuer_url(),
        **claims,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
    }
    value = signing.sign_jwt(purpose, claims)
    return value, IssuedToken.objects.create(jti=jti, issued_at=now, expires_at=expires, **row)


def mint_access(
    identity_id: int,
    identity_name: str,
    chain: list[dict[str, Any]],
    *,
    binding_id=None,
    parent: IssuedToken | None = None,
    subject_jti: str = "",
    lifetime: int = ACCESS_SECONDS,
    now: datetime | None = None,
) -> tuple[str, IssuedToken]:
    """Sign an access token and write its row (inside the caller's transaction)."""
    now = now or timezone.now()
    claims = {
        "aud": AUDIENCE,
        "sub": f"identity:{identity_id}",
        "client_id": f"identity:{identity_id}",
        "identity": identity_id,
        "identity_name": identity_name,
        "chain": chain,
        "nbf": int(now.timestamp()),
    }
    act = act_claim(chain)
    if act:
        claims["act"] = act
    return _mint(
        ACCESS,
        claims,
        now=now,
        seconds=min(lifetime, ACCESS_SECONDS),
        kind=IssuedToken.Kind.ACCESS,
        identity_id=identity_id,
        binding_id=binding_id,
        parent=parent,
        chain=chain,
        subject_jti=subject_jti[:200],
    )


def mint_delegation(
    user, *, identity_id: int | None = None, now: datetime | None = None
) -> tuple[str, IssuedToken]:
    claims = {"aud": EXCHANGE_AUDIENCE, "sub": f"user:{user.get_username()}", "user": user.pk}
    if identity_id is not None:
        claims["may_act_for"] = identity_id  # only this identity may exchange it
    return _mint(
        DELEGATION,
        claims,
        now=now or timezone.now(),
        seconds=DELEGATION_SECONDS,
        kind=IssuedToken.Kind.DELEGATION,
        user=user,
        identity_id=identity_id,
        chain=[person_link(user)],
    )


# ---------------------------------------------------------------- verifying

_jwks: dict[str, Any] = {"at": 0.0, "keys": {}}
_jwks_lock = threading.Lock()


def _verification_key(kid: str) -> jwt.PyJWK | None:
    """Steward's own public key by id, cached per process; an unknown id rereads the key folder
    (a rotation on another node), at most once a second."""
    with _jwks_lock:
        key = _jwks["keys"].get(kid)
        stale = time.monotonic() - _jwks["at"] > 1.0
    if key is not None:
        return key
    purpose = signing.purpose_of(kid)
    if purpose and signing.current_key_path(purpose).exists():
        current = signing.signing_key(purpose).public_jwk  # cached until its file changes
        if current["kid"] == kid:
            key = jwt.PyJWK(current)
            with _jwks_lock:
                _jwks["keys"][kid] = key
            return key
    if not stale:
        return None
    keys = {}
    for jwk in signing.public_keys(published_only=False):
        try:
            keys[jwk["kid"]] = jwt.PyJWK(jwk)
        except jwt.PyJWTError:
            continue
    with _jwks_lock:
        _jwks.update(at=time.monotonic(), keys=keys)
    return keys.get(kid)


def clear_cache() -> None:
    with _jwks_lock:
        _jwks.update(at=0.0, keys={})


def looks_like_jwt(value: str) -> bool:
    return value.startswith("eyJ") and value.count(".") == 2


def verify(value: str, purpose: str, audience: str) -> dict[str, Any]:
    """The claims of a Steward token of `purpose`, checked: signature, `typ`, `iss`, `aud`, `exp`.
    Revocation is the caller's (it needs the database). Raises TokenInvalid."""
    try:
        header = jwt.get_unverified_header(value)
    except jwt.PyJWTError:
        raise TokenInvalid("not a JWT") from None
    spec = signing.PURPOSES[purpose]
    kid = header.get("kid")
    if header.get("typ") != spec.typ or not isinstance(kid, str) or signing.purpose_of(kid) != purpose:
        raise TokenInvalid(f"not a Steward {purpose.replace('-', ' ')}")
    key = _verification_key(kid)
    if key is None:
        raise TokenInvalid("signed by a key Steward does not know")
    try:
        return jwt.decode(
            value,
            key.key,
            algorithms=[key.algorithm_name],
            audience=audience,
            issuer=issuer_url(),
            options={"require": ["exp", "iat", "jti", "sub"]},
            leeway=5,
        )
    except jwt.ExpiredSignatureError:
        raise TokenInvalid("the token has expired") from None
    except jwt.PyJWTError as exc:
        raise TokenInvalid(f"the token does not verify: {exc}") from None


@dataclass
class TokenState:
    """What the database says of an issued token: revoked?, and its identity's status."""

    revoked_at: datetime | None
    revoke_reason: str
    identity_status: str | None


_STATE_SQL: list[str] = []


def state_of(jti: str) -> TokenState | None:
    """One statement: the token's row joined to its identity's status. Hand-written (every call with
    an access token starts here; compiling the ORM's query cost more than running it)."""
    if not _STATE_SQL:
        from inventory.models import Identity

        qn = connection.ops.quote_name
        token, identity = IssuedToken._meta, Identity._meta
        binding = TrustBinding._meta
        # The binding's state too: a token minted while its binding was being revoked (the exchange
        # read it active an instant before) stops with the binding.
        _STATE_SQL.append(
            f"SELECT t.{qn('revoked_at')}, t.{qn('revoke_reason')}, i.{qn('status')}, b.{qn('state')} "
            f"FROM {qn(token.db_table)} t LEFT JOIN {qn(identity.db_table)} i "
            f"ON i.{qn('id')} = t.{qn(token.get_field('identity').column)} "
            f"LEFT JOIN {qn(binding.db_table)} b ON b.{qn('id')} = t.{qn(token.get_field('binding').column)} "
            f"WHERE t.{qn('jti')} = %s"
        )
    with server_bound_cursor() as cursor:
        cursor.execute(_STATE_SQL[0], [jti])
        row = cursor.fetchone()
    if row is None:
        return None
    revoked_at = row[0]
    if revoked_at is not None and not isinstance(revoked_at, datetime):  # SQLite answers text
        revoked_at = IssuedToken._meta.get_field("revoked_at").to_python(revoked_at)
    if revoked_at is None and row[3] is not None and row[3] != TrustBinding.State.ACTIVE:
        return TokenState(timezone.now(), f"its trust binding is {row[3]}", row[2])
    return TokenState(revoked_at, row[1], row[2])


@dataclass
class WorkloadCredential:
    """`request.auth` for a call made with a Steward access token."""

    claims: dict[str, Any]
    revoked_reason: str = ""
    chain: list[dict[str, Any]] = field(default_factory=list)

    is_machine_credential = True
    scope = "workload"

    @property
    def identity_id(self) -> int:
        return int(self.claims["identity"])

    @property
    def jti(self) -> str:
        return self.claims["jti"]

    @property
    def revoked(self) -> bool:
        return bool(self.revoked_reason)

    def actor(self, user):
        from governance.actors import Actor

        before = self.chain[:-1]
        return Actor(
            label=f"workload:{self.identity_id}:{self.claims.get('identity_name', '')}"[:150],
            kind="token",
            user=user,
            on_behalf_of=describe(before)[:150],
            identity_id=self.identity_id,
            chain=tuple(tuple(sorted(link.items())) for link in self.chain),
        )


def revoke_live(identity_ids, reason: str, *, now: datetime | None = None) -> list[str]:
    """Revoke every live access token of these identities (one statement); return their jtis."""
    now = now or timezone.now()
    live = IssuedToken.objects.filter(
        identity_id__in=list(identity_ids),
        kind=IssuedToken.Kind.ACCESS,
        revoked_at__isnull=True,
        expires_at__gt=now,
    )
    found = dict(live.values_list("pk", "jti"))
    # A sub-agent's token rests on its parent's: revoke the descendants too (one query a generation).
    frontier = set(found)
    while frontier:
        children = dict(
            IssuedToken.objects.filter(
                parent_id__in=frontier,
                kind=IssuedToken.Kind.ACCESS,
                revoked_at__isnull=True,
                expires_at__gt=now,
            )
            .exclude(pk__in=list(found))
            .values_list("pk", "jti")
        )
        found.update(children)
        frontier = set(children)
    if found:
        IssuedToken.objects.filter(pk__in=list(found)).update(revoked_at=now, revoke_reason=reason[:300])
    return list(found.values())
