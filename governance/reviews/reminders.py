"""Reminder source for access reviews, called by the daily reminders job (governance.jobs).

One notice per reviewer and open campaign: weekly while the campaign is far from due, daily in its
last week, and daily with escalation (the reviewer's manager and IAM) once it is overdue. Items with
no reviewer go to every active IAM approver. Certifications waiting for a second sign-off remind IAM
approvers who may give it. The jobs machinery records each notice per subject and window, so a rerun
sends nothing twice. Two grouped queries, whatever the number of items.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Count, Min

from governance.jobs.models import Reminder
from governance.jobs.reminders import Due
from governance.links import link
from governance.people.models import Role, User
from governance.reviews.models import ReviewItem

SUBJECT_TYPE = "governance.reviewcampaign"
DUE_SOON = timedelta(days=7)


def due_items(now: datetime) -> Iterator[Due]:
    pending = (
        ReviewItem.objects.filter(decision=ReviewItem.Decision.PENDING, in_open_campaign=True)
        .values("campaign_id", "campaign__name", "campaign__due_at", "reviewer_id")
        .annotate(open_items=Count("id"))
        .order_by("campaign_id", "reviewer_id")
    )
    iam_ids: list[int] | None = None
    for row in pending:
        due_at = row["campaign__due_at"]
        overdue = due_at < now
        if overdue:
            kind, cadence = Reminder.Kind.OVERDUE, "day"
        elif due_at < now + DUE_SOON:
            kind, cadence = Reminder.Kind.DUE_SOON, "day"
        else:
            kind, cadence = Reminder.Kind.OPEN, "week"
        recipients = [row["reviewer_id"]]
        if row["reviewer_id"] is None:
            if iam_ids is None:
                iam_ids = _iam_ids()
            recipients = iam_ids
        for recipient in recipients:
            yield Due(
                recipient_id=recipient,
                subject_type=SUBJECT_TYPE,
                subject_id=f"{row['campaign_id']}:{row['reviewer_id'] or 'unassigned'}",
                kind=kind,
                title=f"{row['open_items']} access review(s) in '{row['campaign__name']}'",
                why=(
                    f"Overdue since {due_at:%Y-%m-%d}: certify what is still needed, remove what is not."
                    if overdue
                    else f"Due {due_at:%Y-%m-%d}."
                )
                + (" These items have no reviewer: reassign them." if row["reviewer_id"] is None else ""),
                url=link("reviews", query={"campaign": row["campaign_id"]})
                if row["reviewer_id"]
                else link("reviews-campaign", row["campaign_id"]),
                escalate=overdue,
                cadence=cadence,
                section="Reviews",
            )
    signoffs = (
        ReviewItem.objects.filter(signoff_state=ReviewItem.SignOff.PENDING, in_open_campaign=True)
        .values("campaign_id", "campaign__name")
        .annotate(waiting=Count("id"), since=Min("decided_at"))
        .order_by("campaign_id")
    )
    for row in signoffs:
        if iam_ids is None:
            iam_ids = _iam_ids()
        for recipient in iam_ids:
            yield Due(
                recipient_id=recipient,
                subject_type=SUBJECT_TYPE,
                subject_id=f"{row['campaign_id']}:signoff",
                kind=Reminder.Kind.OPEN,
                title=f"{row['waiting']} certification(s) awaiting IAM sign-off in '{row['campaign__name']}'",
                why=f"Waiting since {row['since']:%Y-%m-%d}; a second IAM approver must sign them off.",
                url=link("reviews"),
                cadence="day",
                section="Reviews",
            )


def _iam_ids() -> list[int]:
    return list(
        User.objects.filter(is_active=True, groups__name=Role.IAM).order_by("pk").values_list("pk", flat=True)
    )
