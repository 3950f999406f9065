"""Policy → steps: which roles must approve a request of a given tier, in which order."""

from __future__ import annotations

from governance.policy.services import MAX_AUTO_APPROVE_TIER, Policy, current_policy
from inventory.models import READ_ONLY_ACTIONS, TIER_ORDER

ROLE_LABELS = {"iam": "IAM", "security": "Security"}


def steps_for(tier: str, policy: Policy | None = None) -> list[str]:
    """low/medium: iam; high: iam, security; critical: iam, iam, security (as the policy says)."""
    policy = policy or current_policy()
    return list(policy.tier(tier).steps)


def describe_steps(roles: list[str]) -> str:
    """'IAM, then Security' — how people read a route."""
    return ", then ".join(ROLE_LABELS.get(r, r) for r in roles) if roles else "none"


def remaining_roles(required: list[str], approved: list[str]) -> list[str]:
    """Roles still needed after `approved` ones, keeping the policy's order (used when a tier is raised)."""
    left = list(approved)
    remaining = []
    for role in required:
        if role in left:
            left.remove(role)
        else:
            remaining.append(role)
    return remaining


def auto_approval_rule(
    *,
    tier: str,
    environments: list[str],
    actions: list[str],
    vendor: str,
    policy: Policy | None = None,
) -> tuple[str | None, list[str]]:
    """(rule text, []) when policy marks this safe to approve without a person; else (None, why not).

    Never above MAX_AUTO_APPROVE_TIER (medium), whatever the document says: a document stored before
    the cap, or written around the validation, still cannot approve a high or critical request.
    """
    policy = policy or current_policy()
    config = policy.get("auto_approve") or {}
    if not config.get("enabled"):
        return None, ["Automatic approval is switched off in the policy."]
    why_not = []
    max_tier = config.get("max_tier", "low")
    if TIER_ORDER.get(max_tier, -1) > TIER_ORDER[MAX_AUTO_APPROVE_TIER]:
        max_tier = MAX_AUTO_APPROVE_TIER
    if TIER_ORDER.get(tier, 99) > TIER_ORDER[MAX_AUTO_APPROVE_TIER]:
        why_not.append(
            f"Tier {tier} always needs people: automatic approval stops at {MAX_AUTO_APPROVE_TIER}."
        )
    elif TIER_ORDER.get(tier, 99) > TIER_ORDER.get(max_tier, -1):
        why_not.append(f"Tier {tier} is above the automatic-approval maximum ({max_tier}).")
    allowed_envs = set(config.get("environments") or [])
    if not environments or not set(environments) <= allowed_envs:
        why_not.append(
            f"Only {', '.join(sorted(allowed_envs)) or 'no'} environments are approved automatically."
        )
    if config.get("read_only", True) and (not actions or not set(actions) <= set(READ_ONLY_ACTIONS)):
        why_not.append("Only read-only actions are approved automatically.")
    if config.get("allowed_vendor_only", True) and not (vendor and policy.vendor_allowed(vendor)):
        why_not.append("Only vendors on the allowed list are approved automatically.")
    if why_not:
        return None, why_not
    rule = (
        f"auto_approve (policy v{policy.version}): tier ≤ {max_tier}, "
        f"environments ⊆ {{{', '.join(sorted(allowed_envs))}}}"
        + (", read-only actions" if config.get("read_only", True) else "")
        + (", allowed vendor" if config.get("allowed_vendor_only", True) else "")
    )
    return rule, []
