"""OAuth 2.0 Token Exchange (RFC 8693) at `POST /api/v1/token/`: a workload's own signed JWT in,
a Steward access token out.

The subject token is checked in this order, each refusal an OAuth error (RFC 6749 §5.2) and an audit
event, never a 500: its form; a trusted (approved) issuer for its `iss`; the signature, with an
asymmetric algorithm, by a key of that issuer (an unknown `kid` rereads the issuer's keys, bounded);
`aud`; `exp`, `nbf` and `iat` within `LEEWAY`, and a lifetime of at most `MAX_SUBJECT_LIFETIME`; one
active trust binding whose claims it carries exactly (two identities matching is a refusal, not a
choice); the identity active; its `jti` (or, without one, its hash) not seen before while it lives.

`actor_token` makes delegation explicit: a person's delegation token (from
`POST /api/v1/token/delegation/`) — "this assistant acts for Alice" — or a parent agent's Steward
access token — "agent B was spawned by agent A". An identity provider's ID token is not an actor
token: a person delegates through Steward, signed in, where the delegation is recorded.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from django.db import connection, transaction
from django.utils import timezone

from governance import audit
from governance.actors import system
from inventory.models import Identity
from workload import drift, issuers, tokens
from workload.models import IssuedToken, SeenSubjectToken, TrustBinding, TrustedIssuer

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
SUBJECT_TYPES = (tokens.JWT_TOKEN_TYPE, "urn:ietf:params:oauth:token-type:id_token")
ACTOR_TYPES = (tokens.JWT_TOKEN_TYPE, tokens.ACCESS_TOKEN_TYPE)
LEEWAY = 60  # seconds of clock skew allowed on exp, nbf and iat
MAX_SUBJECT_LIFETIME = timedelta(hours=24)
MAX_CHAIN = 6  # a person and five agents deep is already a pipeline to look at
MAX_TOKEN_BYTES = 16 * 1024
LAST_EXCHANGE_EVERY = timedelta(minutes=1)


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _grant(description: str) -> OAuthError:
    return OAuthError("invalid_grant", description)


def _request(description: str) -> OAuthError:
    return OAuthError("invalid_request", description)


@dataclass
class Exchanged:
    access_token: str
    expires_in: int
    row: IssuedToken

    def body(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "issued_token_type": tokens.ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }


# ---------------------------------------------------------------- the subject token


def _unverified(value: str) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        header = jwt.get_unverified_header(value)
        claims = jwt.decode(value, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _request("subject_token is not a signed JWT.") from None
    if not isinstance(claims, dict):
        raise _request("subject_token is not a signed JWT.")
    if _has_nul(header) or _has_nul(claims):
        # Inside the base64 the request-level NUL guard never sees it; PostgreSQL text refuses it.
        raise _request("subject_token carries a NUL character.")
    return header, claims


def _has_nul(value: Any, depth: int = 0) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if depth > 8:
        return False
    if isinstance(value, dict):
        return any(_has_nul(k, depth + 1) or _has_nul(v, depth + 1) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v, depth + 1) for v in value)
    return False


_issuers: dict[str, tuple[float, TrustedIssuer | None]] = {}
ISSUER_CACHE_SECONDS = 10.0


def clear_cache() -> None:
    _issuers.clear()


def _trusted_issuer(iss: Any) -> TrustedIssuer:
    """The approved issuer for `iss`, kept 10 s per process (an approval or retirement is seen within
    that; retiring also revokes every binding at once, and bindings are read fresh every time)."""
    if not isinstance(iss, str) or not iss:
        raise _grant("The subject token has no `iss`.")
    now = time.monotonic()
    cached = _issuers.get(iss)
    if cached is not None and now - cached[0] < ISSUER_CACHE_SECONDS:
        issuer = cached[1]
    else:
        issuer = TrustedIssuer.objects.filter(issuer=iss, state=TrustedIssuer.State.ACTIVE).first()
        if len(_issuers) > 1000:
            _issuers.clear()
        _issuers[iss] = (now, issuer)
    if issuer is None:
        raise _grant(f"The issuer {iss[:200]!r} is not trusted here (or its approval is pending).")
    return issuer


def _verified(value: str, header: dict[str, Any], issuer: TrustedIssuer, now: datetime) -> dict[str, Any]:
    alg = header.get("alg")
    if alg not in issuers.ALGORITHMS:
        raise _grant(f"The subject token's algorithm {alg!r} is not accepted (asymmetric signatures only).")
    kid = header.get("kid")
    try:
        document = issuers.key_set(issuer, kid=kid if isinstance(kid, str) else None)
    except issuers.JwksError as exc:
        raise OAuthError(
            "temporarily_unavailable", f"The issuer's keys could not be read: {exc}", 503
        ) from None
    candidates = [k for k in document["keys"] if not kid or k.get("kid") == kid]
    if not candidates:
        raise _grant(f"The subject token is signed by a key ({kid}) its issuer does not publish.")
    claims = None
    for jwk in candidates:
        try:
            key = jwt.PyJWK(jwk, algorithm=alg)
            claims = jwt.decode(
                value,
                key.key,
                algorithms=[alg],
                audience=issuer.audience,
                issuer=issuer.issuer,
                options={
                    "require": ["exp", "iat", "sub"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
            break
        except jwt.InvalidAudienceError:
            raise _grant(f"The subject token's audience is not {issuer.audience!r}.") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _grant(f"The subject token has no `{exc.claim}`.") from None
        except (jwt.InvalidSignatureError, jwt.exceptions.InvalidKeyError, jwt.PyJWKError, jwt.DecodeError):
            continue
        except jwt.PyJWTError as exc:
            raise _grant(f"The subject token is not valid: {exc}.") from None
    if claims is None:
        raise _grant("The subject token's signature does not verify with its issuer's keys.")
    _check_times(claims, now)
    return claims


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _grant(f"The subject token's `{name}` is not a number.")
    return float(value)


def _check_times(claims: dict[str, Any], now: datetime) -> None:
    ts = now.timestamp()
    exp, iat, nbf = _number(claims, "exp"), _number(claims, "iat"), _number(claims, "nbf")
    if exp is not None and exp <= ts - LEEWAY:
        raise _grant("The subject token has expired.")
    if nbf is not None and nbf > ts + LEEWAY:
        raise _grant("The subject token is not valid yet (nbf).")
    if iat is not None and iat > ts + LEEWAY:
        raise _grant("The subject token was issued in the future (iat); check the clocks.")
    if exp is not None and iat is not None and exp - iat > MAX_SUBJECT_LIFETIME.total_seconds():
        raise _grant("The subject token lives longer than 24 hours; ask the issuer for a short-lived one.")


def _matches(binding_claims: dict[str, Any], claims: dict[str, Any]) -> bool:
    return all(isinstance(v, str) and claims.get(k) == v for k, v in binding_claims.items())


@dataclass(frozen=True)
class Bound:
    binding_id: int
    identity_id: int
    identity_name: str
    identity_status: str
    last_exchange_at: datetime | None


def _binding(issuer: TrustedIssuer, claims: dict[str, Any]) -> Bound:
    """The one identity whose active binding this token's claims satisfy (one query, plain values)."""
    rows = TrustBinding.objects.filter(issuer=issuer, state=TrustBinding.State.ACTIVE).values_list(
        "pk", "claims", "identity_id", "identity__name", "identity__status", "last_exchange_at"
    )
    matching = [row for row in rows if row[1] and _matches(row[1], claims)]
    if not matching:
        raise _grant(f"No trust binding matches this token (sub {str(claims.get('sub'))[:200]!r}).")
    if len({row[2] for row in matching}) > 1:
        raise _grant("The token matches bindings of more than one identity; IAM must make them exact.")
    # The most specific binding (most claims) is the one named.
    pk, _claims, identity_id, name, status, last = max(matching, key=lambda row: (len(row[1]), row[0]))
    return Bound(pk, identity_id, name, status, last)


def _replay_key(value: str, claims: dict[str, Any]) -> str:
    """The token's `jti`; without one (a JWT-SVID), the hash of what was signed — header and payload,
    never the signature, which can be re-encoded (an ECDSA `s` and `n - s` both verify)."""
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        return jti[:200]
    signed = value.rsplit(".", 1)[0]
    return "sha256:" + hashlib.sha256(signed.encode()).hexdigest()


def _mark_seen(issuer: TrustedIssuer, key: str, claims: dict[str, Any], now: datetime) -> None:
    """Record the token as used, in one statement: a row already there is a replay. (INSERT ... ON
    CONFLICT DO NOTHING, the same on PostgreSQL and SQLite: no savepoint round trips.)"""
    exp = datetime.fromtimestamp(float(claims["exp"]), UTC) + timedelta(seconds=LEEWAY)
    meta = SeenSubjectToken._meta
    qn = connection.ops.quote_name
    columns = [meta.get_field(f).column for f in ("issuer", "jti", "expires_at")]
    params = [issuer.pk, key, connection.ops.adapt_datetimefield_value(max(exp, now))]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(c) for c in columns)}) VALUES (%s, %s, %s) "
            f"ON CONFLICT ({qn(columns[0])}, {qn(columns[1])}) DO NOTHING",
            params,
        )
        inserted = cursor.rowcount
    if inserted != 1:
        raise _grant("This subject token was already exchanged (replay); ask the issuer for a new one.")


# ---------------------------------------------------------------- the actor token


def _actor_chain(
    value: str, token_type: str, identity_id: int
) -> tuple[list[dict[str, Any]], IssuedToken | None]:
    if token_type not in ACTOR_TYPES:
        raise _request(f"actor_token_type must be one of {', '.join(ACTOR_TYPES)}.")
    try:
        header = jwt.get_unverified_header(value)
    except jwt.PyJWTError:
        raise _request("actor_token is not a signed JWT.") from None
    typ = header.get("typ")
    if typ == tokens.signing.PURPOSES[tokens.DELEGATION].typ:
        return _delegation_chain(value, identity_id), None
    if typ == tokens.signing.PURPOSES[tokens.ACCESS].typ:
        return _parent_chain(value, identity_id)
    raise _grant(
        "actor_token is neither a Steward delegation token nor a Steward access token. An identity "
        "provider's ID token is not an actor token: the person gets a delegation token from "
        "POST /api/v1/token/delegation/ while signed in."
    )


def _live_row(jti: str, kind: str) -> IssuedToken:
    row = IssuedToken.objects.filter(jti=jti, kind=kind).select_related("user", "identity").first()
    if row is None or row.revoked_at is not None:
        raise _grant("actor_token was revoked or is unknown.")
    return row


def _delegation_chain(value: str, identity_id: int) -> list[dict[str, Any]]:
    try:
        claims = tokens.verify(value, tokens.DELEGATION, tokens.EXCHANGE_AUDIENCE)
    except tokens.TokenInvalid as exc:
        raise _grant(f"actor_token: {exc}.") from None
    row = _live_row(claims["jti"], IssuedToken.Kind.DELEGATION)
    user = row.user
    if user is None or not user.is_active:
        raise _grant("actor_token: the delegating person's account is not active.")
    bound_to = claims.get("may_act_for") or row.identity_id
    if bound_to not in (None, identity_id):
        raise _grant("actor_token delegates to another identity, not this one.")
    if bound_to is None:
        # A delegation named no identity: the first one to use it is the only one that may.
        claimed = IssuedToken.objects.filter(pk=row.pk, identity__isnull=True).update(identity_id=identity_id)
        if (
            not claimed
            and IssuedToken.objects.filter(pk=row.pk).values_list("identity_id", flat=True).first()
            != identity_id
        ):
            raise _grant("actor_token was already used by another identity.")
    return [tokens.person_link(user)]


def _parent_chain(value: str, identity_id: int) -> tuple[list[dict[str, Any]], IssuedToken]:
    try:
        claims = tokens.verify(value, tokens.ACCESS, tokens.AUDIENCE)
    except tokens.TokenInvalid as exc:
        raise _grant(f"actor_token: {exc}.") from None
    row = _live_row(claims["jti"], IssuedToken.Kind.ACCESS)
    if row.identity is None or row.identity.status != Identity.Status.ACTIVE:
        raise _grant("actor_token: the parent agent's identity is not active.")
    if row.identity_id == identity_id:
        raise _grant("actor_token is this identity's own token: an agent does not spawn itself.")
    chain = list(row.chain or [])
    if any(link.get("kind") == "identity" and link.get("id") == identity_id for link in chain):
        raise _grant("actor_token: this identity is already in the chain (a loop).")
    return chain, row


# ---------------------------------------------------------------- the exchange


def _refuse(error: OAuthError, *, issuer: str = "", sub: str = "") -> None:
    """Audit a refusal (its own transaction: the refusal stands whatever else happens)."""
    with transaction.atomic():
        audit.record(
            system("token_exchange"),
            "workload.exchange_refused",
            ("workload.trustedissuer", issuer[:64] or "-", issuer[:255]),
            after={"error": error.error, "issuer": issuer[:500], "sub": sub[:300]},
            reason=error.description[:1000],
        )


def exchange(data, *, now: datetime | None = None) -> Exchanged:
    """Run one exchange from the request's form fields. Raises OAuthError (already audited)."""
    now = now or timezone.now()
    iss = sub = ""
    try:
        fields = _fields(data)
        header, unverified = _unverified(fields["subject_token"])
        iss, sub = str(unverified.get("iss") or "")[:500], str(unverified.get("sub") or "")[:300]
        issuer = _trusted_issuer(unverified.get("iss"))
        claims = _verified(fields["subject_token"], header, issuer, now)
        bound = _binding(issuer, claims)
        if bound.identity_status != Identity.Status.ACTIVE:
            raise _grant(f"The identity {bound.identity_name} is {bound.identity_status}: no tokens for it.")
        drifting = drift.open_drift_finding(bound.identity_id)
        if drifting:
            raise _grant(
                f"The identity {bound.identity_name} has an open {drifting[1].replace('_', ' ')} finding "
                f"(#{drifting[0]}): no new tokens until it is resolved or excepted."
            )
        chain: list[dict[str, Any]] = []
        parent = None
        if fields.get("actor_token"):
            chain, parent = _actor_chain(
                fields["actor_token"], fields.get("actor_token_type", ""), bound.identity_id
            )
        chain = [*chain, tokens.identity_link(bound.identity_id, bound.identity_name)]
        if len(chain) > MAX_CHAIN:
            raise _grant(f"The delegation chain would be {len(chain)} deep; at most {MAX_CHAIN}.")
        key = _replay_key(fields["subject_token"], claims)
        with transaction.atomic():
            _mark_seen(issuer, key, claims, now)
            value, row = tokens.mint_access(
                bound.identity_id,
                bound.identity_name,
                chain,
                binding_id=bound.binding_id,
                parent=parent,
                subject_jti=key,
                now=now,
            )
            if bound.last_exchange_at is None or now - bound.last_exchange_at > LAST_EXCHANGE_EVERY:
                TrustBinding.objects.filter(pk=bound.binding_id).update(last_exchange_at=now)
            audit.record(
                system("token_exchange"),
                "workload.token_exchanged",
                ("inventory.identity", bound.identity_id, bound.identity_name),
                after={
                    "issuer": issuer.issuer,
                    "sub": str(claims.get("sub"))[:300],
                    "binding": bound.binding_id,
                    "jti": row.jti,
                    "expires_at": row.expires_at.isoformat(),
                    "chain": tokens.describe(chain),
                },
            )
        return Exchanged(value, int((row.expires_at - now).total_seconds()), row)
    except OAuthError as error:
        _refuse(error, issuer=iss, sub=sub)
        raise


def _fields(data) -> dict[str, str]:
    def one(name: str) -> str:
        value = data.get(name, "") if hasattr(data, "get") else ""
        if isinstance(value, list):
            raise _request(f"{name} is given more than once.")
        if not isinstance(value, str):
            raise _request(f"{name} must be a string.")
        if len(value) > MAX_TOKEN_BYTES:
            raise _request(f"{name} is longer than {MAX_TOKEN_BYTES} bytes.")
        return value.strip()

    fields = {
        name: one(name)
        for name in (
            "grant_type",
            "subject_token",
            "subject_token_type",
            "actor_token",
            "actor_token_type",
            "requested_token_type",
        )
    }
    if fields["grant_type"] != GRANT_TYPE:
        raise OAuthError("unsupported_grant_type", f"grant_type must be {GRANT_TYPE}.")
    if not fields["subject_token"]:
        raise _request("subject_token is required.")
    if fields["subject_token_type"] not in SUBJECT_TYPES:
        raise _request(f"subject_token_type must be {tokens.JWT_TOKEN_TYPE}.")
    if fields["actor_token"] and not fields["actor_token_type"]:
        raise _request("actor_token_type is required with actor_token.")
    if fields["actor_token_type"] and not fields["actor_token"]:
        raise _request("actor_token_type was given without actor_token.")
    if fields["requested_token_type"] not in ("", tokens.ACCESS_TOKEN_TYPE, tokens.JWT_TOKEN_TYPE):
        raise _request(f"requested_token_type may only be {tokens.ACCESS_TOKEN_TYPE}.")
    return fields
