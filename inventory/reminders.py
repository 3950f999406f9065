"""Reminder source for credentials expiring soon (the daily reminders job, governance.jobs.reminders)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from governance.jobs.reminders import Due, Kind
from governance.links import link
from inventory.models import Credential, Identity

CREDENTIAL_NOTICE = timedelta(days=14)


def credentials_expiring_soon(now: datetime) -> Iterable[Due]:
    rows = (
        Credential.objects.filter(
            revoked_at__isnull=True,
            expires_at__gt=now,
            expires_at__lte=now + CREDENTIAL_NOTICE,
            identity__owner__isnull=False,
            identity__owner__is_active=True,
        )
        .exclude(identity__status=Identity.Status.DECOMMISSIONED)
        .values_list(
            "id", "kind", "label", "expires_at", "identity_id", "identity__name", "identity__owner_id"
        )
    )
    for pk, kind, label, expires_at, identity_id, name, owner_id in rows:
        yield Due(
            recipient_id=owner_id,
            subject_type="inventory.credential",
            subject_id=pk,
            kind=Kind.DUE_SOON,
            title=f"Credential {label or kind} of {name} expires {expires_at:%Y-%m-%d}",
            why="Rotate or renew it before then, or access stops at expiry.",
            url=link("inventory:detail", identity_id),
            cadence="week",
            section="Credentials",
        )
