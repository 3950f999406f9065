"""Reminder source for exceptions: owners hear 14 and 3 days before expiry, and once at expiry.

Each notice has its own subject id (``<pk>:14d``, ``<pk>:3d``, ``<pk>:expired``) and is left out once a
`Reminder` row exists for it, whatever the window — so a rerun, a second run the same day or a run
on a later day never repeats a notice. Two queries, whatever the number of exceptions.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import Q

from governance.exceptions.models import PolicyException
from governance.jobs.models import Reminder
from governance.jobs.reminders import Due
from governance.links import link

SUBJECT_TYPE = "governance.policyexception"
MILESTONES = (3, 14)  # days before expiry
NOTICE_WINDOW = timedelta(days=30)  # an expiry older than this is not announced any more
State = PolicyException.State


def _candidates(now: datetime):
    soon = Q(state=State.ACTIVE, expires_at__gt=now, expires_at__lte=now + timedelta(days=max(MILESTONES)))
    expired = Q(state=State.EXPIRED, state_reason="reached its expiry", ended_at__gte=now - NOTICE_WINDOW)
    return PolicyException.objects.filter(soon | expired).values_list(
        "pk",
        "state",
        "rule",
        "expires_at",
        "identity__name",
        "identity__owner_id",
        "identity__backup_owner_id",
    )


def due_items(now: datetime) -> Iterator[Due]:
    items: list[Due] = []
    for pk, state, rule, expires_at, name, owner_id, backup_id in _candidates(now):
        url = link("exception-detail", pk)
        if state == State.EXPIRED:
            tag, kind = "expired", Reminder.Kind.OVERDUE
            title = f"Exception to {rule} for {name} has expired"
            why = "The finding it covered is open again; fix it or request a renewal."
        else:
            days = next(d for d in MILESTONES if expires_at <= now + timedelta(days=d))
            tag, kind = f"{days}d", Reminder.Kind.DUE_SOON
            title = f"Exception to {rule} for {name} expires on {expires_at.date().isoformat()}"
            why = f"Within {days} days: fix the underlying issue or request a renewal."
        for recipient in {owner_id, backup_id} - {None}:
            items.append(
                Due(
                    recipient_id=recipient,
                    subject_type=SUBJECT_TYPE,
                    subject_id=f"{pk}:{tag}",
                    kind=kind,
                    title=title,
                    why=why,
                    url=url,
                    section="Exceptions",
                )
            )
    if not items:
        return iter(())
    sent = set(
        Reminder.objects.filter(
            subject_type=SUBJECT_TYPE, subject_id__in={i.subject_id for i in items}
        ).values_list("recipient_id", "subject_id")
    )
    return iter([i for i in items if (i.recipient_id, i.subject_id) not in sent])
