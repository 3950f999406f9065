"""The frozen population of a campaign: who is in scope, what each item copies, and the hash over it.

Everything here reads; `services.launch_campaign` writes. Snapshots are built a chunk of identities
at a time (one query for the identities with their people and team, one for their current grants,
one for their live credentials, one for open findings when that feature exists), so a launch over
100,000 identities runs a few queries per 2,000 identities, never one per identity.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from governance.people.models import Team
from inventory.models import Credential, Grant, Identity

CHUNK = 2000
SCOPE_KEYS = ("risk_tiers", "kinds", "teams", "environments")
# Identities that can be reviewed: owned and approved, in use or suspended. Discovered ones have no
# accountable owner yet (the findings sweep handles them) and decommissioned ones keep only history.
REVIEWABLE_STATUSES = (Identity.Status.ACTIVE, Identity.Status.SUSPENDED)


# ---------------------------------------------------------------- scope


def clean_scope(scope: Any) -> dict[str, list[str]]:
    """Validate a scope document; an empty or missing list means 'all'."""
    from inventory.models import Environment, RiskTier

    if scope in (None, ""):
        scope = {}
    if not isinstance(scope, dict):
        raise ValidationError({"scope": "Give an object with risk_tiers, kinds, teams and environments."})
    unknown = set(scope) - set(SCOPE_KEYS)
    errors: list[str] = []
    if unknown:
        errors.append(f"Unknown scope keys: {', '.join(sorted(unknown))}. Use {', '.join(SCOPE_KEYS)}.")
    allowed = {
        "risk_tiers": set(RiskTier.values),
        "kinds": set(Identity.Kind.values),
        "environments": set(Environment.values),
    }
    cleaned: dict[str, list[str]] = {}
    for key in SCOPE_KEYS:
        values = scope.get(key) or []
        if isinstance(values, str):
            values = [values]
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            errors.append(f"{key}: give a list of names.")
            continue
        values = sorted(set(values))
        if key in allowed and (bad := [v for v in values if v not in allowed[key]]):
            errors.append(
                f"{key}: {', '.join(bad)} not valid; choose from {', '.join(sorted(allowed[key]))}."
            )
        cleaned[key] = values
    if cleaned.get("teams"):
        known = set(Team.objects.filter(slug__in=cleaned["teams"]).values_list("slug", flat=True))
        if missing := [t for t in cleaned["teams"] if t not in known]:
            errors.append(f"teams: no team with slug {', '.join(missing)}.")
    if errors:
        raise ValidationError({"scope": errors})
    return cleaned


def parse_due(value: Any, now: datetime) -> datetime:
    """A due time: an aware datetime, an ISO 8601 time, or a date (meaning the end of that day)."""
    due = value
    if isinstance(value, str):
        due = parse_datetime(value.strip()) if value.strip() else None
        if due is None and (day := parse_date(value.strip())):
            due = datetime.combine(day, datetime.max.time().replace(microsecond=0))
    elif value is not None and not isinstance(value, datetime) and hasattr(value, "year"):
        due = datetime.combine(value, datetime.max.time().replace(microsecond=0))
    if not isinstance(due, datetime):
        raise ValidationError({"due_at": "Give a due date (YYYY-MM-DD) or an ISO 8601 time."})
    if timezone.is_naive(due):
        due = timezone.make_aware(due)
    if due <= now:
        raise ValidationError({"due_at": "The due date must be in the future."})
    return due


def scope_queryset(scope: dict[str, list[str]]) -> QuerySet[Identity]:
    """Reviewable identities matching a cleaned scope."""
    qs = Identity.objects.filter(status__in=REVIEWABLE_STATUSES)
    if scope.get("risk_tiers"):
        qs = qs.filter(risk_tier__in=scope["risk_tiers"])
    if scope.get("kinds"):
        qs = qs.filter(kind__in=scope["kinds"])
    if scope.get("teams"):
        qs = qs.filter(team__slug__in=scope["teams"])
    if scope.get("environments"):
        any_env = Q()
        for env in scope["environments"]:
            any_env |= Q(environments__has_item=env)
        qs = qs.filter(any_env)
    return qs


def not_under_review() -> Exists:
    from governance.reviews.models import ReviewItem

    return ~Exists(ReviewItem.objects.filter(identity=OuterRef("pk"), in_open_campaign=True))


# ---------------------------------------------------------------- snapshots


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _age_days(credential: Credential, now: datetime) -> int | None:
    since = credential.last_rotated_at or credential.issued_at
    return (now - since).days if since else None


def findings_model():
    """The findings feature is built separately; reviews show open findings only when it is installed.

    Looked up in the app registry (not imported) so that a findings package without its tables is
    never touched.
    """
    from django.apps import apps

    try:
        return apps.get_model("governance", "Finding")
    except LookupError:
        return None


def open_findings_by_identity(identity_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
    finding_model = findings_model()
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if finding_model is None:
        return grouped
    rows = finding_model.objects.filter(identity_id__in=list(identity_ids))
    if hasattr(finding_model, "status"):
        rows = rows.filter(status="open")
    for finding in rows.order_by("identity_id", "pk"):
        opened = getattr(finding, "opened_at", None) or getattr(finding, "first_seen_at", None)
        grouped[finding.identity_id].append(
            {
                "id": finding.pk,
                "rule": getattr(finding, "rule", ""),
                "severity": getattr(finding, "severity", ""),
                "opened_at": _iso(opened),
            }
        )
    return grouped


def identity_snapshot(identity: Identity, findings: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    """What the reviewer decides on, as it was at launch. Uses prefetched grants and credentials."""
    return {
        "id": identity.pk,
        "name": identity.name,
        "kind": identity.kind,
        "vendor": identity.vendor,
        "product": identity.product,
        "model_name": identity.model_name,
        "purpose": identity.purpose,
        "status": identity.status,
        "owner": identity.owner.username if identity.owner_id else None,
        "owner_active": bool(identity.owner_id and identity.owner.is_active),
        "backup_owner": identity.backup_owner.username if identity.backup_owner_id else None,
        "team": identity.team.slug if identity.team_id else None,
        "risk_tier": identity.risk_tier,
        "risk_reasons": list(identity.risk_reasons or []),
        "environments": list(identity.environments or []),
        "data_classification": identity.data_classification,
        "autonomous": identity.autonomous,
        "approved_at": _iso(identity.approved_at),
        "last_used_at": _iso(identity.last_used_at),
        "last_reviewed_at": _iso(identity.last_reviewed_at),
        "grants": [
            {
                "id": g.pk,
                "resource_kind": g.resource_kind,
                "resource_name": g.resource_name,
                "actions": list(g.actions),
                "expires_at": _iso(g.expires_at),
                "last_used_at": _iso(g.last_used_at),
                "origin": g.origin,
            }
            for g in identity.current_grants
        ],
        "credentials": [
            {
                "id": c.pk,
                "kind": c.kind,
                "label": c.label,
                "storage": c.storage,
                "issued_at": _iso(c.issued_at),
                "expires_at": _iso(c.expires_at),
                "last_rotated_at": _iso(c.last_rotated_at),
                "age_days": _age_days(c, now),
            }
            for c in identity.live_credentials
        ],
        "findings": findings,
        "taken_at": now.isoformat(),
    }


def snapshot_chunks(
    identity_ids: list[int], now: datetime
) -> Iterator[list[tuple[Identity, dict[str, Any], bytes]]]:
    """Yield (identity, snapshot, canonical bytes) in identity-id order, CHUNK identities at a time.

    The canonical bytes are what the population hash covers; the snapshot stored is parsed back from
    them, so the stored item reproduces exactly those bytes (see `verify_population`).
    """
    for start in range(0, len(identity_ids), CHUNK):
        chunk = identity_ids[start : start + CHUNK]
        identities = (
            Identity.objects.filter(pk__in=chunk)
            .select_related("owner", "backup_owner", "team")
            .prefetch_related(
                Prefetch(
                    "grants",
                    queryset=Grant.objects.current(now).order_by("pk"),
                    to_attr="current_grants",
                ),
                Prefetch(
                    "credentials",
                    queryset=Credential.objects.filter(revoked_at__isnull=True).order_by("pk"),
                    to_attr="live_credentials",
                ),
            )
            .order_by("pk")
        )
        findings = open_findings_by_identity(chunk)
        rows = []
        for identity in identities:
            raw = canonical(identity_snapshot(identity, findings.get(identity.pk, []), now))
            rows.append((identity, json.loads(raw), raw))
        yield rows


# ---------------------------------------------------------------- the population hash


def canonical(snapshot: dict[str, Any]) -> bytes:
    return json.dumps(
        snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    ).encode("utf-8")


class PopulationHasher:
    """SHA-256 over the canonical JSON list of snapshots, fed in identity-id order."""

    def __init__(self) -> None:
        self._sha = hashlib.sha256(b"[")
        self.count = 0

    def add(self, snapshot: dict[str, Any]) -> None:
        self.add_canonical(canonical(snapshot))

    def add_canonical(self, raw: bytes) -> None:
        if self.count:
            self._sha.update(b",")
        self._sha.update(raw)
        self.count += 1

    def hexdigest(self) -> str:
        final = self._sha.copy()
        final.update(b"]")
        return final.hexdigest()


def population_hash(snapshots: Iterable[dict[str, Any]]) -> tuple[int, str]:
    hasher = PopulationHasher()
    for snapshot in snapshots:
        hasher.add(snapshot)
    return hasher.count, hasher.hexdigest()
