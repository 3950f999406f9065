"""API tokens: issue (value shown once, hash stored), authenticate, and enforce expiry."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from governance import audit
from governance.actors import as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import ApiToken, Role, User

TOKEN_PREFIX = "stw_"


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@transaction.atomic
def issue_token(
    actor, user: User, *, scope: str = "read", days: int = 90, name: str = ""
) -> tuple[ApiToken, str]:
    """Create a token for `user`; return the row and the only copy of the value.

    A `report` token reports usage for any identity (and does nothing else), so it is issued only to
    someone who holds IAM or Security, or by an IAM approver (`actor`) for a machine's user."""
    from inventory.models import Identity

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
    from django.core.exceptions import ValidationError

    from inventory import services as inventory

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
            inventory.decommission(actor, identity, reason=f"API token {token.key_prefix}… revoked: {reason}")
        for credential in identity.credentials.filter(revoked_at__isnull=False, revocation_confirmed_at=None):
            inventory.confirm_credential_revocation(
                actor,
                credential,
                note=f"Revoked in Steward, which holds the token's only record (its hash), at "
                f"{token.revoked_at:%Y-%m-%d %H:%M} UTC.",
            )
    return token


def _token_statement() -> str:
    """SQL for one token: its columns, its user's, its identity's status and the user's role names.

    Hand-written once from the models' columns: every API request starts here, and compiling the
    equivalent select_related query cost more than running it (bench/README.md)."""
    from django.contrib.auth.models import Group

    from inventory.models import Identity

    qn = connection.ops.quote_name
    token_cols = ", ".join(f"t.{qn(f.column)}" for f in ApiToken._meta.concrete_fields)
    user_cols = ", ".join(f"u.{qn(f.column)}" for f in User._meta.concrete_fields)
    membership = User.groups.through._meta
    return (
        f"SELECT {token_cols}, {user_cols}, i.{qn('status')}, "
        f"ARRAY(SELECT g.{qn('name')} FROM {qn(Group._meta.db_table)} g "
        f"JOIN {qn(membership.db_table)} m ON m.{qn('group_id')} = g.{qn('id')} "
        f"WHERE m.{qn('user_id')} = u.{qn('id')}) "
        f"FROM {qn(ApiToken._meta.db_table)} t "
        f"JOIN {qn(User._meta.db_table)} u ON u.{qn('id')} = t.{qn('user_id')} "
        f"LEFT JOIN {qn(Identity._meta.db_table)} i ON i.{qn('id')} = t.{qn('identity_id')} "
        f"WHERE t.{qn('token_hash')} = %s"
    )


_TOKEN_SQL: list[str] = []


def _token_with_roles(token_hash: str) -> ApiToken | None:
    """The token with its user (and the user's roles) and its identity's status, in one query.

    On PostgreSQL one prepared-once statement; elsewhere the ORM (the roles then cost a query when
    first asked). `token.identity_status` is None for a token that governs no identity."""
    if connection.vendor != "postgresql":
        token = ApiToken.objects.select_related("user", "identity").filter(token_hash=token_hash).first()
        if token is not None:
            token.identity_status = token.identity.status if token.identity is not None else None
        return token
    if not _TOKEN_SQL:
        _TOKEN_SQL.append(_token_statement())
    with connection.cursor() as cursor:
        cursor.execute(_TOKEN_SQL[0], [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    token_fields = [f.attname for f in ApiToken._meta.concrete_fields]
    user_fields = [f.attname for f in User._meta.concrete_fields]
    n, m = len(token_fields), len(user_fields)
    token = ApiToken.from_db(connection.alias, token_fields, row[:n])
    user = User.from_db(connection.alias, user_fields, row[n : n + m])
    # What User.roles (a cached_property) would read; an inactive user holds none.
    user.__dict__["roles"] = frozenset(row[n + m + 1]) if user.is_active else frozenset()
    token.user = user
    token.identity_status = row[n + m]
    return token


SCIM_ONLY = "This token has scope 'scim': it works only for SCIM provisioning (/scim/v2/), not here."


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"
    # A SCIM token provisions people at /scim/v2/ and does nothing else: refused here, for every API
    # view whatever its permission classes (TokenScopePermission refuses it too). The SCIM view
    # authenticates with a subclass that accepts it.
    refused_scopes: tuple[str, ...] = (ApiToken.Scope.SCIM,)

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(
                _("Invalid Authorization header: expected 'Bearer <token>'.")
            )
        try:
            value = header[1].decode("ascii")
        except UnicodeError:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        token = _token_with_roles(hash_token(value))
        now = timezone.now()
        if token is None or token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed(_("Token expired."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The token's user is inactive."))
        # The token is governed as an identity: suspending or decommissioning it stops it.
        if token.identity_status in ("suspended", "decommissioned"):
            raise exceptions.AuthenticationFailed(
                _("The token's identity is %(status)s in the inventory.") % {"status": token.identity_status}
            )
        if token.scope in self.refused_scopes:
            raise exceptions.PermissionDenied(SCIM_ONLY)
        # Record last use at most once a minute: a conditional update, not a write per request.
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
            if token.identity_id:
                from inventory.models import Identity

                Identity.objects.filter(pk=token.identity_id).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Describes the bearer token in the OpenAPI schema (and silences drf-spectacular's warning)."""

    target_class = BearerTokenAuthentication
    name = "bearerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A Steward API token (`stw_...`), issued with `manage.py issue_api_token`.",
        }
