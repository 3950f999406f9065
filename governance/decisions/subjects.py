"""The facts a decision needs about an identity, read once and cached until something changes.

The hot path runs ONE query per batch of questions: it finds the identities and, in the same query,
reads everything that decides whether the cached facts are still good — the identity's `version`
(bumped by every inventory change: edits, suspend, reactivate, decommission), its status, whether its
owner's account is active, a fingerprint of its grants (count of unended grants and the newest grant
id), its open critical findings and the active policy version. These form the cache key, so a change
produces a new key and the next decision reads fresh facts; nothing has to remember to invalidate.

A grant whose expiry passes needs no new key either: the engine drops grants past their `expires_at`
at evaluation time. Code that edits a grant's actions in place (rather than ending it and creating a
new one) must call `identity_changed()`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, Max, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from governance import prepared
from governance.exceptions.models import PolicyException
from governance.findings.models import Finding
from governance.policy.cedar import ExceptionFact, GrantFact, Subject
from governance.policy.models import CedarPolicySet
from inventory.models import Grant, Identity

CACHE_SECONDS = 600
_LOCAL: OrderedDict[str, Subject] = OrderedDict()
_LOCAL_SIZE = 10_000
_LOCAL_LOCK = threading.Lock()


# ---------------------------------------------------------------- hooks other features fill


def active_exceptions(identity_ids: Iterable[int]) -> dict[int, list[ExceptionFact]]:
    """Active, approved exceptions per identity, as (id, rule, expiry) facts.

    The exceptions register (issue 6) fills this in: an exception whose `rule` is a Cedar policy id
    lifts that policy's forbid for the identity, and decisions cite it. Until then: none.
    Keep `exceptions_marker()` in step, so approving, revoking or expiring an exception changes the
    cache key.
    """

    ids = list(identity_ids)
    found: dict[int, list[ExceptionFact]] = {}
    if not ids:
        return found
    rows = PolicyException.objects.active(now()).filter(identity_id__in=ids).order_by("pk")
    for pk, identity_id, rule, expires_at in rows.values_list("pk", "identity_id", "rule", "expires_at"):
        found.setdefault(identity_id, []).append(
            ExceptionFact(id=str(pk), rule=rule, expires_at=expires_at.timestamp())
        )
    return found


def exceptions_marker():
    """An expression for the lookup query that changes whenever an identity's active exceptions do
    (a Subquery of the newest change time).

    The newest `updated_at` of the identity's exceptions: every state change sets it. An active
    exception that passes its expiry before the expiry job runs is dropped by the engine
    (its ExceptionFact carries `expires_at`) — see `active_exceptions`' own filter too."""
    return Subquery(
        PolicyException.objects.filter(identity=OuterRef("pk"))
        .order_by()
        .values("identity")
        .annotate(newest=Max("updated_at"))
        .values("newest")[:1]
    )


def _marker_part(value) -> str:
    """The exceptions marker as a cache-key part: a timestamp (no spaces), or '' when none."""
    if value is None:
        return ""
    return str(value.timestamp()) if hasattr(value, "timestamp") else str(value)


def critical_findings_count():
    """Open critical findings per identity, as a subquery."""
    return Subquery(
        Finding.objects.filter(identity=OuterRef("pk"), status="open", severity="critical")
        .order_by()
        .values("identity")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )


# ---------------------------------------------------------------- invalidation


def identity_changed(identity_id: int) -> None:
    """Force fresh facts for one identity (bumps its version, which is part of the cache key)."""
    Identity.objects.filter(pk=identity_id).update(version=F("version") + 1)


# ---------------------------------------------------------------- the lookup query


@dataclass(frozen=True)
class IdentityRow:
    pk: int
    name: str
    status: str
    owner_id: int | None
    backup_owner_id: int | None
    cache_key: str
    policy_version: int | None
    policy_digest: str | None
    critical_findings: int
    values: dict[str, Any]


VALUE_FIELDS = (
    "pk",
    "name",
    "kind",
    "risk_tier",
    "status",
    "environments",
    "version",
    "created_at",
    "source",
    "external_id",
    "owner_id",
    "backup_owner_id",
    "owner__is_active",
)


def _lookup_queryset(ids: list[int], external: list[tuple[str, str]]):
    condition = Q(pk__in=ids) if ids else Q()
    for source, external_id in external:
        condition |= Q(source=source, external_id=external_id)
    open_grants = (
        Grant.objects.filter(identity=OuterRef("pk"), ended_at__isnull=True)
        .order_by()
        .values("identity")
        .annotate(n=Count("pk"))
        .values("n")[:1]
    )
    newest_grant = (
        Grant.objects.filter(identity=OuterRef("pk"))
        .order_by()
        .values("identity")
        .annotate(m=Max("pk"))
        .values("m")
    )
    active = CedarPolicySet.objects.filter(is_active=True)
    annotations: dict[str, Any] = {
        "open_grants": Coalesce(Subquery(open_grants), 0),
        "newest_grant": Coalesce(Subquery(newest_grant[:1]), 0),
        "policy_version": Subquery(active.values("version")[:1]),
        "policy_digest": Subquery(active.values("digest")[:1]),
    }
    annotations["critical_findings"] = Coalesce(critical_findings_count(), 0)
    annotations["exceptions_marker"] = exceptions_marker()
    return Identity.objects.filter(condition).annotate(**annotations).values(*VALUE_FIELDS, *annotations)


def _external_sentinels(count: int) -> list[tuple[str, str]]:
    return [(f"\x00steward-source-{i}", f"\x00steward-external-{i}") for i in range(count)]


def lookup(ids: Iterable[int] = (), external: Iterable[tuple[str, str]] = ()) -> list[IdentityRow]:
    """One query: the identities asked about, with their cache key inputs and the active policy."""
    ids, external = sorted(set(ids)), sorted(set(external))
    if not ids and not external:
        return []
    # Compiled once per shape (how many ids, how many source pairs), then run with the real values.
    statement = prepared.compiled(
        ("decisions.lookup", len(ids), len(external)),
        lambda: _lookup_queryset(prepared.sentinel_ids(len(ids)), _external_sentinels(len(external))),
    )
    real: dict[Any, Any] = dict(zip(prepared.sentinel_ids(len(ids)), ids, strict=True))
    for (source_stand_in, external_stand_in), (source, external_id) in zip(
        _external_sentinels(len(external)), external, strict=True
    ):
        real[source_stand_in] = source
        real[external_stand_in] = external_id
    rows = prepared.rows(statement, real)
    found = []
    for row in rows:
        owner_active = bool(row["owner_id"]) and bool(row["owner__is_active"])
        row["owner_active"] = owner_active
        key = ":".join(
            str(part)
            for part in (
                "steward:subject",
                row["pk"],
                row["created_at"].timestamp(),
                row["version"],
                row["status"],
                row["kind"],
                row["risk_tier"],
                ",".join(sorted(row["environments"] or [])),
                int(owner_active),
                row["open_grants"],
                row["newest_grant"],
                row.get("critical_findings", 0),
                _marker_part(row.get("exceptions_marker")),
            )
        )
        found.append(
            IdentityRow(
                pk=row["pk"],
                name=row["name"],
                status=row["status"],
                owner_id=row["owner_id"],
                backup_owner_id=row["backup_owner_id"],
                cache_key=key,
                policy_version=row["policy_version"],
                policy_digest=row["policy_digest"],
                critical_findings=int(row.get("critical_findings") or 0),
                values=row,
            )
        )
    return found


# ---------------------------------------------------------------- subjects, cached


def subjects_for(rows: list[IdentityRow]) -> dict[int, Subject]:
    """Subjects for the rows: this process's memory, then the shared cache, then the database."""
    result: dict[int, Subject] = {}
    missing: list[IdentityRow] = []
    with _LOCAL_LOCK:
        for row in rows:
            subject = _LOCAL.get(row.cache_key)
            if subject is not None:
                _LOCAL.move_to_end(row.cache_key)
                result[row.pk] = subject
            else:
                missing.append(row)
    if missing:
        shared = cache.get_many([r.cache_key for r in missing])
        still = []
        for row in missing:
            if row.cache_key in shared:
                result[row.pk] = shared[row.cache_key]
            else:
                still.append(row)
        if still:
            built = _build(still)
            cache.set_many({row.cache_key: built[row.pk] for row in still}, CACHE_SECONDS)
            result.update(built)
        with _LOCAL_LOCK:
            for row in missing:
                _LOCAL[row.cache_key] = result[row.pk]
            while len(_LOCAL) > _LOCAL_SIZE:
                _LOCAL.popitem(last=False)
    return result


def _build(rows: list[IdentityRow]) -> dict[int, Subject]:
    ids = [r.pk for r in rows]
    grants: dict[int, list[GrantFact]] = {pk: [] for pk in ids}
    # Tuples, not model instances: the sweep's threat profiles build subjects for every AI identity.
    current = Grant.objects.current().filter(identity_id__in=ids).order_by("pk")
    for pk, identity_id, kind, name, actions, origin, expires_at in current.values_list(
        "pk", "identity_id", "resource_kind", "resource_name", "actions", "origin", "expires_at"
    ):
        grants[identity_id].append(
            GrantFact(
                id=str(pk),
                resource_kind=kind,
                resource_pattern=name,
                actions=frozenset(actions or []),
                jit=origin == Grant.Origin.JIT,
                expires_at=expires_at.timestamp() if expires_at else None,
            )
        )
    exceptions = active_exceptions(ids)
    subjects = {}
    for row in rows:
        v = row.values
        subjects[row.pk] = Subject(
            id=str(row.pk),
            name=row.name,
            kind=v["kind"],
            tier=v["risk_tier"],
            status=v["status"],
            environments=tuple(sorted(v["environments"] or [])),
            owner_active=v["owner_active"],
            open_critical_findings=row.critical_findings,
            exceptions=tuple(exceptions.get(row.pk, [])),
            grants=tuple(grants[row.pk]),
        )
    return subjects


def clear_local() -> None:
    """Forget this process's copies (tests; the shared cache keys change on their own)."""
    with _LOCAL_LOCK:
        _LOCAL.clear()


def now():
    return timezone.now()
