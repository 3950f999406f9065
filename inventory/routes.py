"""Where the inventory hands an identity to an approval flow.

The inventory decides *when* an identity needs approval (registered or triaged into a tier whose route
has more than one step, an owner's edit that changes its scope); the approval flows in
`approvals.flows` decide *how*. Approvals registers them here from `ApprovalsConfig.ready()`, so the
inventory imports nothing above it:

- `activation()`: `needs_route(tier)`, `routed_tiers()`, `request_activation(actor, identity, *,
  origin, reason)`, `activate_now(actor, identity_id, reason)`;
- `scope()`: `request_scope_change(actor, identity, ...)`;
- `notifications()`: the outbox that tells people (`notify(event, recipients, subject, body, path)`,
  `recipients_from(users)`), which ownership transfers use.
"""

from __future__ import annotations

from types import ModuleType

_flows: dict[str, ModuleType] = {}


def register(name: str, flow: ModuleType) -> None:
    _flows[name] = flow


def _flow(name: str) -> ModuleType:
    try:
        return _flows[name]
    except KeyError:
        raise RuntimeError(f"no '{name}' approval flow registered: is the approvals app installed?") from None


def activation() -> ModuleType:
    return _flow("activation")


def scope() -> ModuleType:
    return _flow("scope")


def notifications() -> ModuleType:
    return _flow("notifications")
