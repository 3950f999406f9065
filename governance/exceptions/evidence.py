"""Rows of exceptions.csv for an evidence pack (called by governance.evidence.sections)."""

from __future__ import annotations

from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf

from approvals.models import ApprovalStep
from governance.exceptions.models import PolicyException

COLUMNS = (
    "pk", "identity__name", "rule", "requested_by__username", "state", "justification",
    "compensating_controls", "approved_by", "approved_at", "expires_at", "ended_at",
)  # fmt: skip


def exceptions_in_period(start, end) -> QuerySet:
    """Exceptions requested before the period's end and not ended before its start, as value tuples
    in the column order of exceptions.csv; `approved_by` is whoever decided the last approving step."""
    last_approver = (
        ApprovalStep.objects.filter(request=OuterRef("approval"), state="approved")
        .order_by("-decided_at")
        .annotate(label=Coalesce(NullIf("decided_by_system", Value("")), "decided_by__username"))
        .values("label")[:1]
    )
    return (
        PolicyException.objects.filter(created_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=start))
        .annotate(approved_by=Subquery(last_approver))
        .order_by("pk")
        .values_list(*COLUMNS)
    )
