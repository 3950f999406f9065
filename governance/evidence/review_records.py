"""Review records in the pack (issue 19 items 8 and 9): reviews.csv, review_campaigns.csv and
review_population.jsonl.

- review_campaigns.csv: each campaign open at any time in the period: scope, who launched it, launch,
  due and close dates, its population count and SHA-256, progress, and reviewers flagged as possible
  rubber stamps;
- review_population.jsonl: every item's snapshot frozen at launch, so each campaign's
  `population_sha256` can be recomputed from the pack alone (VERIFY.md says how);
- reviews.csv: per item the assigned reviewer **and** who decided, where (review page, API, bulk),
  how long it was on screen (or that it was not measured), the sign-off, and for a revoke the
  remediation: decision time, when Steward removed the access, when and by whom or what it was
  confirmed (never the decider), or why it failed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Count, Q, QuerySet

from governance.evidence.rows import CHUNK, Section, iso, username
from governance.reviews.models import RUBBER_STAMP_COUNT, RUBBER_STAMP_SECONDS, ReviewCampaign, ReviewItem
from governance.reviews.queries import fast_certifiers

D = ReviewItem.Decision

REVIEWS_HEADER = [
    "id", "campaign", "identity", "identity_name", "reviewer", "decision", "reason", "decided_at",
    "campaign_name", "risk_tier", "reviewer_source", "decided_by", "decided_by_is_reviewer", "decided_via",
    "shown_at", "display_seconds", "viewing", "quick_certification", "reviewer_flagged_rubber_stamp",
    "signoff_state", "signoff_by", "signoff_at", "remediation_state", "remediation_action_at",
    "remediation_confirmed_at", "remediation_confirmed_by", "remediation_lag_hours", "remediation_error",
    "remediation_note",
]  # fmt: skip
CAMPAIGNS_HEADER = [
    "id", "name", "scope", "origin", "launched_by", "launched_at", "due_at", "state", "closed_at",
    "closed_by", "population_count", "population_sha256", "skipped_count", "items", "decided",
    "certified", "modified", "revoked", "let_expire", "not_reviewed", "awaiting_signoff", "signed_off",
    "rubber_stamp_reviewers",
]  # fmt: skip


def campaigns_queryset(start: datetime, end: datetime) -> QuerySet:
    """Campaigns open at any time in the period: launched before its end, not closed before its start."""
    return (
        ReviewCampaign.objects.filter(launched_at__lt=end)
        .filter(Q(closed_at__isnull=True) | Q(closed_at__gte=start))
        .order_by("launched_at", "id")
    )


def reviews_queryset(start: datetime, end: datetime) -> QuerySet:
    return (
        ReviewItem.objects.filter(campaign__launched_at__lt=end)
        .filter(Q(decided_at__isnull=True) | Q(decided_at__gte=start))
        .select_related("campaign", "identity", "reviewer", "decided_by", "signoff_by")
        .order_by("id")
    )


def _flagged(campaign_ids: Iterable[int] | QuerySet) -> dict[int, dict[str, int]]:
    """campaign id -> {username: fast certifications} for reviewers over the rubber-stamp threshold."""
    rows = fast_certifiers(ReviewItem.objects.filter(campaign_id__in=campaign_ids), "campaign_id").order_by()
    found: dict[int, dict[str, int]] = {}
    for row in rows:
        found.setdefault(row["campaign_id"], {})[row["decided_by__username"]] = row["fast"]
    return found


def _viewing(item: ReviewItem) -> str:
    if item.is_pending or item.decision == D.NOT_REVIEWED:
        return ""
    if item.display_seconds is not None:
        return "measured"
    if item.decided_via == ReviewItem.Channel.API:
        return "api: not read through Steward before deciding, no viewing time"
    return "not measured"


def _quick(item: ReviewItem) -> bool:
    """A certification shown for less than the rubber-stamp threshold."""
    seconds = item.display_seconds
    return item.decision == D.CERTIFY and seconds is not None and seconds < RUBBER_STAMP_SECONDS


def _lag(item: ReviewItem) -> str:
    if item.remediation_state == ReviewItem.Remediation.CONFIRMED and item.decided_at:
        return f"{(item.remediation_confirmed_at - item.decided_at).total_seconds() / 3600:.1f}"
    return ""


def review_rows(start: datetime, end: datetime) -> Iterator[list[Any]]:
    queryset = reviews_queryset(start, end)
    flagged = _flagged(campaigns_queryset(start, end).values("pk"))
    for r in queryset.iterator(chunk_size=CHUNK):
        decider = r.decided_by.username if r.decided_by_id else r.decided_by_label
        yield [
            r.pk, r.campaign_id, r.identity_id, r.identity.name, username(r.reviewer), r.decision, r.reason,
            iso(r.decided_at), r.campaign.name, r.risk_tier, r.reviewer_source, decider,
            "" if r.is_pending else r.decided_by_id is not None and r.decided_by_id == r.reviewer_id,
            r.decided_via, iso(r.shown_at), "" if r.display_seconds is None else r.display_seconds,
            _viewing(r),
            _quick(r),
            decider in flagged.get(r.campaign_id, {}), r.signoff_state, username(r.signoff_by),
            iso(r.signoff_at), r.remediation_state, iso(r.remediation_action_at),
            iso(r.remediation_confirmed_at), r.remediation_confirmed_by_label, _lag(r), r.remediation_error,
            r.remediation_note,
        ]  # fmt: skip


def campaign_rows(start: datetime, end: datetime) -> Iterator[list[Any]]:
    campaigns = list(campaigns_queryset(start, end))
    if not campaigns:
        return
    ids = [c.pk for c in campaigns]
    counts = {
        row["campaign_id"]: row
        for row in ReviewItem.objects.filter(campaign_id__in=ids)
        .values("campaign_id")
        .annotate(
            items=Count("id"),
            decided=Count("id", filter=~Q(decision=D.PENDING)),
            certified=Count("id", filter=Q(decision=D.CERTIFY)),
            modified=Count("id", filter=Q(decision=D.MODIFY)),
            revoked=Count("id", filter=Q(decision=D.REVOKE)),
            let_expire=Count("id", filter=Q(decision=D.LET_EXPIRE)),
            not_reviewed=Count("id", filter=Q(decision=D.NOT_REVIEWED)),
            awaiting=Count("id", filter=Q(signoff_state=ReviewItem.SignOff.PENDING)),
            signed=Count("id", filter=Q(signoff_state=ReviewItem.SignOff.SIGNED)),
        )
        .order_by()
    }
    flagged = _flagged(ids)
    for c in campaigns:
        n = counts.get(c.pk, {})
        stamps = "; ".join(f"{user} ({fast} certified in under {RUBBER_STAMP_SECONDS} s)"
                           for user, fast in sorted(flagged.get(c.pk, {}).items()))  # fmt: skip
        yield [
            c.pk, c.name, json.dumps(c.scope, sort_keys=True), c.origin, c.created_by_label,
            iso(c.launched_at), iso(c.due_at), c.state, iso(c.closed_at), c.closed_by_label,
            c.population_count, c.population_sha256, c.skipped_count, n.get("items", 0), n.get("decided", 0),
            n.get("certified", 0), n.get("modified", 0), n.get("revoked", 0), n.get("let_expire", 0),
            n.get("not_reviewed", 0), n.get("awaiting", 0), n.get("signed", 0), stamps,
        ]  # fmt: skip


def population_records(start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    """Every campaign's frozen snapshots, campaign by campaign in identity-id order."""
    items = (
        ReviewItem.objects.filter(campaign__in=campaigns_queryset(start, end).values("pk"))
        .order_by("campaign_id", "identity_id")
        .values_list("campaign_id", "identity_id", "snapshot")
    )
    for campaign_id, identity_id, snapshot in items.iterator(chunk_size=CHUNK):
        yield {"campaign": campaign_id, "identity": identity_id, "snapshot": snapshot}


def review_sections(start: datetime, end: datetime) -> list[Section]:
    return [
        Section(
            "review_campaigns.csv",
            CAMPAIGNS_HEADER,
            "Review campaigns open at any time in the period (launched before its end, not closed "
            "before its start): scope, who launched it, launch, due and close dates, the population's "
            "count and SHA-256 (recompute it from review_population.jsonl, VERIFY.md section 8), "
            "progress and reviewers flagged as possible rubber stamps (at least "
            f"{RUBBER_STAMP_COUNT} certifications each shown under {RUBBER_STAMP_SECONDS} s).",
            lambda: campaign_rows(start, end),
        ),
        Section(
            "reviews.csv",
            REVIEWS_HEADER,
            "Review items of campaigns launched before the period's end, undecided or decided during it: "
            "the assigned reviewer and who actually decided, where (browser, api, bulk) and after how "
            "long on screen (`viewing`), the sign-off, and a revoke's remediation: decision time, when "
            "Steward removed the access (`remediation_action_at`), when and by whom or what it was "
            "confirmed (IAM or Security other than the decider, or a connector's sync), and the lag "
            "from decision to confirmation (confirmed only).",
            lambda: review_rows(start, end),
            reviews_queryset(start, end),
        ),
    ]


POPULATION_DEFINITION = (
    "One line per item of each campaign in review_campaigns.csv: the identity's snapshot as frozen at "
    "launch, in campaign then identity-id order; each campaign's population_sha256 is recomputable from "
    "these lines (VERIFY.md section 8)."
)


def remediation_figures(start: datetime, end: datetime) -> dict[str, Any]:
    """Revokes decided in the period by remediation state, and the decision-to-confirmation lag of the
    confirmed ones only (never a median over unconfirmed ones)."""
    items = list(
        ReviewItem.objects.filter(decision=D.REVOKE, decided_at__gte=start, decided_at__lt=end).values_list(
            "remediation_state", "decided_at", "remediation_confirmed_at"
        )
    )
    lags = sorted(
        (done - at).total_seconds() / 3600
        for state, at, done in items
        if state == ReviewItem.Remediation.CONFIRMED and done
    )
    by_state: dict[str, int] = {}
    for state, _at, _done in items:
        by_state[state] = by_state.get(state, 0) + 1
    return {
        "revokes": len(items),
        "confirmed": by_state.get(ReviewItem.Remediation.CONFIRMED, 0),
        "pending": by_state.get(ReviewItem.Remediation.PENDING, 0),
        "failed": by_state.get(ReviewItem.Remediation.FAILED, 0),
        "median_lag_hours": lags[len(lags) // 2] if lags else None,
    }
