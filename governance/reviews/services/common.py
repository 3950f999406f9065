"""Shared checks for the review services: who may act, locking, reasons."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from governance.actors import Actor
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import Role, User
from governance.reviews.models import ReviewItem
from inventory import access
from inventory.secrets_guard import SECRET_MESSAGE, looks_like_secret

# ---------------------------------------------------------------- who may do what


def is_iam(actor: Actor) -> bool:
    return actor.user is not None and actor.user.is_active and actor.user.is_iam


def require_iam(actor: Actor, what: str, *, allow_system: bool = True) -> None:
    if actor.is_system and allow_system:
        return
    if not is_iam(actor):
        raise NotAllowed(f"Only IAM approvers may {what}.")


def can_decide(user: User | None, item: ReviewItem) -> bool:
    """The item's reviewer or an IAM approver; an auditor never."""
    if user is None or not user.is_active or user.is_auditor:
        return False
    return item.reviewer_id == user.pk or user.is_iam


def can_view(user: User | None, item: ReviewItem) -> bool:
    if user is None or not user.is_active:
        return False
    if user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR) or item.reviewer_id == user.pk:
        return True
    return access.is_owner(user, item.identity)


def owners(item: ReviewItem) -> set[str]:
    """Usernames of the identity's owners, now and as frozen at launch."""
    names = {item.snapshot.get("owner"), item.snapshot.get("backup_owner")}
    identity = item.identity
    names |= {
        identity.owner.username if identity.owner_id else None,
        identity.backup_owner.username if identity.backup_owner_id else None,
    }
    return {n for n in names if n}


def clean_reason(reason: str | None, *, required: bool, field: str = "reason") -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationError({field: "Give a reason; it is kept with the decision and in the audit log."})
    if len(reason) > 2000:
        raise ValidationError({field: "Keep the reason under 2,000 characters."})
    if looks_like_secret(reason):
        raise ValidationError({field: SECRET_MESSAGE})
    return reason


def lock_item(item: ReviewItem | int) -> ReviewItem:
    pk = item.pk if isinstance(item, ReviewItem) else item
    return (
        ReviewItem.objects.select_for_update(of=("self",))
        .select_related("campaign", "identity", "identity__owner", "identity__backup_owner")
        .get(pk=pk)
    )


def require_open(item: ReviewItem) -> None:
    if not item.campaign.is_open:
        raise IllegalTransition(f"Campaign '{item.campaign}' is closed; its decisions cannot change.")
