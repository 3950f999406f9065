"""Ownership: transfers proposed and accepted, IAM reassignment, and what happens when an owner leaves.

Every function takes the actor, runs in one transaction, locks the rows it changes, and writes one
audit event per identity with the identity as subject (so the identity page's history shows it).

Orphans: an active identity normally must have an owner (inventory.validation refuses edits that
clear it). `handle_owner_departure` is the one legitimate path that leaves `owner` NULL: the owner
left and no active backup could take over. Such identities keep their status and land in IAM's
orphan queue (/inventory/orphans/) and the sweep's `orphaned_owner` finding until IAM reassigns them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.links import link
from governance.people.models import User
from inventory import routes
from inventory.access import is_owner, require_governor
from inventory.models import Credential, Identity, OwnershipTransfer
from inventory.snapshots import snapshot

State = OwnershipTransfer.State
Role = OwnershipTransfer.Role
MAX_BATCH = 500
TRANSFERS_PAGE = "inventory:transfers"
ORPHANS_PAGE = "inventory:orphans"


def _identities(n: int) -> str:
    return f"{n} identit{'y' if n == 1 else 'ies'}"


def _tell(event: str, users, subject: str, body: str, path: str) -> None:
    """Notify after commit (nothing is sent if the change rolls back), through the outbox approvals
    registers in `inventory.routes`."""
    outbox = routes.notifications()
    outbox.notify(event, outbox.recipients_from(users), subject, body, path)


def _ids(identities: Iterable[Identity | int]) -> list[int]:
    out = []
    for item in identities:
        out.append(item.pk if isinstance(item, Identity) else int(item))
    return sorted(set(out))


def _lock_identities(ids: list[int]) -> list[Identity]:
    if not ids:
        raise ValidationError({"identities": "Choose at least one identity."})
    if len(ids) > MAX_BATCH:
        raise ValidationError({"identities": f"At most {MAX_BATCH} identities at once."})
    rows = list(
        Identity.objects.select_for_update(of=("self",))
        .select_related("owner", "backup_owner", "team")
        .filter(pk__in=ids)
        .order_by("pk")
    )
    missing = set(ids) - {i.pk for i in rows}
    if missing:
        raise ValidationError({"identities": f"No identity with id {', '.join(map(str, sorted(missing)))}."})
    return rows


def _check_new_owner(new_owner: User | None, field: str = "to_owner") -> User:
    if new_owner is None:
        raise ValidationError({field: "Choose the new owner."})
    if not new_owner.is_active:
        raise ValidationError({field: f"{new_owner.username} is not an active user."})
    return new_owner


def _reason(reason: str, required: bool) -> str:
    reason = (reason or "").strip()
    if required and not reason:
        raise ValidationError({"reason": "Give a reason; it is kept in the audit log."})
    return reason[:2000]


def _apply_owner(
    actor: Actor,
    identity: Identity,
    new_owner: User | None,
    verb: str,
    reason: str,
    *,
    previous_as_backup: bool = False,
) -> None:
    """Set the owner (and team = the new owner's team); keep the owner/backup check constraint.

    `previous_as_backup`: the previous owner asked to stay on as backup (an intake's requester who
    named someone else owner and themselves backup); done when the seat is free."""
    before = snapshot(identity)
    old_owner = identity.owner
    identity.owner = new_owner
    if new_owner is not None:
        if new_owner.team_id:
            identity.team_id = new_owner.team_id
        if identity.backup_owner_id == new_owner.pk:
            # The backup became owner: the previous owner backs up, if still active.
            identity.backup_owner = old_owner if old_owner is not None and old_owner.is_active else None
        elif (
            previous_as_backup
            and identity.backup_owner_id is None
            and old_owner is not None
            and old_owner.is_active
            and old_owner.pk != new_owner.pk
        ):
            identity.backup_owner = old_owner
    Identity.objects.filter(pk=identity.pk).update(
        owner=identity.owner,
        backup_owner=identity.backup_owner,
        team_id=identity.team_id,
        version=F("version") + 1,
        updated_at=timezone.now(),
    )
    identity.refresh_from_db()
    changed_before, changed_after = audit.changes(before, snapshot(identity))
    audit.record(actor, verb, identity, before=changed_before, after=changed_after, reason=reason)


# ---------------------------------------------------------------- transfers


@transaction.atomic
def propose_transfer(
    actor,
    identities: Iterable[Identity | int],
    to_owner: User | None,
    reason: str = "",
    *,
    role: str = Role.OWNER,
) -> list[OwnershipTransfer]:
    """The owner (or IAM/Security) proposes a new owner, or nominates a backup owner (`role`
    "backup_owner"), for one or many identities; nothing changes until that person accepts."""
    actor = as_actor(actor)
    to_owner = _check_new_owner(to_owner)
    reason = _reason(reason, required=False)
    if role not in Role.values:
        raise ValidationError({"role": f"Choose one of: {', '.join(Role.values)}."})
    rows = _lock_identities(_ids(identities))
    user = actor.user
    governor = actor.is_system or (user is not None and user.is_governor)
    if user is not None and user.is_auditor and not governor:
        raise NotAllowed("Auditors change nothing.")
    for identity in rows:
        if not governor and not is_owner(user, identity):
            raise NotAllowed(f"Only the owners of '{identity.name}', IAM or Security may transfer it.")
        if identity.status == Identity.Status.DECOMMISSIONED:
            raise IllegalTransition(f"'{identity.name}' is decommissioned; its owner can no longer change.")
    return create_transfers(actor, rows, to_owner, reason, role=role)


def create_transfers(
    actor: Actor,
    rows: list[Identity],
    to_owner: User,
    reason: str,
    *,
    role: str = Role.OWNER,
    keep_as_backup: bool = False,
    proposed_by: str = "",
) -> list[OwnershipTransfer]:
    """Write the proposals (the caller checked who may ask), audited per identity, and tell the person.

    Also used where a flow names someone who has not agreed yet: an intake's owner or backup owner,
    a backup owner named at triage, registration or import."""
    errors: list[str] = []
    for identity in rows:
        if role == Role.OWNER and identity.owner_id == to_owner.pk:
            errors.append(f"{to_owner.username} already owns '{identity.name}'.")
        if role == Role.BACKUP_OWNER and identity.owner_id == to_owner.pk:
            errors.append(f"{to_owner.username} owns '{identity.name}'; the backup owner is someone else.")
        if role == Role.BACKUP_OWNER and identity.backup_owner_id == to_owner.pk:
            errors.append(f"{to_owner.username} is already the backup owner of '{identity.name}'.")
    if errors:
        raise ValidationError({"to_owner": errors})
    open_names = list(
        OwnershipTransfer.objects.filter(identity__in=rows, state=State.PROPOSED, role=role).values_list(
            "identity__name", flat=True
        )
    )
    if open_names:
        waiting = "A transfer" if role == Role.OWNER else "A backup-owner nomination"
        raise IllegalTransition(
            f"{waiting} is already waiting for an answer for: " + ", ".join(sorted(open_names)) + "."
        )
    batch = uuid.uuid4()
    transfers = OwnershipTransfer.objects.bulk_create(
        [
            OwnershipTransfer(
                identity=identity,
                batch=batch,
                role=role,
                from_owner_id=identity.owner_id if role == Role.OWNER else identity.backup_owner_id,
                to_owner=to_owner,
                proposed_by=proposed_by or actor.label,
                reason=reason,
                keep_as_backup=keep_as_backup,
            )
            for identity in rows
        ]
    )
    for identity in rows:
        if role == Role.OWNER:
            verb = "identity.transfer_proposed"
            after = {"from_owner": identity.owner.username if identity.owner_id else None}
        else:
            verb = "identity.backup_owner_nominated"
            after = {
                "from_backup_owner": identity.backup_owner.username if identity.backup_owner_id else None
            }
        audit.record(
            actor,
            verb,
            identity,
            after={**after, "to_owner": to_owner.username, "batch": str(batch)},
            reason=reason,
        )
    names = ", ".join(i.name for i in rows[:20]) + (" …" if len(rows) > 20 else "")
    by = proposed_by or actor.label
    if role == Role.OWNER:
        subject = f"Steward: you are asked to take over {_identities(len(rows))}"
        body = f"{by} proposes you as the new owner of: {names}. Accept or decline in Steward."
    else:
        subject = f"Steward: you are asked to be backup owner of {_identities(len(rows))}"
        body = (
            f"{by} names you backup owner of: {names}. "
            "Nothing changes until you accept or decline in Steward."
        )
    _tell("ownership.transfer_proposed", [to_owner], subject, body, link(TRANSFERS_PAGE))
    return transfers


def _locked_transfer(transfer: OwnershipTransfer | int) -> OwnershipTransfer:
    pk = transfer.pk if isinstance(transfer, OwnershipTransfer) else int(transfer)
    return (
        OwnershipTransfer.objects.select_for_update(of=("self",))
        .select_related("to_owner", "from_owner")
        .get(pk=pk)
    )


def _decide(actor: Actor, transfer: OwnershipTransfer, state: str, comment: str) -> None:
    if state not in OwnershipTransfer.TRANSITIONS[transfer.state]:
        raise IllegalTransition(f"This transfer is already {transfer.state}.")
    transfer.state = state
    transfer.decided_at = timezone.now()
    transfer.decided_by = actor.label
    transfer.decision_comment = (comment or "").strip()[:2000]
    transfer.save(update_fields=["state", "decided_at", "decided_by", "decision_comment"])


def _record_answer(
    actor: Actor, transfer: OwnershipTransfer, identity: Identity, verb: str, comment: str, *, key="to_owner"
) -> None:
    """Audit an answer to a transfer that moved no owner: whom the transfer named, and which it was."""
    audit.record(
        actor,
        verb,
        identity,
        after={key: transfer.to_owner.username, "transfer": transfer.pk},
        reason=comment,
    )


def _require_new_owner(actor: Actor, transfer: OwnershipTransfer, what: str) -> None:
    if actor.user is None or actor.user.pk != transfer.to_owner_id:
        raise NotAllowed(
            f"Only the proposed new owner ({transfer.to_owner.username}) may {what} this transfer."
        )


@transaction.atomic
def accept_transfer(actor, transfer: OwnershipTransfer | int, comment: str = "") -> OwnershipTransfer:
    """The proposed new owner accepts: owner and team change now, audited."""
    actor = as_actor(actor)
    transfer = _locked_transfer(transfer)
    _require_new_owner(actor, transfer, "accept")
    if transfer.state != State.PROPOSED:
        raise IllegalTransition(f"This transfer is already {transfer.state}.")
    (identity,) = _lock_identities([transfer.identity_id])
    if identity.status == Identity.Status.DECOMMISSIONED:
        raise IllegalTransition(f"'{identity.name}' was decommissioned; cancel this transfer instead.")
    if transfer.role == Role.BACKUP_OWNER:
        return _accept_backup(actor, transfer, identity, comment)
    if transfer.auto_promoted:
        if identity.owner_id != transfer.to_owner_id:
            raise IllegalTransition(f"'{identity.name}' has changed owner since; this confirmation is void.")
        _decide(actor, transfer, State.ACCEPTED, comment)
        _record_answer(actor, transfer, identity, "identity.ownership_confirmed", comment, key="owner")
        return transfer
    if identity.owner_id != transfer.from_owner_id:
        raise IllegalTransition(
            f"'{identity.name}' has changed owner since this transfer was proposed; ask for a new one."
        )
    _check_new_owner(transfer.to_owner)
    _decide(actor, transfer, State.ACCEPTED, comment)
    _apply_owner(
        actor,
        identity,
        transfer.to_owner,
        "identity.owner_transferred",
        transfer.reason or comment,
        previous_as_backup=transfer.keep_as_backup,
    )
    return transfer


def _accept_backup(
    actor: Actor, transfer: OwnershipTransfer, identity: Identity, comment: str
) -> OwnershipTransfer:
    """The nominee agreed: they become the backup owner now (the seat must be as it was)."""
    if identity.backup_owner_id != transfer.from_owner_id:
        raise IllegalTransition(
            f"'{identity.name}' has had its backup owner changed since this nomination; ask for a new one."
        )
    if identity.owner_id == transfer.to_owner_id:
        raise IllegalTransition(f"You own '{identity.name}' now; its backup owner must be someone else.")
    _check_new_owner(transfer.to_owner)
    _decide(actor, transfer, State.ACCEPTED, comment)
    before = snapshot(identity)
    Identity.objects.filter(pk=identity.pk).update(
        backup_owner=transfer.to_owner, version=F("version") + 1, updated_at=timezone.now()
    )
    identity.refresh_from_db()
    audit.record(
        actor,
        "identity.backup_owner_accepted",
        identity,
        before={"backup_owner": before["backup_owner"]},
        after={"backup_owner": transfer.to_owner.username, "transfer": transfer.pk},
        reason=transfer.reason or comment,
    )
    return transfer


@transaction.atomic
def decline_transfer(actor, transfer: OwnershipTransfer | int, comment: str = "") -> OwnershipTransfer:
    """The proposed new owner declines: nothing changes (an auto-promoted backup declining orphans it)."""
    actor = as_actor(actor)
    transfer = _locked_transfer(transfer)
    _require_new_owner(actor, transfer, "decline")
    _decide(actor, transfer, State.DECLINED, comment)
    (identity,) = _lock_identities([transfer.identity_id])
    if transfer.auto_promoted and identity.owner_id == transfer.to_owner_id:
        _apply_owner(
            actor, identity, None, "identity.orphaned", comment or "promoted backup declined ownership"
        )
    else:
        _record_answer(actor, transfer, identity, "identity.transfer_declined", comment)
    return transfer


@transaction.atomic
def cancel_transfer(actor, transfer: OwnershipTransfer | int, comment: str = "") -> OwnershipTransfer:
    """The proposer, the current owner or IAM/Security withdraws a transfer still waiting for an answer."""
    actor = as_actor(actor)
    transfer = _locked_transfer(transfer)
    identity = Identity.objects.get(pk=transfer.identity_id)
    user = actor.user
    allowed = actor.is_system or (
        user is not None
        and (user.is_governor or is_owner(user, identity) or actor.label == transfer.proposed_by)
    )
    if not allowed:
        raise NotAllowed("Only the proposer, the identity's owners, IAM or Security may cancel a transfer.")
    if transfer.auto_promoted:
        raise IllegalTransition("An automatic promotion is answered by the promoted owner, not cancelled.")
    _decide(actor, transfer, State.CANCELLED, comment)
    _record_answer(actor, transfer, identity, "identity.transfer_cancelled", comment)
    return transfer


def _cancel_open(actor: Actor, queryset, comment: str) -> int:
    now = timezone.now()
    return queryset.filter(state=State.PROPOSED).update(
        state=State.CANCELLED, decided_at=now, decided_by=actor.label, decision_comment=comment[:2000]
    )


# ---------------------------------------------------------------- IAM reassignment


@transaction.atomic
def reassign_owner(actor, identities: Iterable[Identity | int], new_owner: User | None, reason: str) -> int:
    """IAM/Security set a new owner directly (orphans, reorganisations), in bulk, with a reason."""
    actor = as_actor(actor)
    require_governor(actor, "reassign owners directly")
    new_owner = _check_new_owner(new_owner, "owner")
    reason = _reason(reason, required=True)
    rows = _lock_identities(_ids(identities))
    decommissioned = [i.name for i in rows if i.status == Identity.Status.DECOMMISSIONED]
    if decommissioned:
        raise IllegalTransition(
            "Decommissioned identities keep their owner: " + ", ".join(decommissioned) + "."
        )
    _cancel_open(
        actor,
        OwnershipTransfer.objects.filter(identity__in=rows, role=Role.OWNER),
        "superseded by a direct reassignment",
    )
    changed = 0
    for identity in rows:
        if identity.owner_id == new_owner.pk:
            continue
        _apply_owner(actor, identity, new_owner, "identity.owner_reassigned", reason)
        changed += 1
    return changed


# ---------------------------------------------------------------- owner leaves


def orphans():
    """Live identities with no owner, or an owner who is no longer active (IAM's queue)."""
    return Identity.objects.live().filter(Q(owner__isnull=True) | Q(owner__is_active=False))


def credentials_to_rotate():
    """Live credentials created by people who have left: they may still know the secret."""
    return Credential.objects.filter(
        revoked_at__isnull=True,
        created_by__is_active=False,
        identity__status__in=[Identity.Status.ACTIVE, Identity.Status.SUSPENDED, Identity.Status.DISCOVERED],
    )


@transaction.atomic
def handle_owner_departure(actor, user: User) -> dict[str, Any]:
    """A person was deactivated (admin, SSO deprovisioning, HR import): re-home what they owned.

    - owned, with an active backup: the backup is promoted now (never ownerless) and asked to
      confirm through an `auto_promoted` transfer; declining orphans the identity;
    - owned, no active backup: owner cleared -> orphan queue and `orphaned_owner` finding;
    - backed up by them: backup cleared;
    - transfers to or from them still waiting: cancelled.
    Idempotent: a rerun finds nothing left to do.
    """
    actor = as_actor(actor)
    if not actor.is_system:
        require_governor(actor, "handle a departing owner")
    if user.is_active:
        raise IllegalTransition(f"{user.username} is still active; deactivate them first.")
    reason = f"owner {user.username} left"
    _cancel_open(
        actor,
        OwnershipTransfer.objects.filter(Q(to_owner=user) | Q(from_owner=user)),
        f"{user.username} left",
    )
    ids = list(
        Identity.objects.live().filter(Q(owner=user) | Q(backup_owner=user)).values_list("pk", flat=True)
    )
    result = {"promoted": [], "orphaned": [], "backup_cleared": []}
    if not ids:
        return result
    batch = uuid.uuid4()
    transfers = []
    for identity in _lock_identities(ids):
        if identity.owner_id == user.pk:
            backup = identity.backup_owner
            if backup is not None and backup.is_active:
                _apply_owner(actor, identity, backup, "identity.backup_promoted", reason)
                transfers.append(
                    OwnershipTransfer(
                        identity=identity,
                        batch=batch,
                        from_owner=user,
                        to_owner=backup,
                        proposed_by=actor.label,
                        reason=reason,
                        auto_promoted=True,
                    )
                )
                result["promoted"].append(identity.pk)
            else:
                _apply_owner(actor, identity, None, "identity.orphaned", reason)
                result["orphaned"].append(identity.pk)
        elif identity.backup_owner_id == user.pk:
            before = snapshot(identity)
            Identity.objects.filter(pk=identity.pk).update(
                backup_owner=None, version=F("version") + 1, updated_at=timezone.now()
            )
            audit.record(
                actor,
                "identity.backup_cleared",
                identity,
                before={"backup_owner": before["backup_owner"]},
                after={"backup_owner": None},
                reason=reason,
            )
            result["backup_cleared"].append(identity.pk)
    OwnershipTransfer.objects.bulk_create(transfers)
    by_backup: dict[int, tuple[User, list[str]]] = {}
    for transfer in transfers:
        by_backup.setdefault(transfer.to_owner.pk, (transfer.to_owner, []))[1].append(transfer.identity.name)
    for backup, names in by_backup.values():
        _tell(
            "ownership.backup_promoted",
            [backup],
            f"Steward: {user.username} left; you now own {_identities(len(names))}",
            "You were the backup owner of " + ", ".join(names[:20]) + ". Confirm or decline in Steward.",
            link(TRANSFERS_PAGE),
        )
    if result["orphaned"]:
        from governance.people.models import Role

        _tell(
            "ownership.orphaned",
            User.objects.filter(is_active=True, groups__name=Role.IAM).distinct(),
            f"Steward: {_identities(len(result['orphaned']))} orphaned",
            f"{user.username} left and no active backup could take over. Reassign them in Steward.",
            link(ORPHANS_PAGE),
        )
    return result


def on_user_deactivated(sender, user, actor, **kwargs) -> None:
    """Receiver for governance.people.signals.user_deactivated (runs inside the admin's transaction).

    Re-homing is a consequence of the deactivation, not a separate decision, so it runs as a system
    job on behalf of whoever deactivated the person.
    """
    by = as_actor(actor).label if actor is not None else ""
    handle_owner_departure(Actor(label="system:owner_departure", kind="system", on_behalf_of=by), user)
