"""Who may act on an identity: its owners, IAM and Security. The services check these before every
write; views and APIs ask `can_edit` to show only what a person may do."""

from __future__ import annotations

from governance.actors import Actor
from governance.errors import NotAllowed
from governance.people.models import Role, User
from inventory.models import Identity


def is_owner(user: User | None, identity: Identity) -> bool:
    return (
        user is not None and user.pk is not None and user.pk in (identity.owner_id, identity.backup_owner_id)
    )


def can_edit(user: User | None, identity: Identity) -> bool:
    if user is None or not user.is_active or user.is_auditor:
        return False
    return user.is_governor or is_owner(user, identity)


def require_governor(actor: Actor, what: str) -> None:
    if actor.is_system:
        return
    user = actor.user
    if user is None or not user.has_role(Role.IAM, Role.SECURITY):
        raise NotAllowed(f"Only IAM approvers and Security admins may {what}.")


def require_editor(actor: Actor, identity: Identity, what: str) -> None:
    if actor.is_system:
        return
    if not can_edit(actor.user, identity):
        raise NotAllowed(f"Only the identity's owners, IAM or Security may {what}.")
