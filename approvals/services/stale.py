"""Stale requests: remind once, then expire. A plain function; Celery beat calls it daily.

Open requests (waiting for an approver, or sent back to the requester) untouched for the policy's
`request_reminder_days` get one reminder, recorded on the request before anything is sent, so a rerun
sends nothing. It goes through the reminders the daily digest records (`governance.jobs.reminders`),
under the digest's own key for the request and step: whichever of the two runs first tells a person,
the other leaves it out that day, and both read alike (issue 22 item 9). After `request_expiry_days`
without activity they expire: the request is withdrawn with the reason "expired". Both are audited
as `system:approvals`. Safe when two runs overlap: rows are claimed under
`select_for_update(skip_locked=True)` and re-checked under the lock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from approvals.models import ApprovalRequest, ApprovalStep, Comment
from approvals.registry import handler_for
from approvals.reminders import SUBJECT_TYPE
from approvals.routing import ROLE_LABELS
from approvals.services.common import ROLE_GROUPS
from approvals.services.requests import withdraw
from governance import audit
from governance.actors import system
from governance.errors import IllegalTransition
from governance.jobs import reminders
from governance.jobs.models import Reminder
from governance.jobs.reminders import Due
from governance.people.models import Role, User
from governance.policy.services import current_policy

logger = logging.getLogger("steward.approvals")
EXPIRED = "expired"
ACTOR = "approvals"


def remind_and_expire_stale_requests(now: datetime | None = None) -> dict[str, int]:
    """Run once; returns how many requests were reminded and expired."""
    now = now or timezone.now()
    policy = current_policy()
    remind_after = timedelta(days=int(policy.get("request_reminder_days", 3)))
    expire_after = timedelta(days=int(policy.get("request_expiry_days", 14)))
    expired = _expire(now - expire_after)
    reminded = _remind(now, now - remind_after, now - expire_after)
    return {"reminded": reminded, "expired": expired}


def _expire(cutoff: datetime) -> int:
    stale = list(
        ApprovalRequest.objects.open().filter(last_activity_at__lte=cutoff).values_list("pk", flat=True)
    )
    count = 0
    for pk in stale:  # each in its own transaction, so one kind's failing hook cannot block the rest
        try:
            with transaction.atomic():
                request = ApprovalRequest.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
                # Re-check under the lock: someone may have acted since the list was read.
                if request is None or not request.is_open or request.last_activity_at > cutoff:
                    continue
                withdraw(system(ACTOR), request, reason=EXPIRED)
                count += 1
        except IllegalTransition:
            continue
        except Exception:  # noqa: BLE001 - log and go on with the others
            logger.exception("expiring approval request %s failed", pk)
    return count


def _role_members() -> dict[str, list[User]]:
    members: dict[str, list[User]] = {}
    for role, group in ROLE_GROUPS.items():
        members[role] = list(
            User.objects.filter(is_active=True, groups__name=group)
            .exclude(groups__name=Role.AUDITOR)
            .distinct()
        )
    return members


@transaction.atomic
def _remind(now: datetime, cutoff: datetime, expiry_cutoff: datetime) -> int:
    claimed = list(
        ApprovalRequest.objects.select_for_update(skip_locked=True, of=("self",))
        .open()
        .filter(reminded_at__isnull=True, last_activity_at__lte=cutoff, last_activity_at__gt=expiry_cutoff)
        .select_related("requester")
        .prefetch_related(
            "parties", Prefetch("steps", queryset=ApprovalStep.objects.order_by("round", "order"))
        )
    )
    if not claimed:
        return 0
    # Recorded before anything is sent: a rerun (or a second worker) finds reminded_at set.
    ApprovalRequest.objects.filter(pk__in=[r.pk for r in claimed], reminded_at__isnull=True).update(
        reminded_at=now
    )
    actor = system(ACTOR)
    members = _role_members()
    events = []
    due: list[Due] = []
    for request in claimed:
        step = request.open_step()
        if step is not None:
            excluded = {request.requester_id, *(p.pk for p in request.parties.all())}
            excluded |= {s.decided_by_id for s in request.current_steps() if s.decided_by_id}
            people = [u for u in members[step.role] if u.pk not in excluded]
            holder = f"{ROLE_LABELS[step.role]} (step {step.order})"
        else:
            people = [request.requester]
            holder = "the requester (changes requested)"
        events.append(
            Comment(
                request=request,
                author_label=actor.label,
                event=Comment.Event.REMINDED,
                body=f"Reminder sent to {holder}.",
                round=request.round,
                created_at=now,
            )
        )
        audit.record(
            actor,
            "approval.reminded",
            request,
            after={"holder": holder, "recipients": sorted(u.username for u in people)},
            reason=f"no activity since {request.last_activity_at:%Y-%m-%d}",
        )
        why = (
            f"No activity since {request.last_activity_at:%Y-%m-%d}; it waits for {holder} and expires "
            "if nothing happens."
        )
        url = handler_for(request.kind).url(request)
        for person in people:
            # The key the daily digest uses for the same request and step (approvals.reminders), so
            # a person hears of it once a day whichever job runs first, in the digest's style.
            due.append(
                Due(
                    recipient_id=person.pk,
                    subject_type=SUBJECT_TYPE,
                    subject_id=f"{request.pk}:{step.pk}" if step is not None else f"{request.pk}:requester",
                    kind=Reminder.Kind.OVERDUE,
                    title=f"{request.title} waits for your approval"
                    if step is not None
                    else f"{request.title} waits for your changes",
                    why=why,
                    url=url,
                    cadence="day",
                    section="Approvals",
                )
            )
    Comment.objects.bulk_create(events)
    batch = reminders.send_now(due, now)
    if batch:
        transaction.on_commit(lambda: reminders.deliver_now(batch, now))
    return len(claimed)
