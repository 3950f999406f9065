"""Decisions on review items: certify, modify, revoke, let expire; sign-off and remediation."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance import audit
from governance.actors import as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.ids import parse_ids
from governance.people.models import User
from governance.policy.services import current_policy
from governance.reviews.models import ReviewItem
from governance.reviews.services.common import (
    can_decide,
    clean_reason,
    is_iam,
    lock_item,
    owners,
    require_open,
)
from inventory import services as inventory
from inventory.models import Grant, Identity

D = ReviewItem.Decision
SIGNOFF_TIERS = {Identity.RiskTier.HIGH, Identity.RiskTier.CRITICAL}
BULK_CERTIFY_MAX = 100
# display_seconds is a PositiveIntegerField: a page claiming longer is not believed.
MAX_SHOWN_SECONDS = 2**31 - 1


# ---------------------------------------------------------------- display (rubber-stamp guard)


def record_shown(user: User, items: list[ReviewItem], now: datetime | None = None) -> None:
    """Note that these pending items were displayed to their reviewer.

    Display times are telemetry for the rubber-stamp guard, not a change of state: they are written
    set-based without an audit event of their own and land in the audit log with the decision
    (`shown_at`, `display_seconds`).
    """
    now = now or timezone.now()
    ids = [i.pk for i in items if i.is_pending and i.reviewer_id == user.pk]
    if not ids:
        return
    ReviewItem.objects.filter(pk__in=ids, shown_at__isnull=True).update(shown_at=now)
    ReviewItem.objects.filter(pk__in=ids).update(last_shown_at=now)


def display_seconds(item: ReviewItem, now: datetime, claimed: Any) -> int | None:
    measured = int((now - item.last_shown_at).total_seconds()) if item.last_shown_at else None
    try:
        claimed = int(float(claimed)) if claimed not in (None, "") else None
    except (TypeError, ValueError, OverflowError):  # OverflowError: int(float("1e400"))
        claimed = None
    if claimed is not None and not 0 <= claimed <= MAX_SHOWN_SECONDS:
        claimed = None
    values = [v for v in (measured, claimed) if v is not None]
    # Trust the shorter of what the server measured and what the page reports.
    return max(0, min(values)) if values else None


# ---------------------------------------------------------------- decisions


def _review_days(tier: str) -> int:
    return current_policy().tier(tier).review_days


def _mark_reviewed(identity_id: int, tier: str, now: datetime) -> None:
    Identity.objects.filter(pk=identity_id).update(
        last_reviewed_at=now, next_review_due=(now + timedelta(days=_review_days(tier))).date()
    )


@transaction.atomic
def decide(
    actor,
    item: ReviewItem | int,
    decision: str,
    reason: str | None = "",
    grants: list | None = None,
    shown_seconds: Any = None,
    channel: str = ReviewItem.Channel.BROWSER,
) -> ReviewItem:
    """Record the reviewer's decision and apply it: certify, modify, revoke or let expire.

    Certifying a high or critical identity needs a reason (what was checked). A revoke takes the
    access away in Steward at once: the identity is suspended, every current grant ends and every
    credential is marked revoked; its remediation is then `pending` until someone other than the
    decider (IAM, Security) or a connector's later sync confirms it at the source."""
    actor = as_actor(actor)
    item = lock_item(item)
    if actor.is_system or not can_decide(actor.user, item):
        raise NotAllowed("Only the item's reviewer or an IAM approver may decide it.")
    require_open(item)
    if not item.is_pending:
        raise IllegalTransition(f"This item was already decided ({item.get_decision_display()}).")
    if decision not in ReviewItem.REVIEWER_DECISIONS:
        raise ValidationError(
            {"decision": f"Choose one of {', '.join(str(d) for d in ReviewItem.REVIEWER_DECISIONS)}."}
        )
    tier = item.risk_tier
    certify_high = decision == D.CERTIFY and tier in SIGNOFF_TIERS
    if certify_high and not (reason or "").strip():
        raise ValidationError(
            {"reason": f"Certifying a {tier}-tier identity needs a reason: say what you checked."}
        )
    reason = clean_reason(reason, required=decision in ReviewItem.REASON_REQUIRED)
    if channel not in ReviewItem.Channel.values:
        channel = ReviewItem.Channel.BROWSER
    now = timezone.now()
    identity = item.identity
    label = (
        f"Access review '{item.campaign.name}': {reason}" if reason else f"Access review '{item.campaign}'"
    )

    if decision == D.MODIFY:
        grants = parse_ids(grants, "grants")
        if not grants:
            raise ValidationError({"grants": "Choose the grants to remove."})
        item.removed_grants = inventory.end_grants(actor, identity, grants, reason=label)
    elif decision == D.REVOKE:
        if identity.can_move_to(Identity.Status.SUSPENDED):
            inventory.suspend(actor, identity, reason=label)
        elif identity.status != Identity.Status.SUSPENDED:
            raise IllegalTransition(f"'{identity}' is {identity.status}; it cannot be suspended.")
        inventory.revoke_credentials(actor, identity, reason=label)
        current = list(Grant.objects.current(now).filter(identity=identity).values_list("pk", flat=True))
        if current:
            item.removed_grants = inventory.end_grants(actor, identity, current, reason=label)
        item.remediation_state = ReviewItem.Remediation.PENDING
        item.remediation_action_at = timezone.now()
    elif decision == D.LET_EXPIRE:
        current = list(
            Grant.objects.current(now).filter(identity=identity).values_list("expires_at", flat=True)
        )
        if not current or any(expiry is None for expiry in current):
            raise ValidationError(
                {"decision": "'Let expire' is only for identities whose every current grant has an expiry."}
            )

    needs_signoff = decision in (D.CERTIFY, D.MODIFY) and tier in SIGNOFF_TIERS
    item.signoff_state = ReviewItem.SignOff.PENDING if needs_signoff else ReviewItem.SignOff.NOT_REQUIRED
    item.decision = decision
    item.reason = reason
    item.decided_by = actor.user
    item.decided_by_label = actor.label
    item.decided_at = now
    item.decided_via = channel
    item.display_seconds = display_seconds(item, now, shown_seconds)
    item.save()
    if not needs_signoff:
        # A high/critical certification counts once IAM signs it off.
        _mark_reviewed(identity.pk, tier, now)
    audit.record(
        actor,
        f"review.{decision}",
        item,
        before={"decision": D.PENDING},
        after={
            "decision": decision,
            "identity": identity.pk,
            "campaign": item.campaign_id,
            "removed_grants": item.removed_grants,
            "signoff": item.signoff_state,
            "remediation": item.remediation_state,
            "shown_at": item.shown_at.isoformat() if item.shown_at else None,
            "display_seconds": item.display_seconds,
            "decided_via": channel,
        },
        reason=reason,
    )
    return item


@transaction.atomic
def bulk_certify(actor, item_ids: list, reason: str | None = "") -> list[ReviewItem]:
    """Certify several low-tier items at once, only ones displayed to the reviewer. All or nothing."""
    actor = as_actor(actor)
    if actor.is_system or actor.user is None or actor.user.is_auditor:
        raise NotAllowed("Only reviewers certify items.")
    ids = sorted(set(parse_ids(item_ids, "items")))
    if not ids:
        raise ValidationError({"items": "Choose the items to certify."})
    if len(ids) > BULK_CERTIFY_MAX:
        raise ValidationError({"items": f"Certify at most {BULK_CERTIFY_MAX} items at once."})
    reason = clean_reason(reason, required=False)
    items = list(
        ReviewItem.objects.select_for_update(of=("self",)).select_related("campaign").filter(pk__in=ids)
    )
    problems = []
    if len(items) != len(ids):
        problems.append("Some items do not exist.")
    for item in items:
        who = item.snapshot.get("name", item.pk)
        if item.reviewer_id != actor.user.pk:
            raise NotAllowed(f"You are not the reviewer of {who}.")
        if not item.campaign.is_open:
            raise IllegalTransition(f"Campaign '{item.campaign}' is closed; its decisions cannot change.")
        if not item.is_pending:
            raise IllegalTransition(f"{who} was already decided.")
        if item.risk_tier != Identity.RiskTier.LOW:
            problems.append(f"{who} is {item.risk_tier} tier: review it on its own page.")
        if item.shown_at is None:
            problems.append(f"{who} was never displayed to you: open it before certifying.")
    if problems:
        raise ValidationError({"items": problems})
    now = timezone.now()
    for item in items:
        item.decision = D.CERTIFY
        item.reason = reason
        item.decided_by = actor.user
        item.decided_by_label = actor.label
        item.decided_at = now
        item.decided_via = ReviewItem.Channel.BULK
        item.display_seconds = display_seconds(item, now, None)
    ReviewItem.objects.bulk_update(
        items,
        [
            "decision",
            "reason",
            "decided_by",
            "decided_by_label",
            "decided_at",
            "decided_via",
            "display_seconds",
        ],
    )
    Identity.objects.filter(pk__in=[i.identity_id for i in items]).update(
        last_reviewed_at=now, next_review_due=(now + timedelta(days=_review_days("low"))).date()
    )
    for item in items:
        audit.record(
            actor,
            "review.certify",
            item,
            before={"decision": D.PENDING},
            after={
                "decision": D.CERTIFY,
                "identity": item.identity_id,
                "campaign": item.campaign_id,
                "bulk": True,
                "shown_at": item.shown_at.isoformat(),
                "display_seconds": item.display_seconds,
            },
            reason=reason,
        )
    return items


@transaction.atomic
def sign_off(actor, item: ReviewItem | int, note: str | None = "") -> ReviewItem:
    """IAM's second sign-off on a high/critical certification: never the decider, never an owner."""
    actor = as_actor(actor)
    item = lock_item(item)
    if actor.is_system or not is_iam(actor) or actor.user.is_auditor:
        raise NotAllowed("Only IAM approvers give the second sign-off.")
    if actor.user.pk == item.decided_by_id:
        raise NotAllowed("You made this decision; a different IAM approver must sign it off.")
    if actor.user.username in owners(item):
        raise NotAllowed("You own this identity; another IAM approver must sign off its review.")
    require_open(item)
    if not item.needs_signoff:
        raise IllegalTransition("This item is not waiting for a sign-off.")
    note = clean_reason(note, required=False, field="note")
    now = timezone.now()
    item.signoff_state = ReviewItem.SignOff.SIGNED
    item.signoff_by = actor.user
    item.signoff_at = now
    item.save(update_fields=["signoff_state", "signoff_by", "signoff_at"])
    _mark_reviewed(item.identity_id, item.risk_tier, now)
    audit.record(
        actor,
        "review.signed_off",
        item,
        before={"signoff": ReviewItem.SignOff.PENDING},
        after={
            "signoff": ReviewItem.SignOff.SIGNED,
            "identity": item.identity_id,
            "decided_by": item.decided_by_label,
        },
        reason=note,
    )
    return item


def _require_independent_confirmer(actor, item: ReviewItem) -> None:
    """Separation of duties: a remediation is confirmed by IAM or Security, never by the person who
    decided the revoke (nor an owner of the identity), or by a system job such as a connector's sync."""
    if actor.is_system:
        return
    user = actor.user
    if user is None or not user.is_active or user.is_auditor or not user.is_governor:
        raise NotAllowed(
            "Only IAM approvers or Security admins confirm a remediation (or a connector's sync)."
        )
    if user.pk == item.decided_by_id:
        raise NotAllowed(
            "You decided this revoke; someone else (IAM or Security) must confirm its remediation."
        )
    if user.username in owners(item):
        raise NotAllowed("You own this identity; another IAM approver or Security admin must confirm it.")


def _confirm(actor, item: ReviewItem, note: str) -> ReviewItem:
    if item.remediation_state not in (ReviewItem.Remediation.PENDING, ReviewItem.Remediation.FAILED):
        raise IllegalTransition("This item has no remediation waiting for confirmation.")
    before = item.remediation_state
    pending = item.identity.credentials.filter(revoked_at__isnull=False, revocation_confirmed_at__isnull=True)
    for credential in pending:  # one identity's few credentials; inventory audits each confirmation
        inventory.confirm_credential_revocation(actor, credential, note)
    item.remediation_state = ReviewItem.Remediation.CONFIRMED
    item.remediation_confirmed_at = timezone.now()
    item.remediation_confirmed_by = actor.user
    item.remediation_confirmed_by_label = actor.label
    item.remediation_note = note
    item.remediation_error = ""
    item.save(
        update_fields=[
            "remediation_state",
            "remediation_confirmed_at",
            "remediation_confirmed_by",
            "remediation_confirmed_by_label",
            "remediation_note",
            "remediation_error",
        ]
    )
    audit.record(
        actor,
        "review.remediation_confirmed",
        item,
        before={"remediation": before},
        after={
            "remediation": ReviewItem.Remediation.CONFIRMED,
            "identity": item.identity_id,
            "decided_by": item.decided_by_label,
            "confirmed_by": actor.label,
        },
        reason=note,
    )
    return item


@transaction.atomic
def confirm_remediation(actor, item: ReviewItem | int, note: str) -> ReviewItem:
    """Close a revoke's remediation with proof (a note or ticket); confirms each revoked credential.

    Someone other than the decider confirms: IAM or Security (service-layer separation of duties)."""
    actor = as_actor(actor)
    item = lock_item(item)
    _require_independent_confirmer(actor, item)
    note = clean_reason(note, required=True, field="note")[:300]
    return _confirm(actor, item, note)


def _source_actor(actor_label: str):
    label = actor_label if actor_label.startswith("system:") else f"system:{actor_label}"
    return as_actor(label)


def _pending_items(identity, states) -> list[ReviewItem]:
    identity_id = identity.pk if hasattr(identity, "pk") else int(identity)
    ids = list(
        ReviewItem.objects.filter(identity_id=identity_id, remediation_state__in=states)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    return [lock_item(pk) for pk in ids]


@transaction.atomic
def confirm_by_source(identity, actor_label: str, note: str = "") -> list[ReviewItem]:
    """A later sync saw the identity disabled at its source: confirm every pending (or failed)
    remediation of its review items, as `system:<actor_label>` (e.g. "connector:aws-prod"), audited.

    For the connectors app to call; it imports nothing from it. Returns the items confirmed."""
    actor = _source_actor(actor_label)
    note = (note or f"Seen revoked at the source by {actor.label}.")[:300]
    states = (ReviewItem.Remediation.PENDING, ReviewItem.Remediation.FAILED)
    return [_confirm(actor, item, note) for item in _pending_items(identity, states)]


@transaction.atomic
def fail_by_source(identity, actor_label: str, error: str) -> list[ReviewItem]:
    """The source refused or could not disable the identity: its pending remediations become `failed`
    with the error (audited as `system:<actor_label>`); they still wait for a confirmation."""
    actor = _source_actor(actor_label)
    error = (error or "failed at the source")[:500]
    failed = []
    for item in _pending_items(identity, (ReviewItem.Remediation.PENDING,)):
        item.remediation_state = ReviewItem.Remediation.FAILED
        item.remediation_error = error
        item.save(update_fields=["remediation_state", "remediation_error"])
        audit.record(
            actor,
            "review.remediation_failed",
            item,
            before={"remediation": ReviewItem.Remediation.PENDING},
            after={"remediation": ReviewItem.Remediation.FAILED, "identity": item.identity_id},
            reason=error,
        )
        failed.append(item)
    return failed
