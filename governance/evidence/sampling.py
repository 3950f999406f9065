"""Reproducible random samples for auditors: the same seed and period always give the same items."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from approvals.models import ApprovalRequest
from governance.evidence.sections import period_bounds

SAMPLE_KINDS = {"approvals": "Approval requests", "reviews": "Review items"}
MAX_SAMPLE = 200


@dataclass
class Sample:
    kind: str
    seed: str
    population: int
    items: list


def _population(kind: str, start, end):
    if kind == "approvals":
        qs = ApprovalRequest.objects.filter(submitted_at__gte=start, submitted_at__lt=end)
        return qs, lambda ids: list(
            ApprovalRequest.objects.filter(pk__in=ids).select_related("requester").order_by("pk")
        )
    try:
        from governance.reviews.models import ReviewItem
    except ImportError:
        return None, lambda ids: []
    qs = ReviewItem.objects.filter(decided_at__gte=start, decided_at__lt=end)
    return qs, lambda ids: list(
        ReviewItem.objects.filter(pk__in=ids)
        .select_related("identity", "reviewer", "campaign")
        .order_by("pk")
    )


def draw_sample(kind: str, period_start, period_end, size, seed: str = "") -> Sample:
    if kind not in SAMPLE_KINDS:
        raise ValidationError({"sample_kind": ["Choose approvals or review items."]})
    try:
        size = int(size)
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= MAX_SAMPLE:
        raise ValidationError({"size": [f"Sample between 1 and {MAX_SAMPLE} items."]})
    seed = (seed or "").strip()[:64] or secrets.token_hex(4)
    start, end = period_bounds(period_start, period_end)
    queryset, load = _population(kind, start, end)
    ids = sorted(queryset.values_list("pk", flat=True)) if queryset is not None else []
    rng = random.Random(f"{kind}:{period_start}:{period_end}:{seed}")  # noqa: S311 - sampling, not security
    chosen = rng.sample(ids, min(size, len(ids)))
    return Sample(kind, seed, len(ids), load(chosen))
