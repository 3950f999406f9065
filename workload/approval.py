"""A trust binding on a high or critical identity, or one an owner asks for, follows the identity
tier's approval route, like any scope change: steps by tier, separation of duties, the engine's
audit. On approval the binding becomes active; on rejection or withdrawal it never does."""

from __future__ import annotations

from approvals.registry import ApprovalKind, register
from governance.links import link
from workload import services
from workload.models import TrustBinding
from workload.services import KIND


@register(KIND)
class TrustBindingApproval(ApprovalKind):
    label = "trust binding"

    def on_approved(self, request, actor):
        services.activate_binding(actor, TrustBinding(pk=request.object_id))

    def on_rejected(self, request, actor):
        services.close_binding(actor, request.object_id, TrustBinding.State.REJECTED)

    def on_withdrawn(self, request, actor, reason):
        services.close_binding(actor, request.object_id, TrustBinding.State.REJECTED, reason)

    def url(self, request) -> str:
        binding = (
            TrustBinding.objects.filter(pk=request.object_id).values_list("identity_id", flat=True).first()
        )
        return link("inventory:detail", binding) if binding else link("approval-detail", request.pk)
