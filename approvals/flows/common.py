"""What the identity flows share: a request row about one identity that the engine's decision ends."""

from __future__ import annotations

from approvals.registry import ApprovalKind
from governance.links import link
from inventory.models import IdentityRequest
from inventory.services import close_pending_request


class IdentityRequestApproval(ApprovalKind):
    """The approval of a pending request row about one identity (an activation, reactivation or scope
    change). A rejection or a withdrawal ends the row, audited as `<verb>_<state>` with the row's id
    under `after_key`; people decide it on the row's page."""

    model: type[IdentityRequest]
    verb = ""
    after_key = ""

    def close(self, request, actor, state: str, reason: str = "") -> None:
        close_pending_request(actor, self.model, request.object_id, state, self.verb, self.after_key, reason)

    def on_rejected(self, request, actor):
        self.close(request, actor, self.model.State.REJECTED)

    def on_withdrawn(self, request, actor, reason):
        self.close(request, actor, self.model.State.WITHDRAWN, reason)

    def url(self, request) -> str:
        return link(self.model.url_name, request.object_id)
