"""The dashboard's figures: aggregations only, a fixed number of queries whatever the estate size.

Each figure carries the URL of the list behind it (the inventory, credentials or findings page with
the same filters), so a count on the dashboard is always one click from the rows it counts. The daily
posture snapshot (governance/dashboard/snapshot.py) stores the estate-wide figures from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone

from governance.findings.models import Finding, Rule, Severity
from governance.links import link
from governance.policy.services import TIERS, current_policy
from inventory.models import CREDENTIAL_AGE_BANDS, NO_DATE_BAND, REVOCATION_CONFIRMED, Credential, Identity

LIVE_STATUSES = [s for s in Identity.Status.values if s != Identity.Status.DECOMMISSIONED]
AI_KINDS = (Identity.Kind.AI_ASSISTANT, Identity.Kind.AI_AGENT, Identity.Kind.IDE_PLUGIN)
AGE_BANDS = CREDENTIAL_AGE_BANDS  # defined with the credential queryset the list filters with


@dataclass(frozen=True)
class Figure:
    label: str
    value: int
    url: str = ""  # the list behind the figure; empty when no list page shows these rows


def _url(name: str, params: list[tuple[str, str]], team: str | None) -> str:
    if team:
        params = [*params, ("team", team)]
    return link(name, query=params) if params else link(name)


def inventory_url(team: str | None = None, *, live: bool = False, **filters) -> str:
    params = [(k, str(v)) for k, v in filters.items()]
    if live:
        params += [("status", s) for s in LIVE_STATUSES]
    return _url("inventory:list", params, team)


def findings_url(team: str | None = None, **filters) -> str:
    return _url("findings", [(k, str(v)) for k, v in filters.items()] + [("status", "open")], team)


def identities(team: str | None = None):
    qs = Identity.objects.all()
    return qs.filter(team__slug=team) if team else qs


def counts(queryset, field: str) -> dict[str, int]:
    """{value: rows} for one column, in one grouped query."""
    return dict(queryset.order_by().values_list(field).annotate(n=Count("id")).values_list(field, "n"))


def _breakdown_counts(team: str | None = None) -> tuple[dict, dict, dict]:
    """Identities by status (all), and by kind and tier (live only). One grouped query."""
    rows = identities(team).order_by().values_list("status", "kind", "risk_tier").annotate(n=Count("id"))
    by_status: dict[str, int] = {}
    by_kind: dict[str, int] = {}
    by_tier: dict[str, int] = {}
    for status, kind, tier, n in rows:
        by_status[status] = by_status.get(status, 0) + n
        if status != Identity.Status.DECOMMISSIONED:
            by_kind[kind] = by_kind.get(kind, 0) + n
            by_tier[tier] = by_tier.get(tier, 0) + n
    return by_status, by_kind, by_tier


def identity_breakdown(team: str | None = None) -> dict:
    by_status, by_kind, by_tier = _breakdown_counts(team)
    labels_status = dict(Identity.Status.choices)
    labels_kind = dict(Identity.Kind.choices)
    return {
        "by_status": [
            Figure(str(labels_status[s]), by_status[s], inventory_url(team, status=s))
            for s in Identity.Status.values
            if s in by_status
        ],
        "by_kind": [
            Figure(str(labels_kind[k]), by_kind[k], inventory_url(team, live=True, kind=k))
            for k in Identity.Kind.values
            if k in by_kind
        ],
        "by_tier": [
            Figure(t, by_tier[t], inventory_url(team, live=True, risk_tier=t)) for t in TIERS if t in by_tier
        ],
    }


def ownership_and_reviews(team: str | None = None, today=None) -> dict:
    """Share of live identities with a named, active owner, and share reviewed on time. One query."""
    today = today or timezone.localdate()
    agg = (
        identities(team)
        .live()
        .aggregate(
            total=Count("id"),
            with_active_owner=Count("id", filter=Q(owner__isnull=False, owner__is_active=True)),
            no_owner=Count("id", filter=Q(owner__isnull=True)),
            review_overdue=Count("id", filter=Q(next_review_due__lt=today)),
        )
    )
    total = agg["total"]
    on_time = total - agg["review_overdue"]
    return {
        "live": Figure("Live identities", total, inventory_url(team, live=True)),
        "with_active_owner": agg["with_active_owner"],
        "owner_share": round(agg["with_active_owner"] / total, 4) if total else None,
        "owner_inactive": total - agg["with_active_owner"] - agg["no_owner"],
        "no_owner": Figure("No owner", agg["no_owner"], inventory_url(team, live=True, no_owner="true")),
        "reviewed_on_time": on_time,
        "review_share": round(on_time / total, 4) if total else None,
        "review_overdue": Figure(
            "Review overdue", agg["review_overdue"], inventory_url(team, review_overdue="true")
        ),
    }


def credentials_url(team: str | None = None, **filters) -> str:
    return _url("credentials", [(k, str(v)) for k, v in filters.items()], team)


def live_credentials(team: str | None = None):
    """What the credentials figures count; the credentials list filters with the same queryset methods."""
    qs = Credential.objects.live()
    return qs.filter(identity__team__slug=team) if team else qs


def credentials(team: str | None = None, now=None) -> dict:
    """Unrevoked credentials of live identities, by age band since rotation (or issue) and by kind.
    One grouped query."""
    rows = (
        live_credentials(team)
        .with_age_band(now)
        .order_by()
        .values_list("age_band", "kind")
        .annotate(n=Count("id"))
    )
    by_band: dict[str, int] = {}
    federated = static = 0
    for band_label, kind, n in rows:
        by_band[band_label] = by_band.get(band_label, 0) + n
        if kind in Credential.FEDERATED_KINDS:
            federated += n
        else:
            static += n
    bands = [
        Figure(f"{label} days", by_band.get(label, 0), credentials_url(team, state="live", age_band=label))
        for label, _low, _high in AGE_BANDS
    ]
    if by_band.get(NO_DATE_BAND):
        bands.append(
            Figure(
                "No issue or rotation date",
                by_band[NO_DATE_BAND],
                credentials_url(team, state="live", age_band=NO_DATE_BAND),
            )
        )
    return {
        "by_band": bands,
        "static": Figure(
            "Static (keys, tokens, passwords)",
            static,
            credentials_url(team, state="live", kind_class="static"),
        ),
        "federated": Figure(
            "Short-lived federated (OIDC, SPIFFE)",
            federated,
            credentials_url(team, state="live", kind_class="federated"),
        ),
        "total": static + federated,
        "total_url": credentials_url(team, state="live"),
    }


def stale(team: str | None = None, now=None) -> dict:
    """Active identities not used within their tier's stale period (never used counts). One query."""
    now = now or timezone.now()
    policy = current_policy()
    days = {tier: policy.tier(tier).stale_days for tier in TIERS}
    agg = (
        identities(team)
        .filter(status=Identity.Status.ACTIVE)
        .aggregate(
            **{
                tier: Count(
                    "id",
                    filter=Q(risk_tier=tier)
                    & (Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - timedelta(days=d))),
                )
                for tier, d in days.items()
            }
        )
    )
    per_tier = [
        Figure(
            f"{tier} (unused {days[tier]}+ days)",
            agg[tier],
            inventory_url(team, status="active", risk_tier=tier, unused_days=days[tier]),
        )
        for tier in TIERS
    ]
    return {"per_tier": per_tier, "total": sum(agg.values())}


def findings(team: str | None = None) -> dict:
    """Open findings by rule and by severity. One grouped query."""
    qs = Finding.objects.filter(status=Finding.Status.OPEN)
    if team:
        qs = qs.filter(identity__team__slug=team)
    rows = qs.order_by().values_list("rule", "severity").annotate(n=Count("id"))
    by_rule: dict[str, int] = {}
    by_severity: dict[str, int] = {}
    cells: dict[tuple[str, str], int] = {}
    for rule, severity, n in rows:
        by_rule[rule] = by_rule.get(rule, 0) + n
        by_severity[severity] = by_severity.get(severity, 0) + n
        cells[(rule, severity)] = n
    rule_labels = dict(Finding._meta.get_field("rule").choices)
    severities = list(reversed(Severity.values))
    return {
        "by_rule": [
            Figure(str(rule_labels.get(r, r)), n, findings_url(team, rule=r))
            for r, n in sorted(by_rule.items(), key=lambda kv: -kv[1])
        ],
        "by_severity": [Figure(s, by_severity.get(s, 0), findings_url(team, severity=s)) for s in severities],
        "cells": [
            {
                "rule": str(rule_labels.get(r, r)),
                "figures": [
                    Figure(s, cells.get((r, s), 0), findings_url(team, rule=r, severity=s))
                    for s in severities
                ],
            }
            for r in sorted(by_rule)
        ],
        "severities": severities,
        "by_rule_code": by_rule,
        "total": sum(by_rule.values()),
    }


def ai_vendors(team: str | None = None) -> list[dict]:
    """Live AI assistants, agents and IDE plugins by vendor and model. One grouped query."""
    rows = (
        identities(team)
        .live()
        .filter(kind__in=AI_KINDS)
        .order_by()
        .values_list("vendor", "model_name")
        .annotate(n=Count("id"))
        .order_by("vendor", "model_name")
    )
    from inventory.filters import NONE

    return [
        {
            "vendor": v or "—",
            "model": m or "—",
            "count": n,
            "url": inventory_url(team, live=True, vendor=v or NONE, model_name=m or NONE)
            + "".join(f"&kind={k}" for k in AI_KINDS),
        }
        for v, m, n in rows
    ]


def revocation_lag(team: str | None = None) -> dict:
    """Credential revocation confirm lag (revoked -> confirmed gone): mean hours and pending. One query."""
    qs = Credential.objects.revoked()
    if team:
        qs = qs.filter(identity__team__slug=team)
    lag = ExpressionWrapper(F("revocation_confirmed_at") - F("revoked_at"), output_field=DurationField())
    done = REVOCATION_CONFIRMED  # the same condition the list's revocation_confirmed state uses
    agg = qs.aggregate(
        confirmed=Count("id", filter=done),
        pending=Count("id", filter=~done),
        total=_sum_duration(lag, done),
    )
    confirmed, pending = agg["confirmed"], agg["pending"]
    total_seconds = _seconds(agg["total"])
    return {
        "confirmed": Figure(
            "Confirmed revocations", confirmed, credentials_url(team, state="revocation_confirmed")
        ),
        "pending": Figure(
            "Awaiting confirmation", pending, credentials_url(team, state="revocation_pending")
        ),
        "mean_hours": round(total_seconds / confirmed / 3600, 1) if confirmed else None,
    }


def _sum_duration(expression, condition):
    return Sum(expression, filter=condition, output_field=DurationField())


def _seconds(value) -> float:
    if value is None:
        return 0.0
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value) / 1_000_000  # SQLite may hand back microseconds


def estate_summary(now=None) -> dict:
    """The estate-wide figures the daily snapshot stores (plain JSON: numbers and dicts)."""
    by_status, by_kind, by_tier = _breakdown_counts()
    now = now or timezone.now()
    own = ownership_and_reviews(today=timezone.localdate(now))
    found = findings()
    stale_figures = stale(now=now)
    creds = credentials(now=now)
    return {
        "identities_by_status": by_status,
        "identities_by_tier": by_tier,
        "identities_by_kind": by_kind,
        "live_identities": own["live"].value,
        "with_active_owner": own["with_active_owner"],
        "share_with_active_owner": own["owner_share"],
        "share_reviewed_on_time": own["review_share"],
        "review_overdue": own["review_overdue"].value,
        "open_findings_by_rule": found["by_rule_code"],
        "open_findings_by_severity": {f.label: f.value for f in found["by_severity"] if f.value},
        "open_findings": found["total"],
        "stale": found["by_rule_code"].get("stale_unused", 0),  # open stale-access findings
        "stale_identities": stale_figures["total"],
        "credentials_static": creds["static"].value,
        "credentials_federated": creds["federated"].value,
    }


def agent_threats(team: str | None = None) -> dict:
    """Agents with uncontrolled threats: the open `agent_threat_uncontrolled` findings (one per AI
    identity), by severity (each linked to its list) and by threat (from each finding's evidence).
    One query."""
    qs = Finding.objects.filter(status=Finding.Status.OPEN, rule=Rule.AGENT_THREAT_UNCONTROLLED)
    if team:
        qs = qs.filter(identity__team__slug=team)
    by_severity: dict[str, int] = {}
    by_threat: dict[str, int] = {}
    names: dict[str, str] = {}
    total = 0
    for severity, evidence in qs.order_by().values_list("severity", "evidence"):
        total += 1
        by_severity[severity] = by_severity.get(severity, 0) + 1
        for threat in (evidence or {}).get("threats", []):
            code = threat.get("code", "")
            by_threat[code] = by_threat.get(code, 0) + 1
            names[code] = f"{code} {threat.get('name', '')}".strip()
    rule = Rule.AGENT_THREAT_UNCONTROLLED
    return {
        "total": Figure("agents", total, findings_url(team, rule=rule)),
        "by_severity": [
            Figure(s, by_severity[s], findings_url(team, rule=rule, severity=s))
            for s in reversed(Severity.values)
            if by_severity.get(s)
        ],
        # No list filters findings by threat: these counts stay unlinked (the total's list holds them).
        "by_threat": [Figure(names[c], by_threat[c]) for c in sorted(by_threat)],
    }
