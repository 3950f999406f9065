"""API tokens: authenticate (the hash is looked up), enforce expiry and scope. Issuing and revoking a
token, which makes and ends its inventory identity, is `inventory.tokens`."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from governance.people.models import ApiToken, User
from governance.prepared import server_bound_cursor

TOKEN_PREFIX = "stw_"


def hash_token(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _identity_model():
    """The inventory's Identity, through the token's foreign key: the people layer names no model of
    the inventory (issuing a token's identity is inventory.tokens' work)."""
    return ApiToken._meta.get_field("identity").related_model


def _token_statement() -> str:
    """SQL for one token: its columns, its user's, its identity's status and the user's role names.

    Hand-written once from the models' columns: every API request starts here, and compiling the
    equivalent select_related query cost more than running it (bench/README.md)."""
    from django.contrib.auth.models import Group

    Identity = _identity_model()
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
    with server_bound_cursor() as cursor:
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
                _identity_model().objects.filter(pk=token.identity_id).update(last_used_at=now)
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
