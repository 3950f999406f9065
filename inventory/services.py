"""Every write to the inventory: creation, edits, lifecycle moves, credential revocation, usage.

Each function takes the actor, runs in one transaction, checks the current state and writes its
audit event in that same transaction.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import User
from inventory import enforcement, routes
from inventory.access import require_editor, require_governor
from inventory.models import (
    TIER_ORDER,
    ActivationRequest,
    Credential,
    DataClassification,
    Grant,
    Identity,
    OwnershipTransfer,
)
from inventory.ownership import create_transfers
from inventory.risk import assess, assess_identity, below_floor_message, max_tier
from inventory.secrets_guard import SECRET_MESSAGE, looks_like_secret
from inventory.snapshots import IDENTITY_FIELDS, grant_snapshot, snapshot
from inventory.validation import (  # noqa: F401  (re-exported: other apps validate through here)
    CREDENTIAL_FIELDS,
    parse_time,
    validate_credential,
    validate_credentials,
    validate_grants,
    validate_identity_fields,
)

# What an owner may change (or, for the fields below, ask for) on an identity they own.
OWNER_EDITABLE_FIELDS = {"purpose", "backup_owner", "vendor", "product", "model_name"}
# Fields that feed the risk assessment: changing one re-assesses the tier (which may rise, never fall).
RISK_FIELDS = {"kind", "environments", "data_classification", "autonomous"}
# Fields that change what the identity is: the tier or a policy check (allowed vendors and models,
# deny rules by kind and environment) reads them. On a live identity they change only through a scope
# change (the scope-change flow, inventory.routes), re-tiered and routed for approval; never by a direct edit.
SCOPE_FIELDS = RISK_FIELDS | {"vendor", "product", "model_name"}
LIVE_STATUSES = (Identity.Status.ACTIVE, Identity.Status.SUSPENDED)


# ---------------------------------------------------------------- create / update


@transaction.atomic
def create_identity(
    actor,
    *,
    data: dict[str, Any],
    grants: list[dict[str, Any]] | None = None,
    credentials: list[dict[str, Any]] | None = None,
    status: str = Identity.Status.ACTIVE,
    grant_origin: str = Grant.Origin.MANUAL,
    reason: str = "",
    check_role: bool = True,
) -> Identity:
    """Create an identity with its grants and credentials (metadata only)."""
    actor = as_actor(actor)
    if check_role:
        require_governor(actor, "register identities directly (others use the intake form)")
    data = {k: v for k, v in data.items() if k in IDENTITY_FIELDS}
    missing = {k: "This field is required." for k in ("name", "kind") if not data.get(k)}
    if missing:
        raise ValidationError(missing)
    if status not in Identity.Status.values or status == Identity.Status.DECOMMISSIONED:
        raise ValidationError({"status": f"An identity cannot be created as '{status}'."})
    validate_identity_fields(data, status=status)
    grants = validate_grants(grants or [])
    credentials = validate_credentials(credentials or [])
    result = assess(
        kind=data["kind"],
        environments=data.get("environments", []),
        actions=[a for g in grants for a in g["actions"]],
        data_classification=data.get("data_classification", DataClassification.INTERNAL),
        autonomous=data.get("autonomous", False),
    )
    if "risk_tier" not in data:
        data["risk_tier"], data["risk_reasons"] = result.tier, result.reasons
    elif TIER_ORDER[data["risk_tier"]] < TIER_ORDER[result.tier]:
        raise ValidationError({"risk_tier": below_floor_message(data["risk_tier"], result)})
    else:
        data.setdefault("risk_reasons", result.reasons)
    nominee = None
    activation_reason = ""
    if check_role:
        # Registered directly by one person: a backup owner other than them accepts first, and a tier
        # whose route needs more than one step waits for it (the activation flow, inventory.routes).
        backup = data.get("backup_owner")
        if backup is not None and backup.pk != getattr(actor.user, "pk", None):
            nominee = data.pop("backup_owner")
        if status == Identity.Status.ACTIVE and routes.activation().needs_route(data["risk_tier"]):
            status = Identity.Status.PROPOSED
            activation_reason = reason or f"Registered by {actor.label}"
    if Identity.objects.filter(name=data.get("name")).exists():
        raise ValidationError({"name": f"An identity named '{data.get('name')}' already exists."})
    if (
        data.get("external_id")
        and Identity.objects.filter(source=data.get("source", ""), external_id=data["external_id"]).exists()
    ):
        raise ValidationError({"external_id": "An identity with this source and external_id already exists."})
    now = timezone.now()
    identity = Identity(status=status, **data)
    if status == Identity.Status.ACTIVE:
        identity.approved_at = now
    identity.save()
    Grant.objects.bulk_create(
        [Grant(identity=identity, origin=grant_origin, created_at=now, **g) for g in grants]
    )
    creator = actor.user if actor.kind == "person" else None
    Credential.objects.bulk_create(
        [Credential(identity=identity, created_by=creator, **c) for c in credentials]
    )
    audit.record(
        actor,
        "identity.created",
        identity,
        after={**snapshot(identity), "grants": grants, "credentials": credentials},
        reason=reason,
    )
    if activation_reason:
        routes.activation().request_activation(
            actor, identity, origin=ActivationRequest.Origin.REGISTER, reason=activation_reason
        )
    if nominee is not None:
        create_transfers(actor, [identity], nominee, reason, role=OwnershipTransfer.Role.BACKUP_OWNER)
    return identity


def locked_for_edit(actor: Actor, identity: Identity) -> Identity:
    """The identity's row, locked with its people and team, once the actor may edit it."""
    identity = (
        # Lock only the identity row: PostgreSQL refuses FOR UPDATE on the nullable side of a join.
        Identity.objects.select_for_update(of=("self",))
        .select_related("owner", "backup_owner", "team")
        .get(pk=identity.pk)
    )
    require_editor(actor, identity, "edit this identity")
    return identity


def refuse_fields_owners_may_not_edit(changes: dict[str, Any]) -> None:
    forbidden = set(changes) - OWNER_EDITABLE_FIELDS
    if forbidden:
        raise NotAllowed(
            f"Owners may change only {', '.join(sorted(OWNER_EDITABLE_FIELDS))}; "
            f"ask IAM for: {', '.join(sorted(forbidden))}."
        )


def refuse_stale_or_decommissioned(identity: Identity, expected_version: int | None) -> None:
    """An edit made on an older version than the row's is refused (no lost update), as is any edit of
    a decommissioned identity."""
    if expected_version is not None and expected_version != identity.version:
        raise IllegalTransition(
            f"This identity was changed by someone else (version {identity.version}, "
            f"you had {expected_version}). Reload and try again."
        )
    if identity.status == Identity.Status.DECOMMISSIONED:
        raise IllegalTransition("A decommissioned identity cannot be edited.")


def begin_edit(
    actor, identity: Identity, changes: dict[str, Any], expected_version: int | None
) -> tuple[Actor, Identity, dict[str, Any], bool]:
    """What every edit of an identity checks first: the row locked once the actor may edit it, the
    changes kept to the identity's fields (and, for an owner, to those owners may edit), a stale
    version or a decommissioned identity refused. Also says whether the actor edits as IAM/Security."""
    actor = as_actor(actor)
    identity = locked_for_edit(actor, identity)
    changes = {k: v for k, v in changes.items() if k in IDENTITY_FIELDS}
    governor = actor.is_system or (actor.user is not None and actor.user.is_governor)
    if not governor:
        refuse_fields_owners_may_not_edit(changes)
    refuse_stale_or_decommissioned(identity, expected_version)
    return actor, identity, changes, governor


@transaction.atomic
def update_identity(
    actor,
    identity: Identity,
    changes: dict[str, Any],
    *,
    expected_version: int | None = None,
    reason: str = "",
) -> Identity:
    """Edit descriptive fields directly. Owners edit a few; IAM/Security edit all.

    Not here (inventory.edits routes them): on a live identity, the SCOPE_FIELDS (a scope change,
    approved) and naming a backup owner other than oneself (the person accepts first). The risk tier
    is never set below the computed one."""
    actor, identity, changes, governor = begin_edit(actor, identity, changes, expected_version)
    _refuse_unapproved_edits(actor, identity, changes, governor)
    merged = {
        "owner": identity.owner,
        "backup_owner": identity.backup_owner,
        **changes,
    }
    validate_identity_fields(merged, status=identity.status)
    if "name" in changes and Identity.objects.exclude(pk=identity.pk).filter(name=changes["name"]).exists():
        raise ValidationError({"name": f"An identity named '{changes['name']}' already exists."})
    if {"source", "external_id"} & set(changes):
        source = changes.get("source", identity.source)
        external_id = changes.get("external_id", identity.external_id)
        if (
            external_id
            and Identity.objects.exclude(pk=identity.pk)
            .filter(source=source, external_id=external_id)
            .exists()
        ):
            raise ValidationError({"external_id": "Another identity has this source and external_id."})
    tier_reasons = None
    if "risk_tier" in changes:
        tier = changes["risk_tier"]
        # The floor is the tier computed from what the identity will be after this edit.
        computed = assess_identity(identity, **{k: changes[k] for k in RISK_FIELDS if k in changes})
        if TIER_ORDER[tier] < TIER_ORDER[computed.tier]:
            raise ValidationError({"risk_tier": below_floor_message(tier, computed)})
        if TIER_ORDER[tier] < TIER_ORDER[identity.risk_tier] and not (reason or "").strip():
            raise ValidationError({"reason": "Lowering the risk tier needs a recorded reason."})
        tier_reasons = list(computed.reasons)
        if TIER_ORDER[tier] > TIER_ORDER[computed.tier]:
            why = f": {reason.strip()}" if (reason or "").strip() else ""
            tier_reasons.append(f"Raised to {tier} above the computed {computed.tier} by {actor.label}{why}.")
    before = snapshot(identity)
    for key, value in changes.items():
        setattr(identity, key, value)
    if tier_reasons is not None:
        identity.risk_reasons = tier_reasons
    elif RISK_FIELDS & set(changes):
        _reassess(identity)
    identity.version = F("version") + 1
    identity.save()
    identity.refresh_from_db()
    changed_before, changed_after = audit.changes(before, snapshot(identity))
    audit.record(
        actor, "identity.updated", identity, before=changed_before, after=changed_after, reason=reason
    )
    return identity


def _refuse_unapproved_edits(
    actor: Actor, identity: Identity, changes: dict[str, Any], governor: bool
) -> None:
    """What a direct edit may not do: change what a live identity is, or name someone else its backup."""
    scope_fields = sorted(
        k for k in SCOPE_FIELDS & set(changes) if _differs(getattr(identity, k), changes[k])
    )
    if scope_fields and identity.status in LIVE_STATUSES:
        raise ValidationError(
            {
                field: "This changes what the identity is (its tier or a policy check reads it): "
                "request it through a scope change (POST /api/v1/scope-changes/ with "
                '"changes", or the edit form), which is re-tiered and approved.'
                for field in scope_fields
            }
        )
    if scope_fields and not governor:
        raise NotAllowed(
            f"Only IAM or Security change {', '.join(scope_fields)} of a {identity.status} identity."
        )
    if (
        scope_fields
        and ActivationRequest.objects.filter(
            identity=identity, state=ActivationRequest.State.PENDING
        ).exists()
    ):
        raise IllegalTransition(
            f"'{identity.name}' is waiting for its activation to be approved as it is; withdraw that "
            "request before changing what it is."
        )
    backup = changes.get("backup_owner", identity.backup_owner)
    if (
        backup is not None
        and backup.pk != identity.backup_owner_id
        and backup.pk != getattr(actor.user, "pk", None)
    ):
        raise ValidationError(
            {
                "backup_owner": f"{backup.username} becomes backup owner only once they accept: nominate "
                'them (POST /api/v1/ownership-transfers/ with "role": "backup_owner", or the edit form).'
            }
        )


def _differs(current: Any, value: Any) -> bool:
    if isinstance(current, list) and isinstance(value, list):
        return sorted(current) != sorted(value)
    return current != value


def _reassess(identity: Identity) -> None:
    """Re-run the risk assessment after a risk-relevant edit: the tier may rise, never silently fall."""
    result = assess_identity(identity)
    identity.risk_tier = max_tier(identity.risk_tier, result.tier)
    identity.risk_reasons = result.reasons


# ---------------------------------------------------------------- lifecycle


def _move(actor: Actor, identity_id: int, to_status: str, reason: str, verb: str) -> Identity:
    identity = Identity.objects.select_for_update().get(pk=identity_id)
    if not identity.can_move_to(to_status):
        raise IllegalTransition(f"Cannot move '{identity.name}' from {identity.status} to {to_status}.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Give a reason; it is kept in the audit log."})
    before = identity.status
    Identity.objects.filter(pk=identity.pk).update(
        status=to_status, status_reason=reason, version=F("version") + 1, updated_at=timezone.now()
    )
    identity.refresh_from_db()
    audit.record(actor, verb, identity, before={"status": before}, after={"status": to_status}, reason=reason)
    return identity


def _locked(identity: Identity | int) -> Identity:
    """The current row, locked for this transaction (permission checks must use fresh owners)."""
    pk = identity.pk if isinstance(identity, Identity) else identity
    return Identity.objects.select_for_update().get(pk=pk)


def _locked_for_editor(actor, identity: Identity, what: str) -> tuple[Actor, Identity]:
    """The actor, and the identity's current row locked, once the actor may `what` (fresh owners)."""
    actor = as_actor(actor)
    identity = _locked(identity)
    require_editor(actor, identity, what)
    return actor, identity


@transaction.atomic
def suspend(actor, identity: Identity, reason: str) -> Identity:
    actor, identity = _locked_for_editor(actor, identity, "suspend this identity")
    identity = _move(actor, identity.pk, Identity.Status.SUSPENDED, reason, "identity.suspended")
    enforcement.request(actor, [identity.pk], cause=enforcement.SUSPENDED, reason=reason)
    return identity


@transaction.atomic
def reactivate(actor, identity: Identity, reason: str) -> Identity:
    """Suspended -> active again (IAM/Security). Discovered/proposed identities use `activate`."""
    actor = as_actor(actor)
    require_governor(actor, "reactivate a suspended identity")
    identity = _locked(identity)
    if identity.status != Identity.Status.SUSPENDED:
        raise IllegalTransition(
            f"Only a suspended identity can be reactivated; '{identity.name}' is {identity.status}."
        )
    if identity.owner_id is None:
        raise ValidationError({"owner": "Give the identity an owner before reactivating it."})
    return _move(actor, identity.pk, Identity.Status.ACTIVE, reason, "identity.reactivated")


@transaction.atomic
def activate(
    actor, identity: Identity, reason: str, *, owner: User | None = None, backup_owner=None
) -> Identity:
    """Triage: adopt a discovered (or proposed) identity, giving it an owner.

    Active at once when its tier's route is a single step (the IAM/Security person triaging is that
    step); otherwise it becomes `proposed` and waits for the route (the activation flow, reached
    through inventory.routes). A backup owner other than the person triaging is nominated and takes
    the seat once they accept."""
    flow = routes.activation()

    actor = as_actor(actor)
    require_governor(actor, "activate a discovered identity")
    identity = _locked(identity)
    if identity.status not in (Identity.Status.DISCOVERED, Identity.Status.PROPOSED):
        raise IllegalTransition(
            f"Only a discovered or proposed identity can be activated; '{identity.name}' is "
            f"{identity.status}."
        )
    if ActivationRequest.objects.filter(identity=identity, state=ActivationRequest.State.PENDING).exists():
        raise IllegalTransition(f"The activation of '{identity.name}' is already waiting for approval.")
    nominee = None
    if backup_owner is not None and backup_owner.pk != getattr(actor.user, "pk", None):
        nominee, backup_owner = backup_owner, None
    changes: dict[str, Any] = {}
    if owner is not None:
        changes["owner"] = owner
    if backup_owner is not None:
        changes["backup_owner"] = backup_owner
    computed = assess_identity(identity)
    if TIER_ORDER[computed.tier] > TIER_ORDER[identity.risk_tier]:
        # Its grants say more than the tier recorded at import: the route follows the computed tier.
        changes.update(risk_tier=computed.tier, risk_reasons=computed.reasons)
    if changes:
        validate_identity_fields(
            {"owner": identity.owner, "backup_owner": identity.backup_owner, **changes},
            status=Identity.Status.ACTIVE,
        )
        before = snapshot(identity)
        Identity.objects.filter(pk=identity.pk).update(**changes)
        identity.refresh_from_db()
        audit.record_changes(actor, "identity.updated", identity, before, snapshot(identity), reason=reason)
    if identity.owner_id is None:
        raise ValidationError({"owner": "Give the identity an owner before activating it."})
    if not (reason or "").strip():
        raise ValidationError({"reason": "Give a reason; it is kept in the audit log."})
    if flow.needs_route(identity.risk_tier):
        if identity.status == Identity.Status.DISCOVERED:
            identity = _move(actor, identity.pk, Identity.Status.PROPOSED, reason, "identity.proposed")
        flow.request_activation(actor, identity, origin=ActivationRequest.Origin.TRIAGE, reason=reason)
    else:
        identity = flow.activate_now(actor, identity.pk, reason)
    if nominee is not None:
        create_transfers(actor, [identity], nominee, reason, role=OwnershipTransfer.Role.BACKUP_OWNER)
    identity.refresh_from_db()
    return identity


@transaction.atomic
def decommission(actor, identity: Identity, reason: str) -> Identity:
    """Terminal. Current grants end; every live credential is marked revoked, awaiting confirmation."""
    actor, identity = _locked_for_editor(actor, identity, "decommission this identity")
    identity = _move(actor, identity.pk, Identity.Status.DECOMMISSIONED, reason, "identity.decommissioned")
    now = timezone.now()
    ended = identity.grants.filter(ended_at__isnull=True).update(ended_at=now, end_reason="decommissioned")
    newly_revoked = list(identity.credentials.filter(revoked_at__isnull=True).values_list("pk", flat=True))
    identity.credentials.filter(pk__in=newly_revoked).update(revoked_at=now)
    # Record, per credential, whether its revocation at the provider is confirmed yet.
    credentials = [
        {
            "id": c.pk,
            "kind": c.kind,
            "label": c.label,
            "revocation_confirmed": c.revocation_confirmed_at is not None,
        }
        for c in identity.credentials.order_by("pk")
    ]
    audit.record(
        actor,
        "identity.access_removed",
        identity,
        after={
            "grants_ended": ended,
            "credentials_marked_revoked": len(newly_revoked),
            "credentials": credentials,
        },
        reason=reason,
    )
    enforcement.request(actor, [identity.pk], cause=enforcement.DECOMMISSIONED, reason=reason)
    return identity


@transaction.atomic
def confirm_credential_revocation(actor, credential: Credential, note: str) -> Credential:
    actor = as_actor(actor)
    credential = Credential.objects.select_for_update().select_related("identity").get(pk=credential.pk)
    require_editor(actor, credential.identity, "confirm credential revocation")
    if credential.revoked_at is None:
        raise IllegalTransition("This credential has not been revoked.")
    if credential.revocation_confirmed_at is not None:
        raise IllegalTransition("Revocation was already confirmed.")
    if not (note or "").strip():
        raise ValidationError({"note": "Give a note or ticket reference proving the revocation."})
    credential.revocation_confirmed_at = timezone.now()
    credential.revocation_confirmed_by = actor.label
    credential.revocation_note = note.strip()[:300]
    credential.save(update_fields=["revocation_confirmed_at", "revocation_confirmed_by", "revocation_note"])
    audit.record(
        actor,
        "credential.revocation_confirmed",
        credential,
        after={"identity": credential.identity_id, "note": credential.revocation_note},
    )
    return credential


def credential_snapshot(credential: Credential) -> dict[str, Any]:
    return {
        **audit.snapshot(credential, ("id", "kind", "label", "storage")),
        **{
            key: value.isoformat() if (value := getattr(credential, key)) else None
            for key in ("issued_at", "expires_at", "last_rotated_at")
        },
    }


# Clocks drift a little; a rotation further in the future than this is a typo.
ROTATION_FUTURE_TOLERANCE = timedelta(minutes=5)


@transaction.atomic
def add_credential(actor, identity: Identity, data: dict[str, Any], reason: str = "") -> Credential:
    """Record one more credential (metadata only) for a live identity: its owners, IAM or Security."""
    actor, identity = _locked_for_editor(actor, identity, "record credentials for this identity")
    if identity.status == Identity.Status.DECOMMISSIONED:
        raise IllegalTransition("A decommissioned identity takes no new credentials.")
    cleaned = validate_credential(data)
    if cleaned["expires_at"] and cleaned["issued_at"] and cleaned["expires_at"] <= cleaned["issued_at"]:
        raise ValidationError({"expires_at": "The expiry must be after the issue date."})
    credential = Credential.objects.create(
        identity=identity, created_by=actor.user if actor.kind == "person" else None, **cleaned
    )
    audit.record(
        actor,
        "credential.added",
        identity,
        after={"credential": credential_snapshot(credential)},
        reason=reason,
    )
    return credential


@transaction.atomic
def record_rotation(
    actor,
    credential: Credential,
    *,
    rotated_at=None,
    label: str | None = None,
    expires_at=None,
    note: str = "",
) -> Credential:
    """The secret behind a live credential was replaced: set `last_rotated_at` (and the new
    fingerprint or expiry when they changed). Its age, and the rotation finding, restart from here."""
    actor = as_actor(actor)
    # Identity first, then credential: the same order as decommission, so the two never deadlock.
    identity = _locked(Credential.objects.values_list("identity_id", flat=True).get(pk=credential.pk))
    credential = Credential.objects.select_for_update().get(pk=credential.pk)
    require_editor(actor, identity, "record a rotation for this credential")
    if identity.status == Identity.Status.DECOMMISSIONED or credential.revoked_at is not None:
        raise IllegalTransition("This credential is revoked; record a new credential instead.")
    now = timezone.now()
    errors: dict[str, str] = {}
    when, err = parse_time(rotated_at)
    when = when or now
    if err:
        errors["rotated_at"] = err
    elif when > now + ROTATION_FUTURE_TOLERANCE:
        errors["rotated_at"] = "A rotation cannot be in the future."
    elif credential.issued_at and when < credential.issued_at:
        errors["rotated_at"] = "A rotation cannot be before the credential was issued."
    elif credential.last_rotated_at and when < credential.last_rotated_at:
        errors["rotated_at"] = (
            f"A later rotation is already recorded ({credential.last_rotated_at:%Y-%m-%d %H:%M} UTC)."
        )
    new_expiry, err = parse_time(expires_at)
    if err:
        errors["expires_at"] = err
    elif new_expiry and new_expiry <= when:
        errors["expires_at"] = "The new expiry must be after the rotation."
    label = (label or "").strip() if isinstance(label, str) else label
    if label is not None and not isinstance(label, str):
        errors["label"] = "Must be text."
    elif label and looks_like_secret(label):
        errors["label"] = SECRET_MESSAGE
    elif label and len(label) > 200:
        errors["label"] = "At most 200 characters."
    if looks_like_secret(note):
        errors["note"] = SECRET_MESSAGE
    if errors:
        raise ValidationError(errors)
    before = credential_snapshot(credential)
    credential.last_rotated_at = when
    if label:
        credential.label = label
    if new_expiry:
        credential.expires_at = new_expiry
    credential.save(update_fields=["last_rotated_at", "label", "expires_at"])
    audit.record(
        actor,
        "credential.rotated",
        identity,
        before={"credential": before},
        after={"credential": credential_snapshot(credential)},
        reason=(note or "").strip()[:1000],
    )
    return credential


@transaction.atomic
def revoke_credentials(actor, identity: Identity, reason: str) -> int:
    """Mark every live credential revoked (remediation then confirms each)."""
    actor, identity = _locked_for_editor(actor, identity, "revoke this identity's credentials")
    now = timezone.now()
    count = identity.credentials.filter(revoked_at__isnull=True).update(revoked_at=now)
    if count:
        audit.record(
            actor, "credential.revoked", identity, after={"credentials_marked_revoked": count}, reason=reason
        )
    enforcement.request(actor, [identity.pk], cause=enforcement.CREDENTIALS_REVOKED, reason=reason)
    return count


@transaction.atomic
def end_grants(actor, identity: Identity, grant_ids: list[int], reason: str) -> list[int]:
    """End some of an identity's current grants (e.g. a review's 'modify'); returns the ended ids."""
    actor, identity = _locked_for_editor(actor, identity, "remove this identity's grants")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Give a reason; it is kept in the audit log."})
    try:
        wanted = {int(g) for g in grant_ids}
    except (TypeError, ValueError):
        raise ValidationError({"grants": "Give grant ids (whole numbers)."})
    if not wanted:
        raise ValidationError({"grants": "Choose at least one grant to remove."})
    current = list(Grant.objects.current().select_for_update().filter(identity_id=identity.pk, pk__in=wanted))
    missing = wanted - {g.pk for g in current}
    if missing:
        raise ValidationError(
            {"grants": f"Not current grants of this identity: {', '.join(map(str, sorted(missing)))}."}
        )
    now = timezone.now()
    Grant.objects.filter(pk__in=wanted).update(ended_at=now, end_reason=reason.strip()[:300])
    audit.record(
        actor,
        "grant.ended",
        identity,
        before={"grants": [grant_snapshot(g) for g in current]},
        after={"grants_ended": sorted(wanted)},
        reason=reason,
    )
    jit = [g.pk for g in current if g.origin == Grant.Origin.JIT]
    if jit:
        # A just-in-time grant ended here ends as if its window closed: at the source and in the
        # identity's live sessions.
        enforcement.request(
            actor, [identity.pk], cause=enforcement.GRANT_EXPIRED, reason=reason.strip(), grant_ids=jit
        )
    return sorted(wanted)


def close_pending_request(
    actor: Actor, model, pk: int, state: str, verb: str, after_key: str, reason: str = ""
) -> None:
    """End a pending scope change or reactivation request (rejected, withdrawn, expired), audited.

    Locks the row; a request that is no longer pending is left as it is (the engine may call twice).
    """
    row = model.objects.select_for_update(of=("self",)).select_related("identity").get(pk=pk)
    if row.state != model.State.PENDING:
        return
    model.objects.filter(pk=row.pk).update(state=state, decided_at=timezone.now())
    audit.record(actor, f"{verb}_{state}", row.identity, after={after_key: row.pk}, reason=reason)
