"""Writes to people and roles that must be audited (the admin calls these too)."""

from __future__ import annotations

from django.db import transaction

from governance import audit
from governance.actors import as_actor

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

        signals.user_deactivated.send(sender=user.__class__, user=user, actor=as_actor(actor))


@transaction.atomic
def record_role_change(actor, user, before: set[str]) -> None:
    after = set(user.groups.values_list("name", flat=True))
    if before != after:
        audit.record(
            as_actor(actor),
            "user.roles_changed",
            user,
            before={"roles": sorted(before)},
            after={"roles": sorted(after)},
        )
