"""Where a revocation in Steward reaches the real estate: a hook the inventory owns.

A higher layer (the connectors app) registers a handler once, in its AppConfig.ready():

    from inventory import enforcement
    enforcement.register(handler)

`handler(actor, identity_ids, cause=..., reason=..., grant_ids=...)` runs inside the transaction of
the change that asked for it (suspend, decommission, a review's revoke, an expired just-in-time
grant), so it can mark the identities' remediation `pending` and audit that in the same
transaction; whatever it sends to the source it sends after commit. With no handler registered
(connectors not installed) nothing happens and the change stands as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# Why the source is asked to disable or revoke something.
SUSPENDED = "suspended"
DECOMMISSIONED = "decommissioned"
CREDENTIALS_REVOKED = "credentials_revoked"  # a review's revoke, or IAM revoking credentials
GRANT_EXPIRED = "grant_expired"  # a just-in-time grant reached the end of its window

Handler = Callable[..., Any]
_handlers: dict[str, Handler] = {}


def register(name: str, handler: Handler) -> None:
    _handlers[name] = handler


def request(
    actor,
    identity_ids: Iterable[int],
    *,
    cause: str,
    reason: str = "",
    grant_ids: Iterable[int] = (),
) -> None:
    """Ask every registered handler to take `identity_ids` away at their source (inside the caller's
    transaction). Identities no connector manages are ignored by the handlers."""
    ids = sorted({int(pk) for pk in identity_ids})
    if not ids:
        return
    grants = sorted({int(pk) for pk in grant_ids})
    for handler in _handlers.values():
        handler(actor, ids, cause=cause, reason=reason, grant_ids=grants)
