"""Risk tiering from intake answers and grants. Every point added carries a reason shown to people."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from inventory.models import TIER_ORDER, Action, DataClassification, Environment, Identity, RiskTier

WRITE_ACTIONS = {Action.WRITE_CODE, Action.OPEN_PR, Action.WRITE_DATA, Action.WRITE_TICKETS, Action.RUN_CI}
HIGH_IMPACT_ACTIONS = {Action.MERGE, Action.DEPLOY, Action.WRITE_SECRETS, Action.ADMIN}
SECRET_ACTIONS = {Action.READ_SECRETS, Action.WRITE_SECRETS}


@dataclass
class RiskAssessment:
    tier: str
    score: int
    reasons: list[str] = field(default_factory=list)


def max_tier(a: str, b: str) -> str:
    return a if TIER_ORDER[a] >= TIER_ORDER[b] else b


def assess(
    *,
    kind: str,
    environments: Iterable[str],
    actions: Iterable[str],
    data_classification: str = DataClassification.INTERNAL,
    autonomous: bool = False,
) -> RiskAssessment:
    envs = set(environments)
    acts = set(actions)
    score = 0
    reasons: list[str] = []
    floor = RiskTier.LOW
    prod = Environment.PROD in envs
    if prod:
        score += 2
        reasons.append("Reaches production (+2).")
    elif Environment.STAGING in envs:
        score += 1
        reasons.append("Reaches staging (+1).")
    high = sorted(acts & HIGH_IMPACT_ACTIONS)
    if high:
        score += 3
        reasons.append(f"High-impact actions: {', '.join(high)} (+3).")
    if Action.READ_SECRETS in acts:
        score += 2
        reasons.append("Reads secrets (+2).")
    writes = sorted(acts & WRITE_ACTIONS)
    if writes and not high:
        score += 1
        reasons.append(f"Can change things: {', '.join(writes)} (+1).")
    if data_classification == DataClassification.CONFIDENTIAL:
        score += 1
        reasons.append("Touches confidential data (+1).")
    elif data_classification == DataClassification.RESTRICTED:
        score += 2
        reasons.append("Touches restricted data (+2).")
    if autonomous:
        score += 1
        reasons.append("Acts autonomously, without a person confirming each step (+1).")
    if kind == Identity.Kind.AI_AGENT:
        score += 1
        reasons.append("AI agent: plans and acts on its own (+1).")
    if prod and acts & (SECRET_ACTIONS | {Action.ADMIN}):
        floor = RiskTier.HIGH
        reasons.append("Secrets or admin in production: at least high.")
    if prod and Action.ADMIN in acts and autonomous:
        floor = RiskTier.CRITICAL
        reasons.append("Autonomous admin in production: critical.")
    if score >= 7:
        tier = RiskTier.CRITICAL
    elif score >= 4:
        tier = RiskTier.HIGH
    elif score >= 2:
        tier = RiskTier.MEDIUM
    else:
        tier = RiskTier.LOW
    tier = max_tier(tier, floor)
    if not reasons:
        reasons.append("No production reach, no write or privileged actions.")
    return RiskAssessment(tier=str(tier), score=score, reasons=reasons)


def assess_identity(identity: Identity, **overrides) -> RiskAssessment:
    """The computed tier of an identity as it is now (its current grants), or as it would be with
    `overrides` (kind, environments, actions, data_classification, autonomous). This is the floor:
    IAM may raise a tier above it, never set one below it."""
    if "actions" in overrides:
        actions = overrides.pop("actions")
    elif identity.pk is None:
        actions = set()
    else:
        actions = {a for acts in identity.grants.current().values_list("actions", flat=True) for a in acts}
    return assess(
        kind=overrides.get("kind", identity.kind),
        environments=overrides.get("environments", identity.environments),
        actions=actions,
        data_classification=overrides.get("data_classification", identity.data_classification),
        autonomous=overrides.get("autonomous", identity.autonomous),
    )


def below_floor_message(tier: str, result: RiskAssessment) -> str:
    """What the API and the form say when someone sets a tier below the computed one."""
    return (
        f"The risk tier cannot be {tier}: its grants and answers compute {result.tier} "
        f"({' '.join(result.reasons)}). A tier may be raised above the computed one, never set below it."
    )
