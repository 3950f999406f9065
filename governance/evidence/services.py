"""Requesting an evidence pack. The build itself runs in a Celery task after the request commits."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from governance import audit
from governance.actors import as_actor, system
from governance.errors import NotAllowed
from governance.evidence.models import EvidenceExport
from governance.people.models import Role
from governance.queueing import send_by_name

BUILD_TASK = "governance.build_evidence_pack"  # governance.tasks.build_evidence_pack
log = logging.getLogger(__name__)

EXPORTERS = (Role.IAM, Role.SECURITY, Role.AUDITOR)
MAX_PERIOD_DAYS = 3 * 366


def default_period(today: date | None = None) -> tuple[date, date]:
    """The last 90 days, ending today."""
    today = today or timezone.localdate()
    return today - timedelta(days=89), today


def _as_date(value, field: str, errors: dict) -> date | None:
    if isinstance(value, date):
        return value
    parsed = parse_date(value) if isinstance(value, str) and value else None
    if parsed is None:
        errors[field] = [_("Enter a date as YYYY-MM-DD.")]
    return parsed


def clean_period(period_start, period_end) -> tuple[date, date]:
    errors: dict[str, list[str]] = {}
    try:
        start = _as_date(period_start, "period_start", errors)
        end = _as_date(period_end, "period_end", errors)
    except ValueError:
        raise ValidationError({"period_start": [_("Enter a real calendar date.")]}) from None
    if start and end:
        if end < start:
            errors["period_end"] = [_("The period must end on or after its start.")]
        elif (end - start).days > MAX_PERIOD_DAYS:
            errors["period_end"] = [_("A period may span at most three years.")]
        if end > timezone.localdate():
            errors["period_end"] = [_("The period cannot end in the future.")]
    if errors:
        raise ValidationError(errors)
    return start, end


def request_export(actor, period_start, period_end) -> EvidenceExport:
    """IAM, Security or an Auditor asks for a pack of the period; the build is queued after commit."""
    actor = as_actor(actor)
    user = actor.user
    if user is None or not user.has_role(*EXPORTERS):
        raise NotAllowed(_("Only IAM, Security and Auditors export evidence."))
    start, end = clean_period(period_start, period_end)
    with transaction.atomic():
        export = EvidenceExport.objects.create(requested_by=user, period_start=start, period_end=end)
        audit.record(
            actor,
            "evidence.export_requested",
            export,
            after={"period_start": start.isoformat(), "period_end": end.isoformat()},
        )
        transaction.on_commit(lambda: _enqueue(export.pk))
    return export


def _enqueue(export_id: int) -> None:
    """Queue the build. With the broker down the request still succeeds: the pack stays pending and
    the `evidence_recovery` scheduled job builds it. By task name: the Celery wrappers
    (governance.tasks) sit above the features they run."""
    if not send_by_name(BUILD_TASK, (export_id,)):
        log.warning("broker unreachable: evidence export %s waits for the recovery job", export_id)


def refuse_changed_pack(export: EvidenceExport, actual_sha256: str, actual_size: int) -> None:
    """A pack's file no longer matches what was built: record it (the download is refused)."""
    log.error("evidence pack %s changed on disk: sha256 %s, %s bytes", export.pk, actual_sha256, actual_size)
    with transaction.atomic():
        audit.record(
            system("evidence"),
            "evidence.download_refused",
            export,
            before={"sha256": export.sha256, "size": export.size},
            after={"sha256": actual_sha256, "size": actual_size},
            reason="the pack file changed on disk after it was built",
        )
