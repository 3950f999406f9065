"""The frozen population of a campaign: who is in scope, what each item copies, and the hash over it.

Everything here reads; `services.launch_campaign` writes. Snapshots are built a chunk of identities
at a time (one query for the identities with their people and team, one for their current grants,
one for their live credentials, one for open findings when that feature exists), so a launch over
100,000 identities runs a few queries per 2,000 identities, never one per identity. The rows are read
as plain tuples, never as model instances.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from governance.people.models import Role, Team, User
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


def _age_days(issued_at: datetime | None, last_rotated_at: datetime | None, now: datetime) -> int | None:
    since = last_rotated_at or issued_at
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
    fields = {f.name for f in finding_model._meta.concrete_fields}
    rows = finding_model.objects.filter(identity_id__in=list(identity_ids))
    if "status" in fields:
        rows = rows.filter(status="open")
    # Plain values, not model instances: only the columns the snapshot copies are read.
    optional = ("rule", "severity", "opened_at", "first_seen_at")
    wanted = ["pk", "identity_id", *(f for f in optional if f in fields)]
    for finding in rows.order_by("identity_id", "pk").values(*wanted):
        opened = finding.get("opened_at") or finding.get("first_seen_at")
        grouped[finding["identity_id"]].append(
            {
                "id": finding["pk"],
                "rule": finding.get("rule", ""),
                "severity": finding.get("severity", ""),
                "opened_at": _iso(opened),
            }
        )
    return grouped


class PopulationRow(NamedTuple):
    """One identity of the population: what its review item copies, and its canonical snapshot."""

    identity_id: int
    team_id: int | None
    risk_tier: str
    owner_id: int | None
    owner_active: bool
    # The owner may decide the item: active and not an auditor (auditors decide nothing, not even on
    # their own API tokens' identities). Otherwise the item goes to IAM, as an orphan's does.
    owner_can_review: bool
    raw: bytes  # the canonical JSON the population hash covers and the item stores


# The identity columns a snapshot reads, fetched as one tuple per identity (joined to the owner, the
# backup owner and the team): building ~50,000 model instances with select_related was most of a launch.
_IDENTITY_COLUMNS = (
    "pk", "name", "kind", "vendor", "product", "model_name", "purpose", "status", "owner_id",
    "owner__username", "owner__is_active", "backup_owner__username", "team_id", "team__slug",
    "risk_tier", "risk_reasons", "environments", "data_classification", "autonomous", "approved_at",
    "last_used_at", "last_reviewed_at", "owner__is_superuser", "owner_is_auditor",
)  # fmt: skip
_GRANT_COLUMNS = (
    "identity_id", "pk", "resource_kind", "resource_name", "actions", "expires_at", "last_used_at", "origin"
)  # fmt: skip
_CREDENTIAL_COLUMNS = (
    "identity_id", "pk", "kind", "label", "storage", "issued_at", "expires_at", "last_rotated_at"
)  # fmt: skip


def _owner_is_auditor() -> Exists:
    """True when the identity's owner holds the auditor role (a column of the identities query)."""
    return Exists(User.groups.through.objects.filter(user_id=OuterRef("owner_id"), group__name=Role.AUDITOR))


def _grants_by_identity(identity_ids: list[int], now: datetime) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        Grant.objects.current(now)
        .filter(identity_id__in=identity_ids)
        .order_by("identity_id", "pk")
        .values_list(*_GRANT_COLUMNS)
    )
    for identity_id, pk, resource_kind, resource_name, actions, expires_at, last_used_at, origin in rows:
        grouped[identity_id].append(
            {
                "id": pk,
                "resource_kind": resource_kind,
                "resource_name": resource_name,
                "actions": list(actions),
                "expires_at": _iso(expires_at),
                "last_used_at": _iso(last_used_at),
                "origin": origin,
            }
        )
    return grouped


def _credentials_by_identity(identity_ids: list[int], now: datetime) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = (
        Credential.objects.filter(identity_id__in=identity_ids, revoked_at__isnull=True)
        .order_by("identity_id", "pk")
        .values_list(*_CREDENTIAL_COLUMNS)
    )
    for identity_id, pk, kind, label, storage, issued_at, expires_at, last_rotated_at in rows:
        grouped[identity_id].append(
            {
                "id": pk,
                "kind": kind,
                "label": label,
                "storage": storage,
                "issued_at": _iso(issued_at),
                "expires_at": _iso(expires_at),
                "last_rotated_at": _iso(last_rotated_at),
                "age_days": _age_days(issued_at, last_rotated_at, now),
            }
        )
    return grouped


def snapshot_chunks(identity_ids: list[int], now: datetime) -> Iterator[list[PopulationRow]]:
    """Yield the population in identity-id order, CHUNK identities at a time.

    Each snapshot is what the reviewer decides on, as it was at launch; its canonical bytes are what
    the population hash covers and what the item stores, so the stored item reproduces exactly those
    bytes (see `verify_population`). Four queries per chunk, whatever the grants per identity.
    """
    for start in range(0, len(identity_ids), CHUNK):
        chunk = identity_ids[start : start + CHUNK]
        identities = (
            Identity.objects.filter(pk__in=chunk)
            .annotate(owner_is_auditor=_owner_is_auditor())
            .order_by("pk")
            .values_list(*_IDENTITY_COLUMNS)
        )
        grants = _grants_by_identity(chunk, now)
        credentials = _credentials_by_identity(chunk, now)
        findings = open_findings_by_identity(chunk)
        taken_at = now.isoformat()
        rows = []
        for (
            pk, name, kind, vendor, product, model_name, purpose, status, owner_id, owner_username,
            owner_is_active, backup_owner_username, team_id, team_slug, risk_tier, risk_reasons,
            environments, data_classification, autonomous, approved_at, last_used_at, last_reviewed_at,
            owner_is_superuser, owner_is_auditor,
        ) in identities:  # fmt: skip
            owner_active = bool(owner_id and owner_is_active)
            # As User.is_auditor: the role, unless a superuser.
            owner_can_review = owner_active and not (owner_is_auditor and not owner_is_superuser)
            snapshot = {
                "id": pk,
                "name": name,
                "kind": kind,
                "vendor": vendor,
                "product": product,
                "model_name": model_name,
                "purpose": purpose,
                "status": status,
                "owner": owner_username if owner_id else None,
                "owner_active": owner_active,
                "backup_owner": backup_owner_username,
                "team": team_slug if team_id else None,
                "risk_tier": risk_tier,
                "risk_reasons": list(risk_reasons or []),
                "environments": list(environments or []),
                "data_classification": data_classification,
                "autonomous": autonomous,
                "approved_at": _iso(approved_at),
                "last_used_at": _iso(last_used_at),
                "last_reviewed_at": _iso(last_reviewed_at),
                "grants": grants.get(pk, []),
                "credentials": credentials.get(pk, []),
                "findings": findings.get(pk, []),
                "taken_at": taken_at,
            }
            rows.append(
                PopulationRow(
                    pk, team_id, risk_tier, owner_id, owner_active, owner_can_review, canonical(snapshot)
                )
            )
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
