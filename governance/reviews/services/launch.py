"""Launching a campaign: a frozen population built set-based, with its count and hash.

Who reviews: the identity's owner when the owner is an active user; otherwise an IAM approver,
chosen deterministically: the active IAM user with the fewest pending items in open campaigns
(ties broken by username), counting the items handed out by this launch as they are handed out.
When no IAM approver exists the item has no reviewer until IAM reassigns it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from governance import audit
from governance.actors import as_actor
from governance.errors import IllegalTransition
from governance.people.models import Role, User
from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.population import (
    PopulationHasher,
    clean_scope,
    not_under_review,
    parse_due,
    population_hash,
    scope_queryset,
    snapshot_chunks,
)
from governance.reviews.services.common import require_iam
from inventory.models import Identity

D = ReviewItem.Decision


# ---------------------------------------------------------------- launch


def _iam_pool() -> list[list]:
    """[open_items, username, user] for each active IAM approver, least loaded first."""
    users = (
        User.objects.filter(is_active=True, groups__name=Role.IAM)
        .annotate(
            open_items=Count(
                "review_items",
                filter=Q(review_items__decision=D.PENDING, review_items__in_open_campaign=True),
            )
        )
        .order_by("username")
        .distinct()
    )
    return [[u.open_items, u.username, u] for u in users]


def _pick_reviewer(identity: Identity, pool: list[list]) -> tuple[User | None, str]:
    if identity.owner_id and identity.owner.is_active:
        return identity.owner, ReviewItem.ReviewerSource.OWNER
    if not pool:
        return None, ReviewItem.ReviewerSource.IAM_FALLBACK
    entry = min(pool, key=lambda e: (e[0], e[1]))
    entry[0] += 1
    return entry[2], ReviewItem.ReviewerSource.IAM_FALLBACK


def launch_campaign(
    actor,
    name: str,
    scope: Any,
    due_at: Any,
    origin: str = ReviewCampaign.Origin.MANUAL,
    *,
    now: datetime | None = None,
    only: Q | None = None,
    cadence_key: str = "",
) -> ReviewCampaign:
    """Open a campaign over every reviewable identity in scope not already under review.

    `only` narrows the population further (the cadence passes "due for review"). Refuses an empty
    population (400) and a race with another launch over the same identities (409).
    """
    actor = as_actor(actor)
    require_iam(actor, "launch review campaigns")
    now = now or timezone.now()
    errors: dict[str, Any] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = "Give the campaign a name."
    elif len(name) > 200:
        errors["name"] = "Keep the name under 200 characters."
    if origin not in ReviewCampaign.Origin.values:
        errors["origin"] = f"Choose one of {', '.join(ReviewCampaign.Origin.values)}."
    try:
        scope = clean_scope(scope)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    try:
        due_at = parse_due(due_at, now)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            return _launch(actor, name, scope, due_at, origin, now, only, cadence_key)
    except IntegrityError:
        raise IllegalTransition(
            "Another campaign was launched over some of these identities at the same moment; "
            "reload and try again."
        )


def _launch(actor, name, scope, due_at, origin, now, only, cadence_key) -> ReviewCampaign:
    in_scope = scope_queryset(scope)
    if only is not None:
        in_scope = in_scope.filter(only)
    population = in_scope.filter(not_under_review())
    identity_ids = list(population.order_by("pk").values_list("pk", flat=True))
    if not identity_ids:
        raise ValidationError(
            {"scope": "No identity in this scope needs a review (none match, or all are under review)."}
        )
    skipped = in_scope.count() - len(identity_ids)
    campaign = ReviewCampaign.objects.create(
        name=name,
        scope=scope,
        due_at=due_at,
        origin=origin,
        cadence_key=cadence_key,
        created_by=actor.user,
        created_by_label=actor.label,
        launched_at=now,
        skipped_count=skipped,
    )
    pool = _iam_pool()
    hasher = PopulationHasher()
    for chunk in snapshot_chunks(identity_ids, now):
        items = []
        for identity, snapshot, raw in chunk:
            reviewer, source = _pick_reviewer(identity, pool)
            hasher.add_canonical(raw)
            items.append(
                ReviewItem(
                    campaign=campaign,
                    identity=identity,
                    risk_tier=identity.risk_tier,
                    team_id=identity.team_id,
                    snapshot=snapshot,
                    reviewer=reviewer,
                    reviewer_source=source,
                )
            )
        ReviewItem.objects.bulk_create(items, batch_size=1000)
    campaign.population_count = hasher.count
    campaign.population_sha256 = hasher.hexdigest()
    campaign.save(update_fields=["population_count", "population_sha256"])
    audit.record(
        actor,
        "review.campaign_launched",
        campaign,
        after={
            "name": name,
            "scope": scope,
            "due_at": due_at.isoformat(),
            "origin": origin,
            "population_count": campaign.population_count,
            "population_sha256": campaign.population_sha256,
            "skipped_under_review": skipped,
        },
    )
    return campaign


def verify_population(campaign: ReviewCampaign) -> dict[str, Any]:
    """Recompute count and hash from the stored items; `ok` when both match the campaign."""
    snapshots = (
        ReviewItem.objects.filter(campaign=campaign)
        .order_by("identity_id")
        .values_list("snapshot", flat=True)
        .iterator(chunk_size=2000)
    )
    count, digest = population_hash(snapshots)
    return {
        "ok": count == campaign.population_count and digest == campaign.population_sha256,
        "count": count,
        "sha256": digest,
        "expected_count": campaign.population_count,
        "expected_sha256": campaign.population_sha256,
    }
