"""Activation requests: an imported, registered or triaged identity waits for its tier's route.

Importing, registering (POST identities/) and triaging are done by one person. When the identity's tier
needs more than that one step (the policy's route: high is IAM then Security, critical adds a second
IAM approver), it is not made active by that person: it lands `proposed` and an approval request of
kind `activation` goes through the approval engine (steps by tier, separation of duties: the importer
and the owners decide nothing, never auto-approved). On approval it becomes `active`; on rejection or
withdrawal it stays `proposed` and shows in triage again. Tiers whose route is a single step are still
activated at once by the IAM/Security person who imports or triages them (they are that step).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from approvals.flows.common import IdentityRequestApproval
from approvals.registry import register
from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import IllegalTransition, NotAllowed
from inventory import services
from inventory.models import TIER_ORDER, ActivationRequest, Identity

KIND = "activation"
State = ActivationRequest.State
Origin = ActivationRequest.Origin


def route_for(tier: str) -> list[str]:
    from approvals.routing import steps_for

    return steps_for(tier)


def needs_route(tier: str) -> bool:
    """True when the tier's approval route has more than one step (one person is not enough)."""
    return len(route_for(tier)) > 1


def routed_tiers() -> frozenset[str]:
    """Every tier that `needs_route`, read from the policy once (a bulk import asks for each row)."""
    from approvals.routing import steps_for
    from governance.policy.services import current_policy

    policy = current_policy()
    return frozenset(t for t in TIER_ORDER if len(steps_for(t, policy)) > 1)


def pending_for(identity: Identity) -> ActivationRequest | None:
    return ActivationRequest.objects.filter(identity=identity, state=State.PENDING).first()


@transaction.atomic
def request_activation(actor, identity: Identity, *, origin: str, reason: str) -> ActivationRequest:
    """Open the approval of a `proposed` identity's activation, routed by its tier (IAM/Security ask)."""
    from approvals.services import engine

    actor = as_actor(actor)
    user = actor.user
    if actor.is_system or user is None or not user.is_governor:
        raise NotAllowed("Only IAM approvers and Security admins ask for an identity's activation.")
    identity = Identity.objects.select_for_update(of=("self",)).select_related("team").get(pk=identity.pk)
    if identity.status != Identity.Status.PROPOSED:
        raise IllegalTransition(
            f"Only a proposed identity waits for activation; '{identity.name}' is {identity.status}."
        )
    if identity.owner_id is None:
        raise ValidationError({"owner": "Give the identity an owner before asking for its activation."})
    if ActivationRequest.objects.filter(identity=identity, state=State.PENDING).exists():
        raise IllegalTransition(f"The activation of '{identity.name}' is already waiting for approval.")
    reason = (reason or "").strip() or f"{Origin(origin).label} by {actor.label}"
    item = ActivationRequest.objects.create(
        identity=identity,
        requester=user,
        origin=origin,
        reason=reason[:2000],
        risk_tier=identity.risk_tier,
    )
    ActivationApproval.audit_requested(
        actor, item, origin=origin, risk_tier=identity.risk_tier, route=route_for(identity.risk_tier)
    )
    engine.open_identity_request(
        actor,
        identity,
        kind=KIND,
        subject=item,
        title=f"Activate {identity.name} ({Origin(origin).label})",
        requester=user,
    )
    return item


def activate_now(actor: Actor, identity_id: int, reason: str) -> Identity:
    """Make a discovered or proposed identity active (the caller checked that it may)."""
    identity = services._move(actor, identity_id, Identity.Status.ACTIVE, reason, "identity.activated")
    Identity.objects.filter(pk=identity.pk, approved_at__isnull=True).update(approved_at=timezone.now())
    identity.refresh_from_db()
    return identity


@register(KIND)
class ActivationApproval(IdentityRequestApproval):
    label = "activation"
    model = ActivationRequest
    verb = "identity.activation"
    after_key = "activation_request"

    def on_approved(self, request, actor):
        item = self.pending_row(request)
        identity = Identity.objects.select_for_update().get(pk=item.identity_id)
        if identity.status != Identity.Status.PROPOSED:
            raise IllegalTransition(f"'{identity.name}' is {identity.status}; it can no longer be activated.")
        if identity.owner_id is None:
            raise IllegalTransition(f"'{identity.name}' lost its owner meanwhile; IAM reassigns it first.")
        activate_now(actor, identity.pk, f"activation request #{item.pk} approved: {item.reason}")
        self.mark_applied(item)

    def on_tier_raised(self, request, actor, reason):
        """IAM raised the tier while deciding: the request and the identity carry the new tier."""
        item = self.locked_row(request)
        ActivationRequest.objects.filter(pk=item.pk).update(risk_tier=request.tier)
        identity = Identity.objects.select_for_update().get(pk=item.identity_id)
        if TIER_ORDER[request.tier] > TIER_ORDER[identity.risk_tier]:
            before = identity.risk_tier
            Identity.objects.filter(pk=identity.pk).update(
                risk_tier=request.tier,
                risk_reasons=[*identity.risk_reasons, f"Raised to {request.tier} by {actor.label}: {reason}"],
                version=F("version") + 1,
                updated_at=timezone.now(),
            )
            audit.record(
                actor,
                "identity.updated",
                identity,
                before={"risk_tier": before},
                after={"risk_tier": request.tier},
                reason=reason,
            )
