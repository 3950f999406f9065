"""Reactivation requests: an owner asks for a suspended identity to be brought back.

Suspension is a control (an IAM decision, a revoked review, drift), so lifting it goes through the
approval engine like an intake: routed by the identity's tier, separation of duties enforced there,
never auto-approved. On approval the identity is reactivated with the request's reason; on rejection
or withdrawal it stays suspended. IAM and Security may still reactivate directly with a reason
(`inventory.services.reactivate`).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from approvals.flows.common import IdentityRequestApproval
from approvals.registry import register
from governance.actors import as_actor
from governance.errors import IllegalTransition, NotAllowed
from inventory import access, services
from inventory.models import Identity, ReactivationRequest

KIND = "reactivation"
State = ReactivationRequest.State


@transaction.atomic
def request_reactivation(actor, identity: Identity, reason: str) -> ReactivationRequest:
    """Open a reactivation request for a suspended identity (its owners, IAM or Security)."""
    from approvals.services import engine

    actor = as_actor(actor)
    user = actor.user
    identity = Identity.objects.select_for_update(of=("self",)).select_related("team").get(pk=identity.pk)
    if user is None or not access.can_edit(user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may ask for its reactivation.")
    if identity.status != Identity.Status.SUSPENDED:
        raise IllegalTransition(
            f"Only a suspended identity can be reactivated; '{identity.name}' is {identity.status}."
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why it should run again; approvers and the audit log see it."})
    if identity.owner_id is None:
        raise ValidationError({"owner": "An orphaned identity needs an owner (IAM reassigns it) first."})
    if ReactivationRequest.objects.filter(identity=identity, state=State.PENDING).exists():
        raise IllegalTransition(f"A reactivation of '{identity.name}' is already waiting for approval.")
    reactivation = ReactivationRequest.objects.create(
        identity=identity,
        requester=user,
        reason=reason[:2000],
        suspension_reason=identity.status_reason,
    )
    ReactivationApproval.audit_requested(actor, reactivation, risk_tier=identity.risk_tier)
    engine.open_identity_request(
        actor, identity, kind=KIND, subject=reactivation, title=f"Reactivate {identity.name}", requester=user
    )
    return reactivation


@register(KIND)
class ReactivationApproval(IdentityRequestApproval):
    label = "reactivation"
    model = ReactivationRequest
    verb = "identity.reactivation"
    after_key = "reactivation_request"

    def on_approved(self, request, actor):
        reactivation = self.pending_row(request)
        # Raises IllegalTransition (409, the decision rolls back) if it is no longer suspended.
        services.reactivate(
            actor, reactivation.identity, f"reactivation request #{reactivation.pk}: {reactivation.reason}"
        )
        self.mark_applied(reactivation)
