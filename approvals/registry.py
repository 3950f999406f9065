"""What each kind of approval does with its outcome.

A flow (intake, exception, ownership transfer, scope change, reactivation, just-in-time access)
subclasses `ApprovalKind`, overrides the hooks it needs, and registers it once:

    @register("exception")
    class ExceptionApproval(ApprovalKind):
        def on_approved(self, request, actor): ...

Hooks run inside the engine's transaction, so what they write commits or rolls back with the
decision; they receive the locked `ApprovalRequest` and the actor of the decision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from governance.links import link

if TYPE_CHECKING:
    from approvals.models import ApprovalRequest
    from governance.actors import Actor

_HANDLERS: dict[str, ApprovalKind] = {}


class ApprovalKind:
    """Default hooks: do nothing. Override the ones the flow needs."""

    kind = ""
    label = "request"

    def on_approved(self, request: ApprovalRequest, actor: Actor) -> None:
        """The last step was approved: make the change happen."""

    def on_rejected(self, request: ApprovalRequest, actor: Actor) -> None:
        """Rejected: nothing is created or changed."""

    def on_changes_requested(self, request: ApprovalRequest, actor: Actor) -> None:
        """Sent back to the requester to edit and resubmit."""

    def on_withdrawn(self, request: ApprovalRequest, actor: Actor, reason: str) -> None:
        """Withdrawn by the requester, or expired (reason 'expired')."""

    def on_tier_raised(self, request: ApprovalRequest, actor: Actor, reason: str) -> None:
        """IAM raised the risk tier; keep the subject's own tier in step."""

    def url(self, request: ApprovalRequest) -> str:
        """Where people decide it in the browser."""
        return link("approval-detail", request.pk)


def register(kind: str):
    def decorator(cls: type[ApprovalKind]) -> type[ApprovalKind]:
        handler = cls()
        handler.kind = kind
        _HANDLERS[kind] = handler
        return cls

    return decorator


def handler_for(kind: str) -> ApprovalKind:
    try:
        return _HANDLERS[kind]
    except KeyError:
        # An unregistered kind still gets the default (do-nothing) behaviour rather than a crash.
        return ApprovalKind()


def registered_kinds() -> list[str]:
    return sorted(_HANDLERS)
