"""Writes to people and roles that must be audited (the admin calls these too)."""

from __future__ import annotations

from django.db import transaction

from governance import audit
from governance.actors import as_actor
from governance.errors import NotAllowed

TRACKED = (
    "username",
    "email",
    "display_name",
    "is_active",
    "is_staff",
    "is_superuser",
    "team_id",
    "manager_id",
)


def _user_state(user) -> dict:
    return {field: getattr(user, field) for field in TRACKED}


@transaction.atomic
def save_user_from_admin(actor, user, form, change: bool) -> None:
    before = None
    if change:
        from governance.people.models import User

        before = _user_state(User.objects.get(pk=user.pk))
    user.save()
    after = _user_state(user)
    if before == after:
        return
    verb = "user.updated" if change else "user.created"
    if change and before and before["is_active"] and not after["is_active"]:
        verb = "user.deactivated"
    audit.record(as_actor(actor), verb, user, before=before, after=after)
    if verb == "user.deactivated":
        from governance.people import signals
        from governance.people.sessions import end_sessions

        signals.user_deactivated.send(sender=user.__class__, user=user, actor=as_actor(actor))
        end_sessions(user)


def _record_roles(actor, user, before: set[str], after: set[str], reason: str = "") -> None:
    """The `user.roles_changed` event the evidence pack replays a person's roles from."""
    audit.record(
        as_actor(actor),
        "user.roles_changed",
        user,
        before={"roles": sorted(before)},
        after={"roles": sorted(after)},
        reason=reason,
    )


@transaction.atomic
def record_role_change(actor, user, before: set[str]) -> None:
    after = set(user.groups.values_list("name", flat=True))
    if before != after:
        _record_roles(actor, user, before, after)


@transaction.atomic
def deactivate_user(actor, user, *, reason: str) -> bool:
    """Deactivate one person outside the admin (SSO deprovisioning, HR import) and re-home what
    they owned. Returns False, changing nothing, when they were already inactive.

    The same `user.deactivated` audit event and signal as the admin path, in one transaction: the
    departure handling (inventory.ownership) runs inside it, so either both happen or neither.
    """
    from governance.people import signals
    from governance.people.models import User
    from governance.people.sessions import end_sessions

    actor = as_actor(actor)
    perm = f"{User._meta.app_label}.change_user"
    if not actor.is_system and not (actor.user is not None and actor.user.has_perm(perm)):
        raise NotAllowed("Only user administrators or a system job may deactivate people.")
    locked = User.objects.select_for_update().get(pk=user.pk)
    if not locked.is_active:
        return False
    before = _user_state(locked)
    locked.is_active = False
    locked.save(update_fields=["is_active"])
    audit.record(actor, "user.deactivated", locked, before=before, after=_user_state(locked), reason=reason)
    signals.user_deactivated.send(sender=User, user=locked, actor=actor)
    end_sessions(locked)
    user.is_active = False
    return True


@transaction.atomic
def set_roles(actor, user, wanted: set[str], *, reason: str = "") -> bool:
    """Make `user` hold exactly the role groups in `wanted` (other groups are left alone), audited
    once when anything changed. SSO and SCIM both call this. Returns whether anything changed."""
    from django.contrib.auth.models import Group

    from governance.people.models import Role

    wanted = set(wanted)
    current = set(user.groups.filter(name__in=Role.values).values_list("name", flat=True))
    if current == wanted:
        return False
    if current - wanted:
        user.groups.remove(*Group.objects.filter(name__in=current - wanted))
    if wanted - current:
        # The role groups come with a migration; get_or_create keeps this working if one was removed.
        user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in sorted(wanted - current)))
    user.__dict__.pop("roles", None)
    _record_roles(actor, user, current, wanted, reason)
    return True


@transaction.atomic
def reactivate_user(actor, user, *, reason: str) -> bool:
    """Let a deactivated person work again (SCIM `active: true`, or a system job). Returns False,
    changing nothing, when they were already active. What was re-homed at their deactivation stays
    with its new owners: giving it back is a decision for people, not for this call."""
    from governance.people.models import User

    actor = as_actor(actor)
    perm = f"{User._meta.app_label}.change_user"
    if not actor.is_system and not (actor.user is not None and actor.user.has_perm(perm)):
        raise NotAllowed("Only user administrators or a system job may reactivate people.")
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.is_active:
        return False
    before = _user_state(locked)
    locked.is_active = True
    locked.save(update_fields=["is_active"])
    audit.record(actor, "user.reactivated", locked, before=before, after=_user_state(locked), reason=reason)
    user.is_active = True
    user.__dict__.pop("roles", None)
    return True
