"""Launching a campaign: a frozen population built set-based, with its count and hash.

Who reviews: the identity's owner when the owner can decide (an active user who is not an auditor:
auditors decide nothing, not even on their own API tokens' identities); otherwise an IAM approver,
as for an orphan, chosen deterministically: the active IAM user who is no auditor with the fewest
pending items in open campaigns (ties broken by username), counting the items handed out by this
launch as they are handed out. When no IAM approver exists the item has no reviewer until IAM
reassigns it. Both ways of writing items (COPY, bulk_create) take the reviewer chosen here.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, JSONField, Q
from django.utils import timezone

from governance import audit
from governance.actors import as_actor
from governance.bulk import copy_rows
from governance.errors import IllegalTransition
from governance.people.models import Role, User
from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.population import (
    PopulationHasher,
    PopulationRow,
    clean_scope,
    not_under_review,
    parse_due,
    population_hash,
    scope_queryset,
    snapshot_chunks,
)
from governance.reviews.services.common import require_iam

D = ReviewItem.Decision


# ---------------------------------------------------------------- launch


def _iam_pool() -> list[list]:
    """[open_items, username, user] for each active IAM approver, least loaded first."""
    users = (
        User.objects.filter(is_active=True, groups__name=Role.IAM)
        # Someone holding the auditor role too cannot decide (reviews.services.common.can_decide).
        .exclude(Q(groups__name=Role.AUDITOR) & Q(is_superuser=False))
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


def _pick_reviewer(row: PopulationRow, pool: list[list]) -> tuple[int | None, str]:
    """The reviewer's id and why they review: the owner when they can decide, else the least-loaded
    IAM approver."""
    if row.owner_can_review:
        return row.owner_id, ReviewItem.ReviewerSource.OWNER
    if not pool:
        return None, ReviewItem.ReviewerSource.IAM_FALLBACK
    entry = min(pool, key=lambda e: (e[0], e[1]))
    entry[0] += 1
    return entry[2].pk, ReviewItem.ReviewerSource.IAM_FALLBACK


# The columns a launch sets on each item; every other column takes its model default.
ITEM_COLUMNS = (
    "campaign_id", "identity_id", "risk_tier", "team_id", "snapshot", "reviewer_id", "reviewer_source",
)  # fmt: skip


def _insert_items(campaign: ReviewCampaign, rows: list[tuple]) -> None:
    """Write one chunk of items: (identity_id, risk_tier, team_id, canonical snapshot, reviewer_id, source).

    On PostgreSQL the chunk goes in with one COPY, the snapshot as its canonical JSON text: a
    bulk_create of 2,000 wide rows spent most of its time adapting them (and re-encoding every
    snapshot), a third of a 50,000-item launch. Elsewhere, bulk_create. Both write the same rows
    (tests/governance/test_reviews_launch.py compares them).
    """
    if connection.vendor == "postgresql":
        _copy_items(campaign, rows)
    else:
        _create_items(campaign, rows)


def _create_items(campaign: ReviewCampaign, rows: list[tuple]) -> None:
    ReviewItem.objects.bulk_create(
        [
            ReviewItem(
                campaign=campaign,
                identity_id=identity_id,
                risk_tier=risk_tier,
                team_id=team_id,
                snapshot=json.loads(raw),
                reviewer_id=reviewer_id,
                reviewer_source=source,
            )
            for identity_id, risk_tier, team_id, raw, reviewer_id, source in rows
        ],
        batch_size=1000,
    )


def _copy_items(campaign: ReviewCampaign, rows: list[tuple]) -> None:
    """PostgreSQL only. `copy_rows` keeps database errors Django's: a race on the one-open-review
    constraint must stay an IntegrityError (409 in `launch_campaign`)."""
    defaults = _item_defaults()
    names = [ReviewItem._meta.get_field(c).column for c in ITEM_COLUMNS] + list(defaults)
    constant = list(defaults.values())
    copy_rows(
        ReviewItem,
        names,
        (
            [campaign.pk, identity_id, risk_tier, team_id, raw.decode(), reviewer_id, source, *constant]
            for identity_id, risk_tier, team_id, raw, reviewer_id, source in rows
        ),
    )


def _item_defaults() -> dict[str, Any]:
    """column -> the text COPY writes for each item column a launch does not set (its model default).

    Read from the model, so a field added to ReviewItem with a default is written without touching
    this; nullable columns without a default are left out and stay NULL.
    """
    defaults: dict[str, Any] = {}
    for field in ReviewItem._meta.concrete_fields:
        if field.primary_key or field.attname in ITEM_COLUMNS:
            continue
        value = field.get_default()
        if value is None and field.null:
            continue
        if isinstance(field, JSONField):
            value = json.dumps(value)
        defaults[field.column] = value
    return defaults


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
        rows = []
        for row in chunk:
            reviewer_id, source = _pick_reviewer(row, pool)
            hasher.add_canonical(row.raw)
            rows.append((row.identity_id, row.risk_tier, row.team_id, row.raw, reviewer_id, source))
        _insert_items(campaign, rows)
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
