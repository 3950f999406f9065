"""API tokens as identities: issuing a token registers its identity and credential in the inventory
(value shown once, only its hash stored); revoking it decommissions that identity. Authentication
is governance.people.tokens."""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance import audit
from governance.actors import as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import ApiToken, Role, User
from governance.people.tokens import TOKEN_PREFIX, hash_token
from inventory import services, snapshots
from inventory.models import Identity


@transaction.atomic
def issue_token(
    actor, user: User, *, scope: str = "read", days: int = 90, name: str = ""
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the only copy of the value.

    A `report` token reports usage for any identity (and does nothing else), so it is issued only to
    someone who holds IAM or Security, or by an IAM approver (`actor`) for a machine's user."""
    if scope not in ApiToken.Scope.values:
        raise ValueError(f"scope must be one of {', '.join(ApiToken.Scope.values)}")
    if scope == ApiToken.Scope.REPORT:
        issuer = as_actor(actor).user
        by_iam = (
            issuer is not None and issuer.is_active and issuer.has_role(Role.IAM) and not issuer.is_auditor
        )
        held_by_governor = user.has_role(Role.IAM, Role.SECURITY) and not user.is_auditor
        if not (by_iam or held_by_governor):
            raise ValueError(
                f"a 'report' token reports usage for every identity: {user.username} must hold IAM or "
                "Security, or an IAM approver must issue it (--issued-by)"
            )
    if days < 1 or days > 366:
        raise ValueError("days must be between 1 and 366")
    if not user.is_active:
        raise ValueError("cannot issue a token to an inactive user")
    value = TOKEN_PREFIX + secrets.token_urlsafe(32)
    prefix = value[:12]
    expires_at = timezone.now() + timedelta(days=days)
    label = name or f"API token {prefix}"
    identity = Identity.objects.create(
        name=f"{label} ({user.username})"[:200],
        kind=Identity.Kind.API_KEY,
        vendor="Steward",
        product="Steward API",
        purpose=f"Steward API token with {scope} scope for {user.username}.",
        owner=user,
        team=user.team,
        environments=["prod"],
        status=Identity.Status.ACTIVE,
        risk_tier=Identity.RiskTier.MEDIUM if scope in ("write", "report") else Identity.RiskTier.LOW,
        source="steward",
        external_id=prefix,
    )
    token = ApiToken.objects.create(
        user=user,
        identity=identity,
        name=label,
        key_prefix=prefix,
        token_hash=hash_token(value),
        scope=scope,
        expires_at=expires_at,
    )
    identity.credentials.create(
        kind="static_key",
        label=prefix,
        storage="held by the caller",
        issued_at=timezone.now(),
        expires_at=expires_at,
    )
    audit.record(
        as_actor(actor),
        "identity.created",
        identity,
        after={**snapshots.snapshot(identity), "credentials": [{"kind": "static_key", "label": prefix}]},
        reason=f"Identity of the Steward API token {prefix}… issued to {user.username}.",
    )
    audit.record(
        as_actor(actor),
        "api_token.issued",
        token,
        after={
            "user": user.username,
            "scope": scope,
            "expires_at": expires_at.isoformat(),
            "identity": identity.pk,
        },
    )
    return token, value


@transaction.atomic
def revoke_token(actor, token: ApiToken, reason: str) -> ApiToken:
    """Revoke a token (its owner or Security). Its inventory identity is decommissioned and the
    credential's revocation confirmed at once: Steward holds the only record of the token (its hash),
    so revoking it here is the revocation."""
    actor = as_actor(actor)
    token = (
        ApiToken.objects.select_for_update(of=("self",)).select_related("user", "identity").get(pk=token.pk)
    )
    if not actor.is_system:
        user = actor.user
        if user is None or not (user.pk == token.user_id or user.has_role(Role.SECURITY)):
            raise NotAllowed("Only the token's owner or a Security admin may revoke it.")
    if token.revoked_at is not None:
        raise IllegalTransition(f"Token {token.key_prefix}… was already revoked.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason; it is kept in the audit log."})
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    audit.record(
        actor,
        "api_token.revoked",
        token,
        before={"revoked_at": None},
        after={"revoked_at": token.revoked_at.isoformat(), "identity": token.identity_id},
        reason=reason,
    )
    identity = token.identity
    if identity is not None:
        if identity.status != identity.Status.DECOMMISSIONED:
            services.decommission(actor, identity, reason=f"API token {token.key_prefix}… revoked: {reason}")
        for credential in identity.credentials.filter(revoked_at__isnull=False, revocation_confirmed_at=None):
            services.confirm_credential_revocation(
                actor,
                credential,
                note=f"Revoked in Steward, which holds the token's only record (its hash), at "
                f"{token.revoked_at:%Y-%m-%d %H:%M} UTC.",
            )
    return token
