"""Intake: an owner asks for a new identity; the engine routes it; final approval creates it.

Drafts are saved as they come; submitting checks completeness and the deny rules, tiers the request
and opens (or, after a send-back, resubmits) its approval. The `intake` handler below acts on the
engine's outcomes: on final approval it creates the identity, active, with exactly the approved grants.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from approvals.models import ApprovalRequest, IntakeRequest
from approvals.registry import ApprovalKind, register
from approvals.services import engine
from approvals.services.intake_checks import ANSWER_FIELDS, answers_of, assess_answers, clean_answers, preview
from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.links import link
from governance.people.models import Role, User
from inventory.models import Grant, Identity
from inventory.services import create_identity
from inventory.snapshots import snapshot_value

KIND = "intake"


# What an intake's audit events show of it: its answers (the purpose aside) and where it stands.
SNAPSHOT_FIELDS = (
    "name", "kind", "vendor", "product", "model_name", "owner", "backup_owner", "team", "environments",
    "grants", "credential_kind", "data_classification", "autonomous", "state", "risk_tier",
)  # fmt: skip


def snapshot(intake: IntakeRequest) -> dict[str, Any]:
    return {name: snapshot_value(intake, name) for name in SNAPSHOT_FIELDS}


def can_request(user: User | None) -> bool:
    return (
        user is not None
        and user.is_active
        and not user.is_auditor
        and user.has_role(Role.OWNER, Role.IAM, Role.SECURITY)
    )


def visible_to(user: User):
    """Governors and auditors see every request; others see theirs (as requester or owner-to-be)."""
    qs = IntakeRequest.objects.all()
    if user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR):
        return qs
    return qs.filter(Q(requester=user) | Q(owner=user) | Q(backup_owner=user))


def _lock_for_requester(actor: Actor, intake: IntakeRequest, what: str) -> IntakeRequest:
    """The request's row, locked with its people and team, once the actor is shown to be its requester."""
    intake = (
        IntakeRequest.objects.select_for_update(of=("self",))
        .select_related("requester", "owner", "backup_owner", "team")
        .get(pk=intake.pk)
    )
    if actor.user is None or actor.user.pk != intake.requester_id:
        raise NotAllowed(f"Only the requester ({intake.requester.username}) can {what}.")
    return intake


def _apply(intake: IntakeRequest, answers: dict[str, Any]) -> None:
    for key, value in answers.items():
        setattr(intake, key, value)
    intake.risk_tier, intake.risk_reasons = assess_answers(
        answers_of(intake), floor=intake.tier_floor, floor_reason=intake.tier_floor_reason
    )


# ---------------------------------------------------------------- drafts


@transaction.atomic
def create_draft(actor, data: dict[str, Any]) -> IntakeRequest:
    """Save answers as a draft (incomplete is fine); the owner defaults to the requester."""
    actor = as_actor(actor)
    user = actor.user
    if not can_request(user):
        raise NotAllowed("Tool owners, IAM and Security submit intake requests; your role does not.")
    data = {k: v for k, v in data.items() if k in ANSWER_FIELDS}
    data.setdefault("owner", user)
    if data.get("owner") is None:
        data["owner"] = user
    if data.get("team") is None and data["owner"] is not None:
        data["team"] = data["owner"].team
    answers = clean_answers(data, complete=False)
    intake = IntakeRequest(requester=user)
    _apply(intake, answers)
    intake.save()
    audit.record(actor, "intake.created", intake, after=snapshot(intake))
    return intake


@transaction.atomic
def update_draft(actor, intake: IntakeRequest, changes: dict[str, Any]) -> IntakeRequest:
    """Edit a draft, or a request sent back for changes. Only the requester edits."""
    actor = as_actor(actor)
    intake = _lock_for_requester(actor, intake, "edit this request")
    if not intake.is_editable:
        raise IllegalTransition(
            f"A {intake.get_state_display()} request cannot be edited; only drafts and requests sent back."
        )
    changes = {k: v for k, v in changes.items() if k in ANSWER_FIELDS}
    merged = {**answers_of(intake), **changes}
    answers = clean_answers(merged, complete=False)
    before = snapshot(intake)
    _apply(intake, answers)
    intake.save()
    changed_before, changed_after = audit.changes(before, snapshot(intake))
    audit.record(actor, "intake.updated", intake, before=changed_before, after=changed_after)
    return intake


# ---------------------------------------------------------------- submit / withdraw


def _check_name_free(intake: IntakeRequest, name: str) -> None:
    if Identity.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": f"An identity named '{name}' already exists; choose another name."})
    clash = (
        IntakeRequest.objects.filter(
            name__iexact=name,
            state__in=(IntakeRequest.State.SUBMITTED, IntakeRequest.State.CHANGES_REQUESTED),
        )
        .exclude(pk=intake.pk)
        .first()
    )
    if clash is not None:
        raise ValidationError({"name": f"Request #{clash.pk} already asks for an identity named '{name}'."})


@transaction.atomic
def submit(actor, intake: IntakeRequest, *, comment: str = "") -> IntakeRequest:
    """Check completeness and deny rules, tier it, and route it (or auto-approve what policy allows)."""
    actor = as_actor(actor)
    intake = _lock_for_requester(actor, intake, "submit this request")
    if intake.state not in IntakeRequest.EDITABLE_STATES:
        raise IllegalTransition(
            f"This request is {intake.get_state_display()}; it cannot be submitted again."
        )
    answers = clean_answers(answers_of(intake), complete=True)
    _check_name_free(intake, answers["name"])
    result = preview(answers, floor=intake.tier_floor, floor_reason=intake.tier_floor_reason)
    if result.blocking:
        # Later an active exception may cover a denied combination; until then it cannot go ahead.
        raise ValidationError(
            {
                "grants": [
                    f"{c.message}. Remove the action or environment, or ask Security for an exception."
                    for c in result.blocking
                ]
            }
        )
    now = timezone.now()
    before = intake.state
    _apply(intake, answers)
    intake.state = IntakeRequest.State.SUBMITTED
    intake.submitted_at = now
    intake.save()
    audit.record(
        actor,
        "intake.submitted",
        intake,
        before={"state": before},
        after={**snapshot(intake), "risk_reasons": intake.risk_reasons, "route": result.route_label},
        reason=comment,
    )
    parties = [intake.owner, intake.backup_owner]
    title = f"New {intake.get_kind_display()}: {intake.name}"
    if intake.approval_id is None:
        approval = engine.open_request(
            actor,
            kind=KIND,
            subject=intake,
            title=title,
            requester=intake.requester,
            tier=intake.risk_tier,
            parties=parties,
            team=intake.team,
            auto_approve_rule=result.auto_rule,
        )
        IntakeRequest.objects.filter(pk=intake.pk).update(approval=approval)
    else:
        engine.resubmit(
            actor,
            intake.approval,
            tier=intake.risk_tier,
            title=title,
            parties=parties,
            team=intake.team,
            comment=comment,
            auto_approve_rule=result.auto_rule,
        )
    intake.refresh_from_db()
    return intake


@transaction.atomic
def withdraw(actor, intake: IntakeRequest, *, reason: str = "") -> IntakeRequest:
    actor = as_actor(actor)
    intake = _lock_for_requester(actor, intake, "withdraw this request")
    if intake.state not in IntakeRequest.OPEN_STATES:
        raise IllegalTransition(f"This request is {intake.get_state_display()}; it cannot be withdrawn.")
    if intake.approval_id is not None:
        engine.withdraw(actor, intake.approval, reason=reason or "withdrawn by the requester")
        intake.refresh_from_db()
        return intake
    _set_state(actor, intake, IntakeRequest.State.WITHDRAWN, reason or "withdrawn by the requester")
    return intake


@transaction.atomic
def create_and_submit(actor, data: dict[str, Any], *, comment: str = "") -> IntakeRequest:
    """The form's "Submit" on a new request: all or nothing (a refused submission leaves no draft)."""
    return submit(actor, create_draft(actor, data), comment=comment)


@transaction.atomic
def update_and_submit(
    actor, intake: IntakeRequest, changes: dict[str, Any], *, comment: str = ""
) -> IntakeRequest:
    """Edit and (re)submit in one go; a refused submission keeps the earlier saved answers."""
    return submit(actor, update_draft(actor, intake, changes), comment=comment)


# ---------------------------------------------------------------- decisions (through the engine)


def _approval(intake: IntakeRequest) -> ApprovalRequest:
    if intake.approval_id is None:
        raise IllegalTransition("This request has not been submitted yet; there is nothing to decide.")
    return intake.approval


def decide(actor, intake: IntakeRequest, decision: str, *, comment: str = "", step_id=None) -> IntakeRequest:
    engine.decide(actor, _approval(intake), decision, comment=comment, step_id=step_id)
    intake.refresh_from_db()
    return intake


def approve(actor, intake, *, comment: str = "", step_id=None) -> IntakeRequest:
    return decide(actor, intake, engine.Decision.APPROVE, comment=comment, step_id=step_id)


def reject(actor, intake, *, comment: str, step_id=None) -> IntakeRequest:
    return decide(actor, intake, engine.Decision.REJECT, comment=comment, step_id=step_id)


def request_changes(actor, intake, *, comment: str, step_id=None) -> IntakeRequest:
    return decide(actor, intake, engine.Decision.REQUEST_CHANGES, comment=comment, step_id=step_id)


def raise_tier(actor, intake: IntakeRequest, tier: str, reason: str) -> IntakeRequest:
    engine.raise_tier(actor, _approval(intake), tier, reason)
    intake.refresh_from_db()
    return intake


# ---------------------------------------------------------------- the engine's hooks for intake


def _set_state(actor: Actor, intake: IntakeRequest, state: str, reason: str = "", **extra) -> None:
    before = intake.state
    if state not in IntakeRequest.TRANSITIONS[before]:
        raise IllegalTransition(f"An intake request cannot move from {before} to {state}.")
    now = timezone.now()
    fields = {"state": state, "state_reason": reason[:300], "updated_at": now, **extra}
    if state in (IntakeRequest.State.APPROVED, IntakeRequest.State.REJECTED, IntakeRequest.State.WITHDRAWN):
        fields["decided_at"] = now
    IntakeRequest.objects.filter(pk=intake.pk).update(**fields)
    for key, value in fields.items():
        setattr(intake, key, value)
    after = {"state": state}
    if "identity" in extra:
        after["identity"] = extra["identity"].pk
    audit.record(actor, f"intake.{state}", intake, before={"state": before}, after=after, reason=reason)


def _ask_named_people(actor: Actor, intake: IntakeRequest, identity: Identity) -> None:
    """Ask the owner and backup owner the requester named (other than themselves) to accept."""
    from inventory.models import OwnershipTransfer
    from inventory.ownership import create_transfers

    requester = intake.requester
    by = f"{requester.username} (intake #{intake.pk})"
    reason = f"Named in intake request #{intake.pk} by {requester.username}."
    if intake.owner_id is not None and intake.owner_id != requester.pk:
        create_transfers(
            actor,
            [identity],
            intake.owner,
            reason,
            role=OwnershipTransfer.Role.OWNER,
            # The requester named themselves backup: once the owner accepts, they take that seat.
            keep_as_backup=intake.backup_owner_id == requester.pk,
            proposed_by=by,
        )
    if intake.backup_owner_id is not None and intake.backup_owner_id != requester.pk:
        create_transfers(
            actor,
            [identity],
            intake.backup_owner,
            reason,
            role=OwnershipTransfer.Role.BACKUP_OWNER,
            proposed_by=by,
        )


@register(KIND)
class IntakeApproval(ApprovalKind):
    label = "intake request"

    def _intake(self, request: ApprovalRequest) -> IntakeRequest:
        return (
            IntakeRequest.objects.select_for_update(of=("self",))
            .select_related("owner", "backup_owner", "team", "requester")
            .get(pk=request.object_id)
        )

    def on_approved(self, request, actor):
        """Create the identity, active, with exactly the approved answers and grants; link both ways.

        Nobody becomes owner or backup owner of it without agreeing: the requester agreed by asking,
        so a seat named for them is theirs at once. An owner named by someone else is asked through
        an ownership transfer (the requester holds the seat until that person accepts; declining
        leaves it with the requester); a backup owner named by someone else is a nomination they
        accept or decline."""
        intake = self._intake(request)
        requester = intake.requester
        named_owner, named_backup = intake.owner, intake.backup_owner
        owner = named_owner if named_owner is None or named_owner.pk == requester.pk else requester
        backup = named_backup if named_backup is not None and named_backup.pk == requester.pk else None
        if backup is not None and owner is not None and backup.pk == owner.pk:
            backup = None  # the requester named someone else owner and themselves backup: see below
        credentials = (
            [
                {
                    "kind": intake.credential_kind,
                    "label": f"{intake.name} (intake #{intake.pk})"[:200],
                    "storage": "",
                }
            ]
            if intake.credential_kind
            else []
        )
        identity = create_identity(
            actor,
            data={
                "name": intake.name,
                "kind": intake.kind,
                "vendor": intake.vendor,
                "product": intake.product,
                "model_name": intake.model_name,
                "purpose": intake.purpose,
                "owner": owner,
                "backup_owner": backup,
                "team": intake.team,
                "environments": list(intake.environments),
                "data_classification": intake.data_classification,
                "autonomous": intake.autonomous,
                "risk_tier": request.tier,
                "risk_reasons": list(intake.risk_reasons),
                "source": "intake",
                "external_id": intake.external_id,
            },
            grants=[dict(g) for g in intake.grants],
            credentials=credentials,
            status=Identity.Status.ACTIVE,
            grant_origin=Grant.Origin.INTAKE,
            reason=f"Approved intake request #{intake.pk}",
            check_role=False,
        )
        _ask_named_people(actor, intake, identity)
        _set_state(actor, intake, IntakeRequest.State.APPROVED, identity=identity)

    def on_rejected(self, request, actor):
        _set_state(actor, self._intake(request), IntakeRequest.State.REJECTED)

    def on_changes_requested(self, request, actor):
        _set_state(actor, self._intake(request), IntakeRequest.State.CHANGES_REQUESTED)

    def on_withdrawn(self, request, actor, reason):
        _set_state(actor, self._intake(request), IntakeRequest.State.WITHDRAWN, reason)

    def on_tier_raised(self, request, actor, reason):
        intake = self._intake(request)
        intake.tier_floor, intake.tier_floor_reason = request.tier, f"{reason} ({actor.label})"[:500]
        tier, reasons = assess_answers(
            answers_of(intake), floor=intake.tier_floor, floor_reason=intake.tier_floor_reason
        )
        IntakeRequest.objects.filter(pk=intake.pk).update(
            tier_floor=intake.tier_floor,
            tier_floor_reason=intake.tier_floor_reason,
            risk_tier=tier,
            risk_reasons=reasons,
        )

    def url(self, request):
        return link("intake-detail", request.object_id)
