"""Reminder source for approvals, called by the daily reminders job (governance.jobs.reminders).

A pending request waits on the people who may decide its open step: the members of the step's role,
less the requester, the parties (e.g. the owner-to-be) and whoever decided an earlier step of this
round — the same people `approvals.services.common.eligible_deciders` names. Each of them hears about
it in their daily digest once the decision is due within a day (``due_soon``), and daily once it is
past due (``overdue``, escalated to the approver's manager and IAM). The decision is due
`request_reminder_days` after the last activity (`ApprovalRequest.due_at`).

The jobs machinery records each notice per recipient, subject and window, so a rerun sends nothing
twice. Four queries, whatever the number of requests or approvers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import OuterRef, Q, Subquery

from approvals.models import ApprovalRequest, ApprovalStep
from approvals.registry import handler_for
from approvals.routing import ROLE_LABELS
from approvals.services.common import ROLE_GROUPS
from governance.jobs.models import Reminder
from governance.jobs.reminders import Due
from governance.people.models import Role, User
from governance.policy.services import current_policy

SUBJECT_TYPE = "approvals.approvalrequest"
DUE_SOON = timedelta(days=1)


def _waiting(now: datetime, reminder_days: timedelta) -> list[dict]:
    """Pending requests whose decision is due within DUE_SOON (or already past due), with their open step."""
    open_step = ApprovalStep.objects.filter(
        request=OuterRef("pk"), round=OuterRef("round"), state=ApprovalStep.State.PENDING
    ).order_by("order")
    return list(
        ApprovalRequest.objects.pending()
        .filter(
            Q(due_at__lte=now + DUE_SOON)
            | Q(due_at__isnull=True, last_activity_at__lte=now + DUE_SOON - reminder_days)
        )
        .annotate(
            step_role=Subquery(open_step.values("role")[:1]),
            step_order=Subquery(open_step.values("order")[:1]),
            step_id=Subquery(open_step.values("pk")[:1]),
        )
        .filter(step_id__isnull=False)
        .values(
            "pk",
            "kind",
            "object_id",
            "title",
            "round",
            "requester_id",
            "due_at",
            "last_activity_at",
            "step_role",
            "step_order",
            "step_id",
        )
        .order_by("pk")
    )


def _parties(request_ids: list[int]) -> dict[int, set[int]]:
    """Per request: the people who count as its requester (separation of duties)."""
    out: dict[int, set[int]] = defaultdict(set)
    parties = ApprovalRequest.parties.through.objects.filter(approvalrequest_id__in=request_ids)
    for request_id, user_id in parties.values_list("approvalrequest_id", "user_id"):
        out[request_id].add(user_id)
    return out


def _deciders(request_ids: list[int]) -> dict[tuple[int, int], set[int]]:
    out: dict[tuple[int, int], set[int]] = defaultdict(set)
    decided = ApprovalStep.objects.filter(request_id__in=request_ids, decided_by__isnull=False)
    for request_id, round_, user_id in decided.values_list("request_id", "round", "decided_by_id"):
        out[(request_id, round_)].add(user_id)
    return out


def _role_members() -> dict[str, list[int]]:
    """Active approvers per approver role; auditors decide nothing, whatever else they hold."""
    group_role = {group: role for role, group in ROLE_GROUPS.items()}
    memberships = (
        User.groups.through.objects.filter(group__name__in=group_role, user__is_active=True)
        .exclude(user__groups__name=Role.AUDITOR)
        .values_list("group__name", "user_id")
        .order_by("user_id")
    )
    members: dict[str, list[int]] = defaultdict(list)
    for group_name, user_id in memberships:
        members[group_role[group_name]].append(user_id)
    return members


def due_items(now: datetime) -> Iterator[Due]:
    reminder_days = timedelta(days=int(current_policy().get("request_reminder_days", 3)))
    waiting = _waiting(now, reminder_days)
    if not waiting:
        return iter(())
    ids = [row["pk"] for row in waiting]
    parties = _parties(ids)
    deciders = _deciders(ids)
    members = _role_members()
    items: list[Due] = []
    for row in waiting:
        due_at = row["due_at"] or row["last_activity_at"] + reminder_days
        overdue = due_at <= now
        excluded = {row["requester_id"], *parties[row["pk"]], *deciders[(row["pk"], row["round"])]}
        # A stand-in row: each flow's handler builds its page address from pk and object_id.
        url = handler_for(row["kind"]).url(
            ApprovalRequest(pk=row["pk"], kind=row["kind"], object_id=row["object_id"])
        )
        step = f"step {row['step_order']}, {ROLE_LABELS.get(row['step_role'], row['step_role'])}"
        why = (
            f"A decision was due {due_at:%Y-%m-%d}; "
            f"no activity since {row['last_activity_at']:%Y-%m-%d} ({step})."
            if overdue
            else f"A decision is due {due_at:%Y-%m-%d} ({step})."
        )
        for recipient in members.get(row["step_role"], []):
            if recipient in excluded:
                continue
            items.append(
                Due(
                    recipient_id=recipient,
                    subject_type=SUBJECT_TYPE,
                    subject_id=f"{row['pk']}:{row['step_id']}",
                    kind=Reminder.Kind.OVERDUE if overdue else Reminder.Kind.DUE_SOON,
                    title=f"{row['title']} waits for your approval",
                    why=why,
                    url=url,
                    escalate=overdue,
                    cadence="day",
                    section="Approvals",
                )
            )
    return iter(items)
