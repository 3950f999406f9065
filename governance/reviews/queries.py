"""Read helpers for review pages and the API: progress figures, visibility, history."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from governance.people.models import Role, User
from governance.reviews.models import RUBBER_STAMP_COUNT, RUBBER_STAMP_SECONDS, ReviewCampaign, ReviewItem

D = ReviewItem.Decision
PROGRESS_KEYS = ("total", "pending", "certify", "modify", "revoke", "let_expire", "not_reviewed")


def progress_counts(prefix: str = "items__") -> dict:
    """Conditional counts over a campaign's items, as annotations (one query for any number)."""
    counts = {"n_total": Count(f"{prefix}id")}
    for decision in D.values:
        counts[f"n_{decision}"] = Count(f"{prefix}id", filter=Q(**{f"{prefix}decision": decision}))
    counts["n_signoff"] = Count(f"{prefix}id", filter=Q(**{f"{prefix}signoff_state": "pending"}))
    counts["n_remediation"] = Count(f"{prefix}id", filter=Q(**{f"{prefix}remediation_state": "pending"}))
    return counts


def with_progress(queryset: QuerySet[ReviewCampaign]) -> QuerySet[ReviewCampaign]:
    return queryset.annotate(**progress_counts())


def progress_of(row) -> dict:
    """Progress figures from an annotated campaign (or a values() row of a group)."""
    get = row.get if isinstance(row, dict) else lambda key, default=0: getattr(row, key, default)
    total = get("n_total", 0) or 0
    figures = {decision: get(f"n_{decision}", 0) or 0 for decision in D.values}
    pending = figures.pop(D.PENDING)
    signoff = get("n_signoff", 0) or 0
    complete = total - pending - signoff
    return {
        "total": total,
        "pending": pending,
        "decided": total - pending,
        "awaiting_signoff": signoff,
        "remediation_open": get("n_remediation", 0) or 0,
        "by_decision": figures,
        "percent_complete": round(100 * complete / total) if total else 100,
    }


def visible_items(user: User) -> QuerySet[ReviewItem]:
    """Readers see every item; anyone else the items they review or whose identity they own."""
    items = ReviewItem.objects.all()
    if user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR):
        return items
    return items.filter(Q(reviewer=user) | Q(identity__owner=user) | Q(identity__backup_owner=user))


def fast_certifiers(items: QuerySet[ReviewItem], *group: str) -> QuerySet:
    """Rows of (`group` fields, `decided_by__username`, `fast`): the reviewers who certified at least
    RUBBER_STAMP_COUNT of these items each shown under RUBBER_STAMP_SECONDS, and how many."""
    return (
        items.filter(decision=D.CERTIFY, display_seconds__lt=RUBBER_STAMP_SECONDS, decided_by__isnull=False)
        .values(*group, "decided_by__username")
        .annotate(fast=Count("id"))
        .filter(fast__gte=RUBBER_STAMP_COUNT)
    )


def rubber_stamp_flags(campaign: ReviewCampaign) -> list[dict]:
    """Reviewers who certified many items each shown only for seconds."""
    rows = fast_certifiers(ReviewItem.objects.filter(campaign=campaign)).order_by(
        "-fast", "decided_by__username"
    )
    return [{"reviewer": r["decided_by__username"], "fast_certifications": r["fast"]} for r in rows]


def review_history(identity) -> QuerySet[ReviewItem]:
    """Every review of one identity, newest first, ready for a table."""
    return (
        ReviewItem.objects.filter(identity=identity)
        .select_related("campaign", "reviewer", "decided_by", "signoff_by", "remediation_confirmed_by")
        .order_by("-campaign__launched_at", "-pk")
    )
