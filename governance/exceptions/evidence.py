"""Rows of exceptions.csv for an evidence pack (called by governance.evidence.sections)."""

from __future__ import annotations

from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Cast, Coalesce, NullIf

from approvals.models import ApprovalStep
from governance.exceptions.models import PolicyException

COLUMNS = (
    "pk", "identity_id", "identity__name", "identity__risk_tier", "rule", "linked_finding",
    "requested_by__username", "created_at", "state", "justification", "compensating_controls",
    "approved_by", "approved_at", "expires_at", "ended_at", "ended_by", "state_reason",
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
    from governance.findings.models import Finding
    from governance.models import AuditEvent

    # Who revoked (or superseded) it: the actor of the audit event that ended it.
    ended_by = (
        AuditEvent.objects.filter(
            subject_type="governance.policyexception",
            subject_id=Cast(OuterRef("pk"), CharField()),
            verb__in=["exception.revoked", "exception.superseded"],
        )
        .order_by("-seq")
        .values("actor")[:1]
    )
    # The finding the exception is about: the latest of its rule on its identity.
    linked_finding = (
        Finding.objects.filter(identity=OuterRef("identity"), rule=OuterRef("rule"))
        .order_by("-first_seen_at", "-pk")
        .values("pk")[:1]
    )
    return (
        PolicyException.objects.filter(created_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=start))
        .annotate(
            approved_by=Subquery(last_approver),
            ended_by=Subquery(ended_by),
            linked_finding=Subquery(linked_finding),
        )
        .order_by("pk")
        .values_list(*COLUMNS)
    )
