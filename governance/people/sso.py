"""Who a single sign-on login is: the identity provider's `(issuer, sub)`, never a name.

A person signed in by SSO is bound once to the provider's subject (`SsoBinding`); every later login
finds them by that pair. A first login with no binding:
- adopts the account SCIM created for this person when the ID token's match claim
  (`STEWARD_OIDC_SCIM_MATCH_CLAIM`, default `sub`; `oid` for Entra ID) equals its SCIM `externalId`;
- otherwise creates a new user, but only when no local account has that username or e-mail: an IdP
  account that merely shares a name with a local one (a superuser's included) is refused, and an
  administrator links the two deliberately (`manage.py link_sso_account` or the admin).
Superusers never sign in through SSO. Roles come from the groups claim through the role map, except
for people SCIM manages (SCIM Groups alone set theirs). Every bind, refusal and link is audited.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from governance import audit
from governance.actors import as_actor, system
from governance.errors import NotAllowed
from governance.people.models import Role, SsoBinding, User
from governance.people.services import deactivate_user, set_roles

logger = logging.getLogger(__name__)

SSO_ACTOR = system("sso")
DEPROVISIONED = "The identity provider reports the account disabled (SSO deprovisioning)."
FALSE_WORDS = {"false", "0", "no", "disabled", "inactive", "suspended", "deprovisioned"}


class SsoRefused(Exception):
    """A sign-in Steward refuses, with what the person reads and what an administrator does."""

    def __init__(self, code: str, message: str, remedy: str = "", status: int = 403):
        super().__init__(message)
        self.code, self.message, self.remedy, self.status = code, message, remedy, status


@dataclass(frozen=True)
class Login:
    user: User
    issuer: str
    subject: str


def role_map() -> dict[str, str]:
    """Parse STEWARD_OIDC_ROLE_MAP ("idp-group=Role name,...") into {idp group: Steward role}.

    The group may be any string without ',' or '=': a group name, an Entra group object id or an
    app role value."""
    from django.core.exceptions import ImproperlyConfigured

    raw = getattr(settings, "STEWARD_OIDC_ROLE_MAP", "") or ""
    mapping: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        group, sep, role = item.partition("=")
        group, role = group.strip(), role.strip()
        if not sep or not group or role not in Role.values:
            raise ImproperlyConfigured(
                f"STEWARD_OIDC_ROLE_MAP entry '{item.strip()}' must be 'idp-group=Role' with Role one of: "
                f"{', '.join(Role.values)}."
            )
        mapping[group] = role
    return mapping


def roles_from_groups(groups) -> set[str]:
    mapping = role_map()
    return {mapping[g] for g in groups if isinstance(g, str) and g in mapping}


def groups_claim() -> str:
    return settings.STEWARD_OIDC_GROUPS_CLAIM


def roles_from_claims(claims: dict[str, Any]) -> set[str]:
    """The roles the claims grant. Raises SsoRefused when the role map is in use and the groups claim
    is missing: an absent claim means "the provider was not asked", never "no roles"."""
    name = groups_claim()
    if name not in claims:
        logger.warning(
            "SSO login refused: the ID token and userinfo carry no '%s' claim (scopes asked: %s)",
            name,
            settings.OIDC_RP_SCOPES,
        )
        raise SsoRefused(
            "groups_claim_missing",
            _(
                "The identity provider sent no '%(claim)s' claim, so Steward cannot tell which roles you "
                "hold. Nothing was changed."
            )
            % {"claim": name},
            _(
                "An administrator configures the provider to release the '%(claim)s' claim to Steward, or "
                "adds the scope that carries it to OIDC_RP_SCOPES (often 'groups'; Entra ID app roles "
                "arrive as 'roles' with STEWARD_OIDC_GROUPS_CLAIM=roles). Scopes asked now: %(scopes)s."
            )
            % {"claim": name, "scopes": settings.OIDC_RP_SCOPES},
        )
    groups = claims[name] or []
    if isinstance(groups, str):
        groups = [groups]
    return roles_from_groups(groups)


def disabled_by_provider(claims: dict[str, Any]) -> bool:
    """True when the provider's active claim says no. A missing claim says nothing."""
    name = getattr(settings, "STEWARD_OIDC_ACTIVE_CLAIM", "")
    if not name or name not in claims:
        return False
    value = claims[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value == 0
    return str(value).strip().lower() in FALSE_WORDS


def username_from(claims: dict[str, Any]) -> str:
    return str(claims.get("preferred_username") or claims.get("email") or "").strip()[:150]


def _profile(claims: dict[str, Any]) -> dict[str, str]:
    name = claims.get("name") or " ".join(
        part for part in (claims.get("given_name"), claims.get("family_name")) if part
    )
    return {"email": str(claims.get("email") or "")[:254], "display_name": str(name or "")[:200]}


def recheck(user: User, claims: dict[str, Any]) -> None:
    """Apply what the provider says now about a signed-in person (roles, disabled); SsoRefused ends
    the session."""
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    disabled = False
    try:
        with transaction.atomic():
            binding = SsoBinding.objects.select_for_update().filter(issuer=issuer, subject=subject).first()
            if binding is None or binding.user_id != user.pk:
                raise _Deferred(
                    "binding_changed", _("Your single sign-on identity is no longer linked to this account.")
                )
            bound = _usable(User.objects.select_for_update().get(pk=user.pk), claims)
            if disabled_by_provider(claims):
                disabled = True
                deactivate_user(SSO_ACTOR, bound, reason=DEPROVISIONED)
            else:
                _apply_claims(bound, claims)
    except _Deferred as deferred:
        _refuse(deferred.code, deferred.message, deferred.remedy, user=user, issuer=issuer, subject=subject)
    if disabled:
        raise SsoRefused("disabled_at_provider", _("The identity provider reports this account disabled."))


def _link_command(username: str, issuer: str, subject: str) -> str:
    return f"python manage.py link_sso_account {username} --issuer {issuer} --sub {subject}"


def _refuse(code: str, message: str, remedy: str, *, user: User | None, issuer: str, subject: str):
    """Audit the refusal (in its own transaction, so it survives the failed login) and raise."""
    logger.warning("SSO login refused (%s) for sub %s from %s", code, subject, issuer)
    with transaction.atomic():
        audit.record(
            SSO_ACTOR,
            "user.sso_login_refused",
            user if user is not None else ("sso.subject", subject[:64], f"{subject} @ {issuer}"[:255]),
            after={"issuer": issuer, "sub": subject, "refusal": code},
            reason=message,
        )
    raise SsoRefused(code, message, remedy)


def sign_in(claims: dict[str, Any], *, create: bool = True) -> Login:
    """The user the verified claims sign in as, bound, updated and with their roles; or SsoRefused.

    `claims` are the ID token's (which carry `iss` and `sub`) merged with userinfo's."""
    issuer, subject = str(claims.get("iss") or ""), str(claims.get("sub") or "")
    if not issuer or not subject:
        raise SsoRefused("no_subject", _("The identity provider's answer named no issuer or subject."))
    disabled = False
    try:
        with transaction.atomic():
            user = _bound_user(claims, issuer, subject, create=create)
            if disabled_by_provider(claims):
                # The provider's word: deprovision now (committed), then refuse the login.
                disabled = True
                deactivate_user(SSO_ACTOR, user, reason=DEPROVISIONED)
            else:
                _apply_claims(user, claims)
                SsoBinding.objects.filter(user=user).update(last_login_at=timezone.now())
    except _Deferred as deferred:
        # Written after the attempt rolled back, so the refusal's audit event survives.
        _refuse(
            deferred.code,
            deferred.message,
            deferred.remedy,
            user=deferred.user,
            issuer=issuer,
            subject=subject,
        )
    if disabled:
        _refuse(
            "disabled_at_provider",
            _("The identity provider reports this account disabled; Steward has deactivated it."),
            "",
            user=user,
            issuer=issuer,
            subject=subject,
        )
    return Login(user=user, issuer=issuer, subject=subject)


class _Deferred(Exception):
    def __init__(self, code, message, remedy="", user=None):
        super().__init__(message)
        self.code, self.message, self.remedy, self.user = code, message, remedy, user


def _bound_user(claims: dict[str, Any], issuer: str, subject: str, *, create: bool) -> User:
    binding = (
        SsoBinding.objects.select_for_update(of=("self",))
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
    )
    binding = binding.first()
    if binding is not None:
        return _usable(binding.user, claims)
    user = _scim_user_for(claims)
    if user is not None:
        user = _usable(user, claims)
        _bind(SSO_ACTOR, user, issuer, subject, how="first SSO login of a SCIM-provisioned person")
        return user
    username, email = username_from(claims), _profile(claims)["email"]
    if not username:
        raise _Deferred("no_username", _("The identity provider sent no preferred_username or email."))
    clash = Q(username__iexact=username) | (Q(email__iexact=email) if email else Q(pk__in=[]))
    existing = User.objects.filter(clash).order_by("pk").first()
    if existing is not None:
        raise _Deferred(
            "local_account_exists",
            _(
                "A Steward account with the username or e-mail this identity provider sent already exists, "
                "and it is not linked to your single sign-on identity. Steward never signs you in as an "
                "existing account by name alone."
            ),
            _(
                "If this is the same person, a Steward administrator links the accounts: "
                "%(command)s (or adds an SSO binding in the admin). Administrators' accounts never sign "
                "in through SSO."
            )
            % {"command": _link_command(existing.username, issuer, subject)},
            user=existing,
        )
    if disabled_by_provider(claims):
        logger.info("SSO login refused: the identity provider reports %s disabled", username)
        raise _Deferred("disabled_at_provider", _("The identity provider reports this account disabled."))
    if not create:
        raise _Deferred(
            "no_account",
            _("There is no Steward account for you, and this Steward does not create accounts at sign-in."),
            _("An administrator creates the account (or provisions it by SCIM) and links it."),
        )
    profile = _profile(claims)
    user = User(username=username, **profile)
    user.set_unusable_password()
    user.save()
    audit.record(SSO_ACTOR, "user.created", user, after={"username": username, **profile})
    _bind(SSO_ACTOR, user, issuer, subject, how="first SSO login")
    return user


def _scim_user_for(claims: dict[str, Any]) -> User | None:
    claim = getattr(settings, "STEWARD_OIDC_SCIM_MATCH_CLAIM", "sub") or "sub"
    value = claims.get(claim)
    if not value:
        return None
    return (
        User.objects.select_for_update()
        .filter(scim_managed=True, scim_external_id=str(value))
        # A subquery, not a LEFT JOIN: PostgreSQL refuses FOR UPDATE on the nullable side of one.
        .exclude(pk__in=SsoBinding.objects.values("user_id"))
        .first()
    )


def _usable(user: User, claims: dict[str, Any]) -> User:
    if user.is_superuser:
        raise _Deferred(
            "superuser",
            _("Administrator (superuser) accounts never sign in through single sign-on."),
            _("Use the break-glass password sign-in at /accounts/login/?local=1."),
            user=user,
        )
    if not user.is_active:
        raise _Deferred(
            "deactivated",
            _("Your Steward account is deactivated; the identity provider's answer does not override it."),
            _("A Steward administrator reactivates the account if this is a mistake."),
            user=user,
        )
    return user


def _apply_claims(user: User, claims: dict[str, Any]) -> None:
    profile = _profile(claims)
    changes = {k: v for k, v in profile.items() if v and getattr(user, k) != v}
    if changes:
        before = {k: getattr(user, k) for k in changes}
        for key, value in changes.items():
            setattr(user, key, value)
        user.save(update_fields=list(changes))
        audit.record(SSO_ACTOR, "user.updated", user, before=before, after=changes)
    apply_roles(user, claims)


def apply_roles(user: User, claims: dict[str, Any]) -> None:
    """Set the roles the claims grant; no-op for SCIM-managed people and when no role map is set
    (roles are then kept in Steward's admin)."""
    if user.scim_managed or not role_map():
        return
    try:
        wanted = roles_from_claims(claims)
    except SsoRefused as refusal:
        raise _Deferred(refusal.code, refusal.message, refusal.remedy, user=user)
    set_roles(
        SSO_ACTOR, user, wanted, reason=f"Mapped from the identity provider's '{groups_claim()}' claim."
    )


def _bind(actor, user: User, issuer: str, subject: str, *, how: str) -> SsoBinding:
    binding = SsoBinding.objects.create(
        user=user, issuer=issuer, subject=subject, bound_by=as_actor(actor).label
    )
    audit.record(actor, "user.sso_bound", user, after={"issuer": issuer, "sub": subject}, reason=how)
    return binding


def link_problem(user: User, issuer: str, subject: str) -> str:
    """Why `user` cannot be linked to `(issuer, subject)`, or ''."""
    if not issuer or not subject:
        return "Both the issuer and the subject (sub) are needed."
    if user.is_superuser:
        return "Superusers never sign in through SSO; create a separate account for SSO."
    if SsoBinding.objects.filter(user=user).exists():
        return f"{user.username} is already bound to an SSO subject; remove that binding first."
    other = SsoBinding.objects.filter(issuer=issuer, subject=subject).select_related("user").first()
    if other is not None:
        return f"That subject is already bound to {other.user.username}."
    return ""


@transaction.atomic
def link_account(actor, user: User, *, issuer: str, subject: str, reason: str = "") -> SsoBinding:
    """An administrator binds a local account to an IdP subject (the only way an existing account
    becomes reachable by SSO). Refused for superusers and when either side is already bound."""
    actor = as_actor(actor)
    if not actor.is_system and not (actor.user is not None and actor.user.has_perm("governance.change_user")):
        raise NotAllowed("Only user administrators may link SSO accounts.")
    issuer, subject = issuer.strip(), subject.strip()
    user = User.objects.select_for_update().get(pk=user.pk)
    problem = link_problem(user, issuer, subject)
    if problem:
        raise ValueError(problem)
    binding = SsoBinding.objects.create(user=user, issuer=issuer, subject=subject, bound_by=actor.label)
    audit.record(
        actor,
        "user.sso_linked",
        user,
        after={"issuer": issuer, "sub": subject},
        reason=reason or "Linked by an administrator.",
    )
    return binding


@transaction.atomic
def unlink_account(actor, binding: SsoBinding, *, reason: str = "") -> None:
    actor = as_actor(actor)
    audit.record(
        actor,
        "user.sso_unlinked",
        binding.user,
        before={"issuer": binding.issuer, "sub": binding.subject},
        reason=reason or "Unlinked by an administrator.",
    )
    binding.delete()
