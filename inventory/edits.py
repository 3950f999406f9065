"""One edit of an identity as people make it (the edit form, PATCH identities/{id}/), routed by field.

- Descriptive fields (purpose, name, team, owner for IAM, source, external id) and the risk tier
  (never below the computed one): changed now, by `services.update_identity`.
- What the identity is (`services.SCOPE_FIELDS`: vendor, product, model, kind, environments, data
  classification, autonomy) on a live identity: a scope change (the scope-change flow, reached through
  inventory.routes), re-tiered and routed for approval; nothing changes until it is approved. An
  allowed-vendor check or a deny rule cannot be passed by editing the identity instead.
- Naming a backup owner other than oneself: a nomination (inventory.ownership) the person accepts or
  declines; the seat changes only on acceptance.

One transaction: the direct edit, the scope change and the nomination happen together or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory import ownership, routes, services
from inventory.models import Identity, OwnershipTransfer, ScopeChange


@dataclass
class EditOutcome:
    identity: Identity
    scope_change: ScopeChange | None = None
    nomination: OwnershipTransfer | None = None

    @property
    def pending(self) -> bool:
        """Something waits for someone else: an approval, or a nominee's answer."""
        return (
            self.scope_change is not None and self.scope_change.state == ScopeChange.State.PENDING
        ) or self.nomination is not None


@transaction.atomic
def edit_identity(
    actor,
    identity: Identity,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
    reason: str = "",
) -> EditOutcome:
    actor, identity, changes, _ = services.begin_edit(actor, identity, changes, expected_version)
    user = actor.user
    # Every field is checked as one edit first, whichever way it then goes.
    services.validate_identity_fields(
        {"owner": identity.owner, "backup_owner": identity.backup_owner, **changes}, status=identity.status
    )
    routed: dict[str, Any] = {}
    if identity.status in services.LIVE_STATUSES:
        routed = {
            k: changes.pop(k)
            for k in sorted(services.SCOPE_FIELDS & set(changes))
            if services._differs(getattr(identity, k), changes[k])
        }
        for k in services.SCOPE_FIELDS & set(changes):
            changes.pop(k)  # sent unchanged: nothing to do
    nominee = None
    backup = changes.get("backup_owner")
    if (
        backup is not None
        and backup.pk != identity.backup_owner_id
        and backup.pk != getattr(user, "pk", None)
    ):
        nominee = changes.pop("backup_owner")
    elif backup is not None and backup.pk == identity.backup_owner_id:
        changes.pop("backup_owner")
    outcome = EditOutcome(identity=identity)
    if changes or not (routed or nominee):
        outcome.identity = services.update_identity(actor, identity, changes, reason=reason)
    if routed:
        if not (reason or "").strip():
            raise ValidationError(
                {
                    "reason": f"Changing {', '.join(sorted(routed))} changes what the identity is: it is "
                    "asked for as a scope change, which needs a reason for its approvers."
                }
            )
        environments = routed.pop("environments", None)
        outcome.scope_change = routes.scope().request_scope_change(
            actor, outcome.identity, environments=environments, changes=routed, reason=reason
        )
    if nominee is not None:
        (outcome.nomination,) = ownership.propose_transfer(
            actor, [outcome.identity], nominee, reason, role=OwnershipTransfer.Role.BACKUP_OWNER
        )
    outcome.identity.refresh_from_db()
    return outcome
