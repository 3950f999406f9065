"""The estate as it was at the period's end, not at export time (issue 19 item 5).

**How the population is reconstructed.** Steward keeps no history tables; it keeps the audit log, and
every change to an identity's status, owner, backup owner, team, tier and other recorded fields is an
audit event with the values before and after (`inventory.snapshots.snapshot`). So the values at the
period's end are today's values with every later change undone: the events on the identity at or after
the period's end are read newest first and each one's `before` is put back. The same holds for a
credential's label, expiry and last rotation (`credential.rotated` events). Lifecycle dates come from
the events before the period's end: `suspended_at` is the last `identity.suspended` (when the identity
was suspended at the end), `decommissioned_at` its `identity.decommissioned`.

Times that change without an audit event are cut at the period's end instead: a grant that ended
after it was still in force then (its `ended_at` is left empty); a credential revoked after it was
live; `last_used_at` is the last usage event before the end; `approved_at` is empty when the approval
came later; `last_reviewed_at` is the last review decision before the end and `next_review_due` is
given only when no review happened since.

Every batch of rows costs a fixed number of queries (2,000 rows per batch).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.db.models import Max, QuerySet

from governance.models import AuditEvent
from inventory.snapshots import snapshot_value

CHUNK = 2000
# Identity fields an audit event's before/after names (inventory.snapshots.snapshot), as inventory.csv
# writes them: owner and backup owner by username, team by slug.
REPLAYED = (
    "name", "kind", "vendor", "product", "model_name", "owner", "backup_owner", "team", "environments",
    "data_classification", "autonomous", "risk_tier", "status", "source", "external_id",
)  # fmt: skip
CREDENTIAL_REPLAYED = ("label", "expires_at", "last_rotated_at")
IDENTITY_SUBJECT = "inventory.identity"

RECONSTRUCTION = (
    "Values are as at the period's end, replayed from the audit log: today's values with every later "
    "audited change undone (each event's `before` put back, newest first); times after the period's "
    "end are cut (a grant ended later was still in force, a credential revoked later was live). "
    "VERIFY.md, section 'How the population is reconstructed', says how."
)


def batched(queryset: QuerySet, to_rows: Callable[[list], Iterable[list[Any]]]):
    def rows():
        batch: list = []
        for obj in queryset.iterator(chunk_size=CHUNK):
            batch.append(obj)
            if len(batch) == CHUNK:
                yield from to_rows(batch)
                batch = []
        if batch:
            yield from to_rows(batch)

    return rows


def _later_events(identity_ids: list[int], end: datetime):
    """Events on these identities at or after the period's end, newest first."""
    return (
        AuditEvent.objects.filter(
            subject_type=IDENTITY_SUBJECT, subject_id__in=[str(pk) for pk in identity_ids], at__gte=end
        )
        .order_by("-seq")
        .values_list("subject_id", "verb", "before")
    )


def _now(identity) -> dict[str, Any]:
    return {name: snapshot_value(identity, name) for name in REPLAYED}


def identities_at(identities: list, end: datetime) -> dict[int, dict[str, Any]]:
    """Each identity's replayed fields as at `end`, plus `suspended_at`, `decommissioned_at`,
    `last_used_at`, `last_reviewed_at` and `reviewed_since` (four queries for the batch)."""
    from governance.reviews.models import ReviewItem
    from inventory.models import UsageEvent

    ids = [i.pk for i in identities]
    state = {i.pk: _now(i) for i in identities}
    for subject_id, _verb, before in _later_events(ids, end):
        if isinstance(before, dict):
            values = state[int(subject_id)]
            values.update({k: v for k, v in before.items() if k in REPLAYED})
    lifecycle: dict[int, dict[str, datetime]] = {}
    for subject_id, verb, at in (
        AuditEvent.objects.filter(
            subject_type=IDENTITY_SUBJECT,
            subject_id__in=[str(pk) for pk in ids],
            verb__in=["identity.suspended", "identity.decommissioned"],
            at__lt=end,
        )
        .order_by("seq")
        .values_list("subject_id", "verb", "at")
    ):
        lifecycle.setdefault(int(subject_id), {})[verb] = at
    used = dict(
        UsageEvent.objects.filter(identity_id__in=ids, at__lt=end)
        .values_list("identity_id")
        .annotate(last=Max("at"))
        .order_by()
    )
    reviewed = dict(
        ReviewItem.objects.filter(identity_id__in=ids, decided_at__lt=end)
        .exclude(decision__in=[ReviewItem.Decision.PENDING, ReviewItem.Decision.NOT_REVIEWED])
        .values_list("identity_id")
        .annotate(last=Max("decided_at"))
        .order_by()
    )
    for identity in identities:
        values = state[identity.pk]
        dates = lifecycle.get(identity.pk, {})
        values["suspended_at"] = dates.get("identity.suspended") if values["status"] == "suspended" else None
        values["decommissioned_at"] = (
            dates.get("identity.decommissioned") if values["status"] == "decommissioned" else None
        )
        last_used = identity.last_used_at
        values["last_used_at"] = last_used if last_used and last_used < end else used.get(identity.pk)
        last_reviewed = identity.last_reviewed_at
        values["reviewed_since"] = bool(last_reviewed and last_reviewed >= end)
        values["last_reviewed_at"] = (
            last_reviewed if not values["reviewed_since"] else reviewed.get(identity.pk)
        )
        values["approved_at"] = (
            identity.approved_at if identity.approved_at and identity.approved_at < end else None
        )
    return state


def credentials_at(credentials: list, end: datetime) -> dict[int, dict[str, Any]]:
    """Each credential's label, expiry and last rotation as at `end` (one query for the batch)."""
    state = {c.pk: {key: getattr(c, key) for key in CREDENTIAL_REPLAYED} for c in credentials}
    identity_ids = sorted({c.identity_id for c in credentials})
    rotations = AuditEvent.objects.filter(
        subject_type=IDENTITY_SUBJECT,
        subject_id__in=[str(pk) for pk in identity_ids],
        verb="credential.rotated",
        at__gte=end,
    ).order_by("-seq")
    for before in rotations.values_list("before", flat=True):
        snapshot = before.get("credential") if isinstance(before, dict) else None
        if not isinstance(snapshot, dict) or snapshot.get("id") not in state:
            continue
        values = state[snapshot["id"]]
        for key in CREDENTIAL_REPLAYED:
            if key in snapshot:
                values[key] = _time(snapshot[key]) if key != "label" else snapshot[key]
    return state


def _time(value):
    if not value:
        return None
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def before_end(value: datetime | None, end: datetime) -> datetime | None:
    """A time only if it had happened by the period's end."""
    return value if value is not None and value < end else None
