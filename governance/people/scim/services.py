"""The writes SCIM makes, each in one transaction with its audit events, as `system:scim`.

A person SCIM creates is `scim_managed`: their roles are exactly STEWARD_OIDC_ROLE_MAP applied to
the displayName and externalId of the SCIM Groups they belong to, recomputed for every member a
group change touches. SCIM never takes over a local account, never touches a superuser, and never
deletes a person: `active: false` and DELETE both deactivate (sessions ended, identities re-homed),
DELETE also releases the account from SCIM so that it is no longer served.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, transaction
from scim2_models import InvalidValueException, UniquenessException

from governance import audit
from governance.actors import system
from governance.people.models import ScimGroup, User
from governance.people.scim.serialisation import GroupData, UserData, as_pk
from governance.people.services import deactivate_user, reactivate_user, set_roles
from governance.people.sso import role_map

SCIM = system("scim")


def managed_users():
    """The people SCIM serves: those it provisioned, never a superuser."""
    return User.objects.filter(scim_managed=True, is_superuser=False)


def _user_state(user: User) -> dict:
    return {
        "username": user.username,
        "external_id": user.scim_external_id,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "display_name": user.display_name,
        "email": user.email,
        "emails": user.scim_emails,
        "is_active": user.is_active,
    }


def _check_user_unique(data: UserData, exclude: int | None = None) -> None:
    others = User.objects.exclude(pk=exclude) if exclude else User.objects.all()
    clash = others.filter(username__iexact=data.username).first()
    if clash is not None:
        if clash.scim_managed and not clash.is_superuser:
            raise UniquenessException(detail=f"userName '{data.username}' is taken by another SCIM user.")
        raise UniquenessException(
            detail=f"userName '{data.username}' belongs to an existing Steward account that SCIM does not "
            "manage. Steward never hands a local account to SCIM by name: an administrator renames or "
            "removes the local account first."
        )
    if data.external_id and others.filter(scim_external_id=data.external_id).exists():
        raise UniquenessException(detail=f"externalId '{data.external_id}' is taken by another user.")


def _save(instance, **kwargs) -> None:
    """Save; a unique value taken meanwhile by a concurrent request is a 409, not a 500."""
    try:
        with transaction.atomic():
            instance.save(**kwargs)
    except IntegrityError:
        raise UniquenessException(detail="A unique value (userName, externalId or displayName) is taken.")


def _account_fields(data: UserData) -> dict[str, Any]:
    """The account's own fields as SCIM says them (`active` is a lifecycle move, not a field)."""
    return {
        "username": data.username,
        "scim_external_id": data.external_id,
        "first_name": data.given_name,
        "last_name": data.family_name,
        "display_name": data.display_name,
        "email": data.email,
        "scim_emails": data.emails,
    }


@transaction.atomic
def create_user(data: UserData) -> User:
    _check_user_unique(data)
    user = User(**_account_fields(data), is_active=data.active, scim_managed=True)
    user.set_unusable_password()
    _save(user)
    audit.record(SCIM, "user.created", user, after=_user_state(user), reason="Provisioned by SCIM.")
    return user


@transaction.atomic
def update_user(user: User, data: UserData) -> User:
    """Make the person what SCIM says (PUT, or PATCH applied to the current state)."""
    _check_user_unique(data, exclude=user.pk)
    before = _user_state(user)
    wanted = _account_fields(data)
    changed = [name for name, value in wanted.items() if getattr(user, name) != value]
    if changed:
        for name in changed:
            setattr(user, name, wanted[name])
        _save(user, update_fields=changed)
        audit.record_changes(SCIM, "user.updated", user, before, _user_state(user), reason="Changed by SCIM.")
    if user.is_active and not data.active:
        deactivate_user(SCIM, user, reason="The identity provider set active to false (SCIM).")
    elif not user.is_active and data.active:
        reactivate_user(SCIM, user, reason="The identity provider set active to true (SCIM).")
    return user


@transaction.atomic
def delete_user(user: User) -> None:
    """SCIM DELETE: deactivate (the audit trail refers to the person, so the account stays), leave
    every SCIM group, and release the account from SCIM: it is served no more (404)."""
    deactivate_user(SCIM, user, reason="Deleted by the identity provider (SCIM DELETE).")
    for group in list(user.scim_groups.all()):
        group.members.remove(user)
        group.save(update_fields=["updated_at"])
        audit.record(
            SCIM,
            "scim_group.updated",
            group,
            after={"removed": [user.username]},
            reason="SCIM DELETE of a member.",
        )
    user.scim_managed = False
    user.save(update_fields=["scim_managed"])
    audit.record(
        SCIM,
        "user.updated",
        user,
        before={"scim_managed": True},
        after={"scim_managed": False},
        reason="Deleted by the identity provider (SCIM DELETE); kept deactivated for the audit trail.",
    )
    set_roles(SCIM, user, set(), reason="Released from SCIM: no SCIM group grants a role any more.")


def _members(ids: Iterable[str]) -> list[User]:
    ids = list(ids)
    numeric = [pk for pk in map(as_pk, ids) if pk is not None]
    found = {str(u.pk): u for u in managed_users().filter(pk__in=numeric)}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidValueException(detail=f"No SCIM User has the id {missing[0]!r}; members must be Users.")
    return [found[i] for i in ids]


def _check_group_unique(data: GroupData, exclude: int | None = None) -> None:
    others = ScimGroup.objects.exclude(pk=exclude) if exclude else ScimGroup.objects.all()
    if others.filter(display_name__iexact=data.display_name).exists():
        raise UniquenessException(detail=f"A group named '{data.display_name}' exists already.")


def recompute_roles(users: Iterable[User], reason: str) -> None:
    """Set each SCIM-managed person's roles to what their SCIM groups map to."""
    mapping = role_map()
    ids = {u.pk for u in users}
    for user in managed_users().filter(pk__in=ids).prefetch_related("scim_groups").order_by("pk"):
        names = {n for g in user.scim_groups.all() for n in (g.display_name, g.external_id) if n}
        set_roles(SCIM, user, {mapping[n] for n in names if n in mapping}, reason=reason)


def _group_state(group: ScimGroup, members: Iterable[User] | None = None) -> dict[str, Any]:
    """A group as its audit events show it: its names, and its members' usernames when given."""
    state: dict[str, Any] = {"display_name": group.display_name, "external_id": group.external_id}
    if members is not None:
        state["members"] = [u.username for u in members]
    return state


@transaction.atomic
def create_group(data: GroupData) -> ScimGroup:
    _check_group_unique(data)
    members = _members(data.member_ids)
    group = ScimGroup(display_name=data.display_name, external_id=data.external_id)
    _save(group)
    group.members.set(members)
    audit.record(
        SCIM, "scim_group.created", group, after=_group_state(group, members), reason="Provisioned by SCIM."
    )
    recompute_roles(members, reason=f"Member of SCIM group '{group.display_name}' (created).")
    return group


@transaction.atomic
def update_group(group: ScimGroup, data: GroupData) -> ScimGroup:
    _check_group_unique(data, exclude=group.pk)
    wanted = _members(data.member_ids)
    current = list(group.members.all())
    added = [u for u in wanted if u not in current]
    removed = [u for u in current if u not in wanted]
    before = _group_state(group)
    group.display_name, group.external_id = data.display_name, data.external_id
    after = _group_state(group)
    renamed = before != after
    if not renamed and not added and not removed:
        return group
    _save(group)  # also moves updated_at, for membership changes too
    if removed:
        group.members.remove(*removed)
    if added:
        group.members.add(*added)
    changes_before, changes_after = audit.changes(before, after)
    if added:
        changes_after["added"] = [u.username for u in added]
    if removed:
        changes_after["removed"] = [u.username for u in removed]
    audit.record(SCIM, "scim_group.updated", group, before=changes_before or None, after=changes_after)
    affected = set(current) | set(wanted) if renamed else set(added) | set(removed)
    recompute_roles(affected, reason=f"SCIM group '{group.display_name}' changed.")
    return group


@transaction.atomic
def delete_group(group: ScimGroup) -> None:
    members = list(group.members.all())
    audit.record(
        SCIM, "scim_group.deleted", group, before=_group_state(group, members), reason="Deleted by SCIM."
    )
    name = group.display_name
    group.delete()
    recompute_roles(members, reason=f"SCIM group '{name}' deleted.")
