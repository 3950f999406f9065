"""Reproducible samples for auditors: the same kind, period, seed and size always give the same items.

The algorithm is written down so anyone can redraw a sample without Steward, in any language:

1. the population is the ids of the kind's rows in the period (definitions in SAMPLE_KINDS and
   `_population` below; the same as the pack's files);
2. each id gets the key SHA-256 of the UTF-8 text `<seed>:<kind>:<id>` (id in decimal), as lowercase hex;
3. the ids are ordered by that key (ties, which SHA-256 makes practically impossible, by id), and the
   first `size` are the sample.

Every draw is an audit event (`evidence.sample_drawn`: who, kind, period, seed, size and the ids), and a
sample can be downloaded as CSV with the same columns for every kind.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import reverse

from approvals.models import ApprovalRequest
from governance import audit
from governance.evidence.rows import period_bounds
from governance.evidence.sections import credentials_queryset, findings_queryset
from governance.exceptions.models import PolicyException
from governance.reviews.models import ReviewItem
from inventory.models import Credential, Identity

SAMPLE_KINDS = {
    "approvals": "Approval requests submitted in the period",
    "reviews": "Review items decided in the period",
    "identities": "Identities recorded by the period's end",
    "credentials": "Credentials not revoked before the period's start",
    "revocations": "Credentials revoked in the period",
    "exceptions": "Exceptions open at any time in the period",
    "findings": "Findings open at any time in the period",
}
MAX_SAMPLE = 200
SAMPLE_COLUMNS = ["kind", "id", "rank", "key", "label", "url"]


@dataclass
class SampleRow:
    id: int
    key: str
    label: str
    url: str


@dataclass
class Sample:
    kind: str
    seed: str
    population: int
    items: list
    rows: list[SampleRow] = field(default_factory=list)


def sample_key(seed: str, kind: str, pk: int) -> str:
    return hashlib.sha256(f"{seed}:{kind}:{pk}".encode()).hexdigest()


def _describe(kind: str, obj: Any) -> tuple[str, str]:
    """(label, url) of one sampled row, for the page and the CSV."""
    if kind == "approvals":
        state = obj.get_state_display()
        label = f"Request #{obj.pk} — {obj.title} ({state}), requested by {obj.requester.username}"
        return label, reverse("approval-detail", args=[obj.pk])
    if kind == "reviews":
        reviewer = obj.reviewer.username if obj.reviewer_id else "–"
        label = f"Review item #{obj.pk} — {obj.identity.name}: {obj.decision} by {reviewer}"
        return label, reverse("reviews-item", args=[obj.pk])
    if kind == "identities":
        return f"Identity #{obj.pk} — {obj.name} ({obj.status}, {obj.risk_tier})", obj.get_absolute_url()
    if kind in ("credentials", "revocations"):
        revoked = f", revoked {obj.revoked_at:%Y-%m-%d}" if obj.revoked_at else ""
        return (
            f"Credential #{obj.pk} — {obj.label or obj.kind} of {obj.identity.name}{revoked}",
            obj.identity.get_absolute_url(),
        )
    if kind == "exceptions":
        return (
            f"Exception #{obj.pk} — {obj.rule} on {obj.identity.name} ({obj.state})",
            obj.get_absolute_url(),
        )
    return (
        f"Finding #{obj.pk} — {obj.rule} on {obj.identity.name} ({obj.severity}, {obj.status})",
        obj.identity.get_absolute_url(),
    )


def _population(kind: str, start, end) -> tuple[QuerySet | None, Callable[[list[int]], list]]:
    def loader(queryset: QuerySet, *related: str):
        return lambda ids: list(
            queryset.model.objects.filter(pk__in=ids).select_related(*related).order_by("pk")
        )

    if kind == "approvals":
        qs = ApprovalRequest.objects.filter(submitted_at__gte=start, submitted_at__lt=end)
        return qs, loader(qs, "requester")
    if kind == "identities":
        qs = Identity.objects.filter(created_at__lt=end)
        return qs, loader(qs)
    if kind == "credentials":
        qs = credentials_queryset(start, end)
        return qs, loader(qs, "identity")
    if kind == "revocations":
        qs = Credential.objects.filter(revoked_at__gte=start, revoked_at__lt=end)
        return qs, loader(qs, "identity")
    if kind == "findings":
        qs = findings_queryset(start, end)
        return qs, loader(qs, "identity")
    if kind == "exceptions":
        qs = PolicyException.objects.filter(created_at__lt=end).filter(
            Q(ended_at__isnull=True) | Q(ended_at__gte=start)
        )
        return qs, loader(qs, "identity")
    qs = ReviewItem.objects.filter(decided_at__gte=start, decided_at__lt=end)
    return qs, loader(qs, "identity", "reviewer", "campaign")


def draw_sample(kind: str, period_start, period_end, size, seed: str = "", *, actor=None) -> Sample:
    """Draw the sample; with `actor`, record the draw in the audit log."""
    if kind not in SAMPLE_KINDS:
        raise ValidationError({"sample_kind": ["Choose one of: " + ", ".join(SAMPLE_KINDS) + "."]})
    try:
        size = int(size)
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= MAX_SAMPLE:
        raise ValidationError({"size": [f"Sample between 1 and {MAX_SAMPLE} items."]})
    seed = (seed or "").strip()[:64] or secrets.token_hex(4)
    start, end = period_bounds(period_start, period_end)
    queryset, load = _population(kind, start, end)
    ids = list(queryset.order_by().values_list("pk", flat=True).distinct()) if queryset is not None else []
    keyed = sorted((sample_key(seed, kind, pk), pk) for pk in ids)[:size]
    keys = {pk: key for key, pk in keyed}
    items = sorted(load([pk for _key, pk in keyed]), key=lambda obj: keys[obj.pk])  # in the drawn order
    rows = [SampleRow(obj.pk, keys[obj.pk], *_describe(kind, obj)) for obj in items]
    sample = Sample(kind, seed, len(ids), items, rows)
    if actor is not None:
        _record(actor, sample, period_start, period_end, size)
    return sample


def _record(actor, sample: Sample, period_start, period_end, size: int) -> None:
    with transaction.atomic():
        audit.record(
            actor,
            "evidence.sample_drawn",
            ("evidence.sample", sample.kind, f"sample of {sample.kind}"),
            after={
                "kind": sample.kind,
                "period_start": str(period_start),
                "period_end": str(period_end),
                "seed": sample.seed,
                "size": size,
                "population": sample.population,
                "ids": [row.id for row in sample.rows],
            },
        )


def sample_csv_rows(sample: Sample) -> list[list[Any]]:
    return [
        [sample.kind, row.id, rank, row.key, row.label, row.url] for rank, row in enumerate(sample.rows, 1)
    ]
