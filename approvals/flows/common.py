"""What the identity flows share: a request row about one identity that the engine's decision ends."""

from __future__ import annotations

from django.utils import timezone

from approvals.registry import ApprovalKind
from governance import audit
from governance.errors import IllegalTransition
from governance.links import link
from inventory.models import IdentityRequest
from inventory.services import close_pending_request


class IdentityRequestApproval(ApprovalKind):
    """The approval of a pending request row about one identity (an activation, reactivation or scope
    change). Opening it is audited as `<verb>_requested`, a rejection or a withdrawal that ends it as
    `<verb>_<state>`, each with the row's id under `after_key`; people decide it on the row's page."""

    model: type[IdentityRequest]
    verb = ""
    after_key = ""

    @classmethod
    def audit_requested(cls, actor, row: IdentityRequest, **after) -> None:
        """The row just opened, on its identity's record, with the request's reason."""
        audit.record(
            actor,
            f"{cls.verb}_requested",
            row.identity,
            after={cls.after_key: row.pk, **after},
            reason=row.reason,
        )

    def locked_row(self, request) -> IdentityRequest:
        return (
            self.model.objects.select_for_update(of=("self",))
            .select_related("identity")
            .get(pk=request.object_id)
        )

    def pending_row(self, request) -> IdentityRequest:
        """The row, locked, while it is still pending (the engine approves it once)."""
        row = self.locked_row(request)
        if row.state != self.model.State.PENDING:
            raise IllegalTransition(f"This {self.label} request is already {row.state}.")
        return row

    def mark_applied(self, row: IdentityRequest) -> None:
        self.model.objects.filter(pk=row.pk).update(state=self.model.State.APPLIED, decided_at=timezone.now())

    def close(self, request, actor, state: str, reason: str = "") -> None:
        close_pending_request(actor, self.model, request.object_id, state, self.verb, self.after_key, reason)

    def on_rejected(self, request, actor):
        self.close(request, actor, self.model.State.REJECTED)

    def on_withdrawn(self, request, actor, reason):
        self.close(request, actor, self.model.State.WITHDRAWN, reason)

    def url(self, request) -> str:
        return link(self.model.url_name, request.object_id)
