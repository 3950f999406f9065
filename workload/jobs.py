"""Scheduled work of workload identity, registered with the governance job registry when the app is
ready: resend Security Event Tokens that are due, and forget expired tokens' replay records."""

from __future__ import annotations

from datetime import datetime, timedelta

from governance.jobs import registry
from workload import sets
from workload.models import IssuedToken, SeenSubjectToken

KEEP_ISSUED = timedelta(days=30)


def housekeeping(now: datetime) -> dict:
    """Send due SETs; drop replay records past their token's expiry and token rows a month past theirs."""
    delivered = sets.deliver_due(now)
    seen, _ = SeenSubjectToken.objects.filter(expires_at__lt=now).delete()
    issued, _ = IssuedToken.objects.filter(expires_at__lt=now - KEEP_ISSUED).delete()
    return {**delivered, "replay_records_dropped": seen, "token_rows_dropped": issued}


registry.register_job(
    "workload_housekeeping",
    housekeeping,
    "Resend due Security Event Tokens; forget expired replay records and old token rows (every minute).",
)
