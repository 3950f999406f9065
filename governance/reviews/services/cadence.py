"""The daily review job: open campaigns on each tier's cadence, close finished ones, keep due dates.

An identity is due when its last certification is older than its tier's review period; one never
reviewed is due one period after its approval (or its creation when it has no approval time).
Idempotent and safe when two runs overlap: each tier gets at most one cadence campaign a day (a
unique key), and an identity is in at most one open campaign (a partial unique constraint).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, OuterRef, Q
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from governance.actors import system
from governance.errors import IllegalTransition
from governance.policy.services import TIERS, current_policy
from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.population import REVIEWABLE_STATUSES
from governance.reviews.services.campaigns import close_campaign
from governance.reviews.services.launch import launch_campaign
from inventory.models import Identity

log = logging.getLogger(__name__)
DEFAULT_CAMPAIGN_DAYS = 30


def due_filter(review_days: int, now: datetime) -> Q:
    cutoff = now - timedelta(days=review_days)
    return (
        Q(last_reviewed_at__lte=cutoff)
        | Q(last_reviewed_at__isnull=True, approved_at__lte=cutoff)
        | Q(last_reviewed_at__isnull=True, approved_at__isnull=True, created_at__lte=cutoff)
    )


def close_overdue_campaigns(now: datetime | None = None) -> list[int]:
    """Close open campaigns past their due date whose every item is decided (and signed off)."""
    now = now or timezone.now()
    unfinished = ReviewItem.objects.filter(campaign=OuterRef("pk")).filter(
        Q(decision=ReviewItem.Decision.PENDING) | Q(signoff_state=ReviewItem.SignOff.PENDING)
    )
    finished = ReviewCampaign.objects.filter(state=ReviewCampaign.State.OPEN, due_at__lt=now).filter(
        ~Exists(unfinished)
    )
    closed = []
    for campaign_id in finished.values_list("pk", flat=True):  # campaigns, not identities: a handful
        try:
            close_campaign(system("review-cadence"), campaign_id, now=now)
        except IllegalTransition:
            continue  # another run closed it first
        closed.append(campaign_id)
    return closed


def refresh_next_review_due(now: datetime | None = None) -> int:
    """Set next_review_due = (last review, else approval, else creation) + the tier's period.

    Only pulls a date earlier or fills a missing one: a review decision pushes it later, and a
    campaign that closed without a review set it to that day, which stays until someone reviews.
    """
    policy = current_policy()
    updated = 0
    for tier in TIERS:
        days = policy.tier(tier).review_days
        computed = TruncDate(
            ExpressionWrapper(
                Coalesce("last_reviewed_at", "approved_at", "created_at") + timedelta(days=days),
                output_field=DateTimeField(),
            )
        )
        updated += (
            Identity.objects.filter(status__in=REVIEWABLE_STATUSES, risk_tier=tier)
            .alias(computed_due=computed)
            .filter(Q(next_review_due__isnull=True) | Q(next_review_due__gt=computed))
            .update(next_review_due=computed)
        )
    return updated


def run_cadence(now: datetime | None = None) -> dict[str, Any]:
    """Open the campaigns due by cadence, close finished ones, refresh due dates. Safe to rerun."""
    now = now or timezone.now()
    policy = current_policy()
    campaign_days = int(policy.document.get("review_campaign_days", DEFAULT_CAMPAIGN_DAYS))
    launched: list[int] = []
    for tier in TIERS:
        try:
            with transaction.atomic():
                campaign = launch_campaign(
                    system("review-cadence"),
                    name=f"{tier.capitalize()}-tier access review {timezone.localdate(now):%Y-%m-%d}",
                    scope={"risk_tiers": [tier]},
                    due_at=now + timedelta(days=campaign_days),
                    origin=ReviewCampaign.Origin.CADENCE,
                    now=now,
                    only=due_filter(policy.tier(tier).review_days, now),
                    cadence_key=f"{tier}:{timezone.localdate(now).isoformat()}",
                )
        except ValidationError:
            continue  # nobody in this tier is due
        except IllegalTransition:
            log.info("A concurrent run already opened today's %s-tier campaign", tier)
            continue
        launched.append(campaign.pk)
    closed = close_overdue_campaigns(now)
    refreshed = refresh_next_review_due(now)
    return {"launched": launched, "closed": closed, "next_review_due_updated": refreshed}
