"""Campaign upkeep by IAM: reassign a reviewer, send reminders now, close the campaign."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from governance import audit
from governance.actors import as_actor
from governance.errors import IllegalTransition
from governance.jobs import reminders
from governance.people.models import User
from governance.reviews import reminders as review_reminders
from governance.reviews.models import ReviewCampaign, ReviewItem, ReviewReminder
from governance.reviews.services.common import clean_reason, lock_item, require_iam, require_open
from inventory.models import Identity

D = ReviewItem.Decision
log = logging.getLogger(__name__)


def _lock_campaign(campaign: ReviewCampaign | int) -> ReviewCampaign:
    pk = campaign.pk if isinstance(campaign, ReviewCampaign) else campaign
    return ReviewCampaign.objects.select_for_update().get(pk=pk)


@transaction.atomic
def reassign(actor, item: ReviewItem | int, reviewer: User | str, reason: str | None = "") -> ReviewItem:
    """Hand a pending item to another reviewer: one of the identity's owners or an IAM approver.

    Limited to them because a reviewer's decision runs the inventory services in their name, and
    only owners and IAM may suspend an identity or remove its grants.
    """
    actor = as_actor(actor)
    require_iam(actor, "reassign reviewers")
    item = lock_item(item)
    require_open(item)
    if not item.is_pending:
        raise IllegalTransition("This item is already decided; its reviewer cannot change.")
    if isinstance(reviewer, str):
        reviewer = User.objects.filter(username=reviewer.strip()).first()
    if reviewer is None or not reviewer.is_active:
        raise ValidationError({"reviewer": "Choose an active user."})
    identity = item.identity
    is_owner = reviewer.pk in (identity.owner_id, identity.backup_owner_id)
    if reviewer.is_auditor or not (is_owner or reviewer.is_iam):
        raise ValidationError(
            {"reviewer": "The reviewer must be one of the identity's owners or an IAM approver."}
        )
    if reviewer.pk == item.reviewer_id:
        raise ValidationError({"reviewer": f"{reviewer.username} already reviews this item."})
    reason = clean_reason(reason, required=False)
    before = item.reviewer.username if item.reviewer_id else None
    item.reviewer = reviewer
    item.reviewer_source = ReviewItem.ReviewerSource.REASSIGNED
    # The new reviewer has not seen it yet: the rubber-stamp clock starts again.
    item.shown_at = item.last_shown_at = None
    item.save(update_fields=["reviewer", "reviewer_source", "shown_at", "last_shown_at"])
    audit.record(
        actor,
        "review.reassigned",
        item,
        before={"reviewer": before},
        after={"reviewer": reviewer.username, "identity": item.identity_id},
        reason=reason,
    )
    return item


@transaction.atomic
def send_reminders(actor, campaign: ReviewCampaign | int, now: datetime | None = None) -> dict[str, int]:
    """Remind each reviewer with pending items now, through the same reminders as the daily digest.

    One dedupe window and one style (issue 22 item 9): the items are the digest's own (the reviews
    reminder source, this campaign only), recorded as the digest records them, so a reviewer the
    digest reminded today is not reminded again, and today's digest leaves out what was sent here.
    The mail goes after commit, in the digest's subject and layout."""
    actor = as_actor(actor)
    require_iam(actor, "send review reminders")
    campaign = _lock_campaign(campaign)
    if not campaign.is_open:
        raise IllegalTransition("This campaign is closed; there is nobody to remind.")
    now = now or timezone.now()
    window = timezone.localdate(now)
    prefix = f"{campaign.pk}:"
    items = [
        replace(item, cadence="day")  # a press reminds again tomorrow, not next week
        for item in review_reminders.due_items(now)
        if str(item.subject_id).startswith(prefix)
        and item.subject_id.split(":")[1] not in ("signoff", "unassigned")
    ]
    batch = reminders.send_now(items, now)
    reviewers = list(User.objects.filter(pk__in=batch).order_by("username"))
    open_items = dict(
        campaign.items.filter(decision=D.PENDING, reviewer__in=reviewers)
        .values("reviewer")
        .annotate(n=Count("id"))
        .values_list("reviewer", "n")
    )
    ReviewReminder.objects.bulk_create(
        [
            ReviewReminder(
                campaign=campaign,
                reviewer=r,
                window=window,
                open_items=open_items.get(r.pk, 0),
                sent_at=now,
                sent_by_label=actor.label,
            )
            for r in reviewers
        ],
        ignore_conflicts=True,
    )
    unassigned = campaign.items.filter(decision=D.PENDING, reviewer__isnull=True).count()
    result = {"sent": len(reviewers), "unassigned": unassigned}
    audit.record(
        actor,
        "review.reminders_sent",
        campaign,
        after={**result, "reviewers": [r.username for r in reviewers], "window": window.isoformat()},
    )
    if batch:
        transaction.on_commit(lambda: reminders.deliver_now(batch, now))
    return result


@transaction.atomic
def close_campaign(actor, campaign: ReviewCampaign | int, now: datetime | None = None) -> dict[str, int]:
    """Close a campaign. Pending items become `not_reviewed` and certifications still awaiting IAM
    sign-off lapse; their identities become overdue for review (next_review_due before today), so
    the sweep's review_overdue rule fires. Decisions cannot change afterwards; open remediations
    stay open until confirmed.
    """
    actor = as_actor(actor)
    require_iam(actor, "close review campaigns")
    campaign = _lock_campaign(campaign)
    if not campaign.is_open:
        raise IllegalTransition(f"Campaign '{campaign}' is already closed.")
    now = now or timezone.now()
    items = ReviewItem.objects.filter(campaign=campaign)
    not_reviewed = items.filter(decision=D.PENDING).update(
        decision=D.NOT_REVIEWED,
        decided_at=now,
        decided_by_label=actor.label,
        reason="Not reviewed before the campaign closed.",
    )
    lapsed = items.filter(signoff_state=ReviewItem.SignOff.PENDING).update(
        signoff_state=ReviewItem.SignOff.LAPSED
    )
    # Overdue means next_review_due < today (the sweep's review_overdue rule and the inventory's
    # filter): the review was due by the campaign's due date, and at the latest yesterday.
    today = timezone.localdate(now)
    overdue_since = min(timezone.localdate(campaign.due_at), today - timedelta(days=1))
    overdue = (
        Identity.objects.filter(
            Exists(
                items.filter(identity=OuterRef("pk")).filter(
                    Q(decision=D.NOT_REVIEWED) | Q(signoff_state=ReviewItem.SignOff.LAPSED)
                )
            )
        )
        .filter(Q(next_review_due__isnull=True) | Q(next_review_due__gt=overdue_since))
        .update(next_review_due=overdue_since)
    )
    items.update(in_open_campaign=False)
    campaign.state = ReviewCampaign.State.CLOSED
    campaign.closed_at = now
    campaign.closed_by_label = actor.label
    campaign.save(update_fields=["state", "closed_at", "closed_by_label"])
    result = {"not_reviewed": not_reviewed, "signoff_lapsed": lapsed, "identities_marked_overdue": overdue}
    audit.record(
        actor,
        "review.campaign_closed",
        campaign,
        before={"state": ReviewCampaign.State.OPEN},
        after={"state": ReviewCampaign.State.CLOSED, **result},
    )
    return result
