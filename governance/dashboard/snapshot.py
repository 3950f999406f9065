"""The daily posture snapshot: the dashboard's figures, one row per day, for trend charts."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from governance import audit
from governance.actors import system
from governance.dashboard.figures import estate_summary
from governance.jobs.models import PostureSnapshot
from governance.jobs.runner import hold_lock


def posture_figures(now: datetime | None = None) -> dict[str, Any]:
    """The estate-wide dashboard figures (governance/dashboard/figures.py): a fixed number of queries."""
    return estate_summary(now)


def take_snapshot(now: datetime) -> dict[str, Any]:
    """Store today's figures. Rerunning the same day replaces them: still one row per date."""
    day = timezone.localdate(now)
    with transaction.atomic():
        hold_lock("posture_snapshot")
        figures = posture_figures(now)
        snapshot, created = PostureSnapshot.objects.update_or_create(
            date=day, defaults={"figures": figures, "taken_at": now}
        )
        audit.record(
            system("posture_snapshot"),
            "posture.snapshot_taken" if created else "posture.snapshot_refreshed",
            snapshot,
            after={"date": day.isoformat(), "live_identities": figures["live_identities"]},
        )
    return {"date": day.isoformat(), "created": created, **figures}
