"""Live status of each control, computed with a fixed number of aggregate queries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, F, Q
from django.utils import timezone

from approvals.models import ApprovalStep
from governance.evidence.origins import approval_record_exists
from governance.findings.models import Finding
from governance.models import AuditChainHead, AuditEvent
from inventory.models import Credential, Identity


@dataclass
class ControlStatus:
    percent: int | None
    text: str
    healthy: bool
    open_findings: int = 0


def _pct(part: int, whole: int) -> int | None:
    return None if whole == 0 else round(100 * part / whole)


def control_statuses() -> dict[str, ControlStatus]:
    today = timezone.localdate()
    active = Identity.objects.filter(status=Identity.Status.ACTIVE).aggregate(
        total=Count("id"),
        # A real approval record (governance.evidence.origins), not a filled approved_at (issue 19 item 6).
        approved=Count("id", filter=approval_record_exists()),
        owned=Count("id", filter=Q(owner__isnull=False, owner__is_active=True)),
        on_time=Count("id", filter=Q(next_review_due__gte=today)),
        overdue=Count("id", filter=Q(next_review_due__lt=today) | Q(next_review_due__isnull=True)),
    )
    creds = Credential.objects.filter(
        revoked_at__isnull=True, identity__status=Identity.Status.ACTIVE
    ).aggregate(
        total=Count("id"),
        expiring=Count("id", filter=Q(expires_at__isnull=False) | Q(kind__in=Credential.FEDERATED_KINDS)),
    )
    pending_revocations = Credential.objects.filter(
        revoked_at__isnull=False, revocation_confirmed_at__isnull=True
    ).count()
    open_by_rule = dict(
        Finding.objects.filter(status=Finding.Status.OPEN).values_list("rule").annotate(n=Count("id"))
    )
    self_decided = ApprovalStep.objects.filter(decided_by=F("request__requester")).count()
    events = AuditEvent.objects.count()
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq = head.seq if head else 0

    def open_for(*rules: str) -> int:
        return sum(open_by_rule.get(rule, 0) for rule in rules)

    total = active["total"]
    statuses: dict[str, ControlStatus] = {}
    pct = _pct(active["approved"], total)
    statuses["STW-01"] = ControlStatus(
        pct,
        f"{pct if pct is not None else '–'}% of {total} active identities have an approval record "
        f"(intake, activation, token issuance or a governor's decision); "
        f"{total - active['approved']} without (identity_origins.csv)",
        total == active["approved"],
        open_for("unapproved_vendor", "denied_grant"),
    )
    pct = _pct(active["owned"], total)
    statuses["STW-02"] = ControlStatus(
        pct,
        f"{pct if pct is not None else '–'}% of active identities have an active owner; "
        f"{total - active['owned']} orphaned",
        total == active["owned"],
        open_for("orphaned_owner"),
    )
    pct = _pct(active["on_time"], total)
    statuses["STW-03"] = ControlStatus(
        pct,
        f"{pct if pct is not None else '–'}% of active identities reviewed on time; "
        f"{active['overdue']} overdue",
        active["overdue"] == 0,
        open_for("review_overdue"),
    )
    pct = _pct(creds["expiring"], creds["total"])
    rotation = open_for("credential_rotation_overdue", "credential_no_expiry")
    statuses["STW-04"] = ControlStatus(
        pct,
        f"{pct if pct is not None else '–'}% of live credentials expire or are federated; "
        f"{rotation} rotation findings open; {pending_revocations} revocations awaiting confirmation",
        rotation == 0 and pending_revocations == 0,
        rotation,
    )
    stale = open_for("stale_unused", "used_after_revocation", "out_of_scope_use", "environment_crossing")
    statuses["STW-05"] = ControlStatus(
        None, f"{stale} open stale or out-of-scope access findings", stale == 0, stale
    )
    expired = open_for("exception_expired")
    statuses["STW-06"] = ControlStatus(
        None, f"{expired} expired exceptions still in use", expired == 0, expired
    )
    statuses["STW-07"] = ControlStatus(
        None,
        f"{self_decided} approval steps decided by the requester",
        self_decided == 0,
    )
    statuses["STW-08"] = ControlStatus(
        None,
        f"{events} events; chain head #{head_seq}",
        events == head_seq,
    )
    threats = open_for("agent_threat_uncontrolled")
    statuses["STW-09"] = ControlStatus(
        None,
        f"{threats} AI identities with uncontrolled agentic threats (threat_profiles.csv)",
        threats == 0,
        threats,
    )
    return statuses
