"""The finding rules: one small function each, every one a fixed number of set-based queries.

A rule takes a `RuleContext` (the time, today's date, the current policy) and yields `Hit`s: the
identity, the severity and the evidence. Rules never write; the sweep compares hits with the open
findings and opens, refreshes or resolves them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db.models import Count, Max, Q
from django.db.models.functions import Coalesce, Lower

from governance.findings.models import Rule, Severity
from governance.policy.services import TIERS, Policy
from inventory.models import Credential, Environment, Grant, Identity, UsageEvent

# Usage signals count for this long; a quiet month resolves the finding (the record stays).
USAGE_WINDOW_DAYS = 30
# Kinds whose vendor is always checked against the allowed list; others only when a vendor is named.
AI_KINDS = (Identity.Kind.AI_ASSISTANT, Identity.Kind.IDE_PLUGIN, Identity.Kind.AI_AGENT)
HIGH_TIERS = ("high", "critical")
EVIDENCE_LIST_MAX = 20

Status = Identity.Status


@dataclass(frozen=True)
class RuleContext:
    now: datetime
    today: date
    policy: Policy


@dataclass
class Hit:
    identity_id: int
    severity: str
    evidence: dict[str, Any] = field(default_factory=dict)
    identity_name: str = ""


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value else None


def _by_tier(tier: str, normal: str, raised: str) -> str:
    return raised if tier in HIGH_TIERS else normal


def _tier_cutoffs(ctx: RuleContext, setting: str) -> dict[str, datetime]:
    return {tier: ctx.now - timedelta(days=getattr(ctx.policy.tier(tier), setting)) for tier in TIERS}


# ---------------------------------------------------------------- identity rules


def stale_unused(ctx: RuleContext) -> Iterator[Hit]:
    """Active, and no use reported within the tier's stale period (never used since approval counts)."""
    cutoffs = _tier_cutoffs(ctx, "stale_days")
    condition = Q()
    for tier, cutoff in cutoffs.items():
        condition |= Q(risk_tier=tier) & (
            Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, since__lt=cutoff)
        )
    rows = (
        Identity.objects.filter(status=Status.ACTIVE)
        .annotate(since=Coalesce("approved_at", "created_at"))
        .filter(condition)
        .values_list("id", "name", "risk_tier", "last_used_at", "since")
    )
    for pk, name, tier, last_used, since in rows:
        days = ctx.policy.tier(tier).stale_days
        idle = (ctx.now - (last_used or since)).days
        summary = (
            f"Not used for {idle} days (tier {tier} allows {days})"
            if last_used
            else f"Never used in the {idle} days since approval (tier {tier} allows {days})"
        )
        yield Hit(
            pk,
            _by_tier(tier, Severity.MEDIUM, Severity.HIGH),
            {
                "summary": summary,
                "last_used_at": _iso(last_used),
                "since": _iso(since),
                "idle_days": idle,
                "stale_days": days,
                "risk_tier": tier,
            },
            name,
        )


def orphaned_owner(ctx: RuleContext) -> Iterator[Hit]:
    """Owner missing or inactive: high. Only the backup owner inactive (or missing when required): low."""
    need_backup = int(ctx.policy.get("min_owners", 1) or 1) >= 2
    condition = Q(owner__isnull=True) | Q(owner__is_active=False) | Q(backup_owner__is_active=False)
    if need_backup:
        condition |= Q(backup_owner__isnull=True)
    rows = (
        Identity.objects.filter(status__in=[Status.ACTIVE, Status.SUSPENDED])
        .filter(condition)
        .values_list(
            "id", "name", "owner__username", "owner__is_active", "backup_owner__username",
            "backup_owner__is_active",
        )
    )  # fmt: skip
    for pk, name, owner, owner_active, backup, _backup_active in rows:
        if owner is None or not owner_active:
            summary = "No owner" if owner is None else f"Owner {owner} is no longer active"
            yield Hit(pk, Severity.HIGH, {"summary": summary, "owner": owner, "backup_owner": backup}, name)
        else:
            summary = (
                "No backup owner (policy asks for two owners)"
                if backup is None
                else f"Backup owner {backup} is no longer active"
            )
            yield Hit(pk, Severity.LOW, {"summary": summary, "owner": owner, "backup_owner": backup}, name)


def review_overdue(ctx: RuleContext) -> Iterator[Hit]:
    rows = Identity.objects.filter(status=Status.ACTIVE, next_review_due__lt=ctx.today).values_list(
        "id", "name", "risk_tier", "next_review_due", "last_reviewed_at"
    )
    for pk, name, tier, due, reviewed in rows:
        late = (ctx.today - due).days
        yield Hit(
            pk,
            _by_tier(tier, Severity.MEDIUM, Severity.HIGH),
            {
                "summary": f"Review was due {due.isoformat()} ({late} days ago)",
                "next_review_due": due.isoformat(),
                "days_overdue": late,
                "last_reviewed_at": _iso(reviewed),
                "risk_tier": tier,
            },
            name,
        )


def environment_crossing(ctx: RuleContext) -> Iterator[Hit]:
    non_prod = Q()
    for env in Environment.values:
        if env != Environment.PROD:
            non_prod |= Q(environments__has_item=env)
    rows = (
        Identity.objects.filter(status__in=[Status.ACTIVE, Status.DISCOVERED])
        .filter(environments__has_item=Environment.PROD)
        .filter(non_prod)
        .values_list("id", "name", "risk_tier", "environments")
    )
    for pk, name, tier, environments in rows:
        yield Hit(
            pk,
            _by_tier(tier, Severity.MEDIUM, Severity.HIGH),
            {
                "summary": f"Reaches prod and {', '.join(e for e in environments if e != 'prod')}",
                "environments": list(environments),
            },
            name,
        )


def unapproved_vendor(ctx: RuleContext) -> Iterator[Hit]:
    """AI kinds always; other kinds only when they name a vendor (blank = built in-house)."""
    vendors = [v.casefold() for v in ctx.policy.allowed_vendors]
    models = [m.casefold() for m in ctx.policy.get("allowed_models", []) or []]
    if not vendors and not models:
        return
    condition = Q()
    if vendors:
        condition |= ~Q(vendor_cf__in=vendors) & (Q(kind__in=AI_KINDS) | ~Q(vendor=""))
    if models:
        condition |= ~Q(model_name="") & ~Q(model_cf__in=models)
    rows = (
        Identity.objects.filter(status__in=[Status.ACTIVE, Status.DISCOVERED, Status.SUSPENDED])
        .annotate(vendor_cf=Lower("vendor"), model_cf=Lower("model_name"))
        .filter(condition)
        .values_list("id", "name", "risk_tier", "vendor", "model_name")
    )
    for pk, name, tier, vendor, model_name in rows:
        problems = []
        if vendors and vendor.casefold() not in vendors:
            problems.append(f"vendor '{vendor}'" if vendor else "no vendor named")
        if models and model_name and model_name.casefold() not in models:
            problems.append(f"model '{model_name}'")
        yield Hit(
            pk,
            _by_tier(tier, Severity.MEDIUM, Severity.HIGH),
            {
                "summary": "Not on the allowed list: " + ", ".join(problems),
                "vendor": vendor,
                "model": model_name,
            },
            name,
        )


# ---------------------------------------------------------------- credential rules


def _group_credentials(rows, describe: Callable[[tuple], dict]) -> dict[int, dict[str, Any]]:
    grouped: dict[int, dict[str, Any]] = {}
    for row in rows:
        cred_id, identity_id, name, tier = row[:4]
        entry = grouped.setdefault(identity_id, {"name": name, "tier": tier, "credentials": [], "count": 0})
        entry["count"] += 1
        if len(entry["credentials"]) < EVIDENCE_LIST_MAX:
            entry["credentials"].append(describe(row))
    return grouped


def credential_rotation_overdue(ctx: RuleContext) -> Iterator[Hit]:
    """A live static credential older than the tier's rotation period (no known date counts as old)."""
    static = ctx.policy.get("static_credential_kinds") or []
    condition = Q(rotated__isnull=True)
    for tier, cutoff in _tier_cutoffs(ctx, "rotation_days").items():
        condition |= Q(identity__risk_tier=tier, rotated__lt=cutoff)
    rows = (
        Credential.objects.filter(revoked_at__isnull=True, kind__in=static)
        .exclude(identity__status=Status.DECOMMISSIONED)
        .annotate(rotated=Coalesce("last_rotated_at", "issued_at"))
        .filter(condition)
        .order_by("identity_id", "id")
        .values_list("id", "identity_id", "identity__name", "identity__risk_tier", "kind", "label", "rotated")
    )
    grouped = _group_credentials(
        rows, lambda r: {"id": r[0], "kind": r[4], "label": r[5], "last_rotated_or_issued": _iso(r[6])}
    )
    for identity_id, entry in grouped.items():
        days = ctx.policy.tier(entry["tier"]).rotation_days
        yield Hit(
            identity_id,
            _by_tier(entry["tier"], Severity.MEDIUM, Severity.HIGH),
            {
                "summary": f"{entry['count']} static credential(s) not rotated within {days} days",
                "rotation_days": days,
                "count": entry["count"],
                "credentials": entry["credentials"],
            },
            entry["name"],
        )


def credential_no_expiry(ctx: RuleContext) -> Iterator[Hit]:
    rows = (
        Credential.objects.filter(revoked_at__isnull=True, expires_at__isnull=True)
        .exclude(kind__in=list(Credential.FEDERATED_KINDS))
        .exclude(identity__status=Status.DECOMMISSIONED)
        .order_by("identity_id", "id")
        .values_list("id", "identity_id", "identity__name", "identity__risk_tier", "kind", "label")
    )
    grouped = _group_credentials(rows, lambda r: {"id": r[0], "kind": r[4], "label": r[5]})
    for identity_id, entry in grouped.items():
        yield Hit(
            identity_id,
            _by_tier(entry["tier"], Severity.LOW, Severity.MEDIUM),
            {
                "summary": f"{entry['count']} credential(s) never expire",
                "count": entry["count"],
                "credentials": entry["credentials"],
            },
            entry["name"],
        )


# ---------------------------------------------------------------- grant rules


def denied_grant(ctx: RuleContext) -> Iterator[Hit]:
    """Current grants that a deny rule of the current policy matches (for the identity's kind/envs)."""
    deny_rules = ctx.policy.deny_rules
    if not deny_rules:
        return
    condition = None
    for rule in deny_rules:
        one = Q()
        if rule.get("kinds"):
            one &= Q(identity__kind__in=rule["kinds"])
        if rule.get("environments"):
            envs = Q()
            for env in rule["environments"]:
                envs |= Q(identity__environments__has_item=env)
            one &= envs
        if rule.get("actions"):
            acts = Q()
            for action in rule["actions"]:
                acts |= Q(actions__has_item=action)
            one &= acts
        condition = one if condition is None else condition | one
    rows = (
        Grant.objects.current(ctx.now)
        .filter(identity__status__in=[Status.ACTIVE, Status.DISCOVERED])
        .filter(condition)
        .order_by("identity_id", "id")
        .values_list(
            "id", "identity_id", "identity__name", "identity__risk_tier", "identity__kind",
            "identity__environments", "resource_kind", "resource_name", "actions",
        )
    )  # fmt: skip
    grouped: dict[int, dict[str, Any]] = {}
    for gid, identity_id, name, tier, kind, envs, rkind, rname, actions in rows:
        broken = ctx.policy.denied(kind, envs or [], actions or [])
        if not broken:  # the SQL pre-filter is wider than the exact check
            continue
        entry = grouped.setdefault(identity_id, {"name": name, "tier": tier, "grants": [], "codes": set()})
        entry["codes"].update(r["code"] for r in broken)
        if len(entry["grants"]) < EVIDENCE_LIST_MAX:
            entry["grants"].append(
                {
                    "id": gid,
                    "resource": f"{rkind}:{rname}",
                    "actions": list(actions),
                    "deny_rules": [r["code"] for r in broken],
                    "messages": [r.get("message", "") for r in broken],
                }
            )
    for identity_id, entry in grouped.items():
        yield Hit(
            identity_id,
            Severity.CRITICAL if entry["tier"] == "critical" else Severity.HIGH,
            {
                "summary": "Denied by policy: " + ", ".join(sorted(entry["codes"])),
                "deny_rules": sorted(entry["codes"]),
                "grants": entry["grants"],
            },
            entry["name"],
        )


# ---------------------------------------------------------------- usage rules


def _recent_use(ctx: RuleContext, flag: str, *fields: str, **counts):
    """Per identity, its usage events flagged `flag` in the window: how many, the last, and `counts`."""
    since = ctx.now - timedelta(days=USAGE_WINDOW_DAYS)
    return (
        UsageEvent.objects.filter(**{flag: True}, at__gte=since)
        .values("identity_id", "identity__name", "identity__status", *fields)
        .annotate(events=Count("id"), last_at=Max("at"), **counts)
        .order_by("identity_id")
    )


def _usage_hit(row: dict, severity: str, what: str, **evidence) -> Hit:
    return Hit(
        row["identity_id"],
        severity,
        {
            "summary": f"{row['events']} use(s) {what} in the last {USAGE_WINDOW_DAYS} days",
            "events": row["events"],
            **evidence,
            "last_event_at": _iso(row["last_at"]),
            "identity_status": row["identity__status"],
            "window_days": USAGE_WINDOW_DAYS,
        },
        row["identity__name"],
    )


def used_after_revocation(ctx: RuleContext) -> Iterator[Hit]:
    for row in _recent_use(ctx, "after_revocation"):
        yield _usage_hit(row, Severity.CRITICAL, "after suspension or decommissioning")


# Drift with these actions is high whatever the tier (critical on a critical-tier identity).
OUT_OF_SCOPE_SENSITIVE_ACTIONS = ("read_secrets", "write_secrets", "merge", "deploy", "admin")
OUT_OF_SCOPE_SEVERITY_BY_TIER = {
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.HIGH,
}


def out_of_scope_severity(tier: str, sensitive: bool) -> str:
    """Severity by tier and action: secrets, merge, deploy and admin are high (critical on a critical
    identity); any other unapproved use is as severe as the identity's tier (high at most)."""
    if sensitive:
        return Severity.CRITICAL if tier == "critical" else Severity.HIGH
    return OUT_OF_SCOPE_SEVERITY_BY_TIER.get(tier, Severity.HIGH)


def out_of_scope_use(ctx: RuleContext) -> Iterator[Hit]:
    sensitive = Count("id", filter=Q(action__in=OUT_OF_SCOPE_SENSITIVE_ACTIONS))
    for row in _recent_use(ctx, "out_of_scope", "identity__risk_tier", sensitive=sensitive):
        yield _usage_hit(
            row,
            out_of_scope_severity(row["identity__risk_tier"], row["sensitive"] > 0),
            "outside the approved grants",
            sensitive_events=row["sensitive"],
        )


# ---------------------------------------------------------------- fed by other features


def exception_expired(ctx: RuleContext) -> Iterator[Hit]:
    """Hits come from the exceptions feature through `registry.register_finding_source`."""
    from governance.jobs import registry

    for _name, source in registry.finding_sources(Rule.EXCEPTION_EXPIRED):
        for hit in source(ctx.now):
            yield hit if isinstance(hit, Hit) else Hit(*hit)


def _from_sources(rule: str) -> Callable[[RuleContext], Iterator[Hit]]:
    """A rule whose hits another feature detects (the connectors), registered as finding sources."""

    def hits(ctx: RuleContext) -> Iterator[Hit]:
        from governance.jobs import registry

        for _name, source in registry.finding_sources(rule):
            for hit in source(ctx.now):
                yield hit if isinstance(hit, Hit) else Hit(*hit)

    hits.__name__ = rule
    hits.__doc__ = f"Hits for {rule} come from `registry.register_finding_source`."
    return hits


unmanaged_identity = _from_sources(Rule.UNMANAGED_IDENTITY)
unapproved_entitlement = _from_sources(Rule.UNAPPROVED_ENTITLEMENT)
connector_failing = _from_sources(Rule.CONNECTOR_FAILING)
static_secret_in_mcp_config = _from_sources(Rule.STATIC_SECRET_IN_MCP_CONFIG)
# Fed by governance.threats (agent threat profiles), which reads the findings above.
agent_threat_uncontrolled = _from_sources(Rule.AGENT_THREAT_UNCONTROLLED)
# Fed by workload identity: a trust binding exists, yet a static credential is still live.
static_credential_where_federation_exists = _from_sources(Rule.STATIC_CREDENTIAL_WHERE_FEDERATION_EXISTS)


RULE_FUNCTIONS: dict[str, Callable[[RuleContext], Iterable[Hit]]] = {
    Rule.STALE_UNUSED: stale_unused,
    Rule.CREDENTIAL_ROTATION_OVERDUE: credential_rotation_overdue,
    Rule.CREDENTIAL_NO_EXPIRY: credential_no_expiry,
    Rule.ORPHANED_OWNER: orphaned_owner,
    Rule.REVIEW_OVERDUE: review_overdue,
    Rule.EXCEPTION_EXPIRED: exception_expired,
    Rule.ENVIRONMENT_CROSSING: environment_crossing,
    Rule.DENIED_GRANT: denied_grant,
    Rule.UNAPPROVED_VENDOR: unapproved_vendor,
    Rule.USED_AFTER_REVOCATION: used_after_revocation,
    Rule.OUT_OF_SCOPE_USE: out_of_scope_use,
    Rule.UNMANAGED_IDENTITY: unmanaged_identity,
    Rule.UNAPPROVED_ENTITLEMENT: unapproved_entitlement,
    Rule.CONNECTOR_FAILING: connector_failing,
    Rule.STATIC_SECRET_IN_MCP_CONFIG: static_secret_in_mcp_config,
    Rule.AGENT_THREAT_UNCONTROLLED: agent_threat_uncontrolled,
    Rule.STATIC_CREDENTIAL_WHERE_FEDERATION_EXISTS: static_credential_where_federation_exists,
}


def collect_hits(ctx: RuleContext) -> dict[tuple[str, int], Hit]:
    """Every rule's hits, keyed by (rule, identity id). A rule yields one hit per identity at most."""
    hits: dict[tuple[str, int], Hit] = {}
    for rule, func in RULE_FUNCTIONS.items():
        for hit in func(ctx):
            hits.setdefault((str(rule), hit.identity_id), hit)
    return hits


def count_by_rule(keys: Iterable[tuple[str, int]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for rule, _identity in keys:
        counts[rule] += 1
    return dict(counts)
