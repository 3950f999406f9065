"""Reminder source for findings: each open finding reminds the identity's owner (the daily reminders job,
governance.jobs.reminders)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from governance.findings.catalogue import RULES
from governance.findings.models import Finding
from governance.jobs.reminders import Due, Kind
from governance.links import link

FINDING_OVERDUE_AFTER = timedelta(days=14)


def open_findings_on_owned_identities(now: datetime) -> Iterable[Due]:
    """Each open finding reminds the identity's owner weekly; high/critical ones open for over two
    weeks are overdue (daily, escalated to the owner's manager and IAM)."""
    rows = Finding.objects.filter(
        status=Finding.Status.OPEN, identity__owner__isnull=False, identity__owner__is_active=True
    ).values_list(
        "id",
        "rule",
        "severity",
        "identity_id",
        "identity__name",
        "identity__owner_id",
        "first_seen_at",
        "evidence",
    )
    for pk, rule, severity, identity_id, name, owner_id, first_seen, evidence in rows:
        overdue = severity in ("high", "critical") and first_seen < now - FINDING_OVERDUE_AFTER
        summary = evidence.get("summary", "") if isinstance(evidence, dict) else ""
        yield Due(
            recipient_id=owner_id,
            subject_type="governance.finding",
            subject_id=pk,
            kind=Kind.OVERDUE if overdue else Kind.OPEN,
            title=f"{RULES[rule].label} ({severity}): {name}",
            why=(
                f"Open since {first_seen:%Y-%m-%d}. {summary}".strip()
                if overdue
                else summary or str(RULES[rule].description)
            ),
            url=link("findings", query={"identity": identity_id}),
            escalate=overdue,
            cadence="day" if overdue else "week",
            section="Findings",
        )
