"""/healthz: the time since the last successful governance sweep.

`ok` is False when the last success is older than STEWARD_SWEEP_MAX_AGE_SECONDS (default two hours)
or when no sweep has ever succeeded — except during the first two hours after the schedule was
installed (the sweep lock row is created by the migration), so a fresh install is not reported
degraded before beat has had a chance to run the first sweep. Once that grace has passed, "never" is
stale like any other.
"""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

SWEEP_JOB = "sweep"


def max_age_seconds() -> int:
    return settings.STEWARD_SWEEP_MAX_AGE_SECONDS


def sweep_health() -> dict:
    from governance.jobs.models import JobLock, JobRun

    now = timezone.now()
    limit = max_age_seconds()
    last = (
        JobRun.objects.filter(name=SWEEP_JOB, ok=True, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    if last is not None:
        age = int((now - last).total_seconds())
        return {
            "ok": age <= limit,
            "last_success_at": last.isoformat(),
            "age_seconds": age,
            "max_age_seconds": limit,
        }
    installed = JobLock.objects.filter(name=SWEEP_JOB).values_list("created_at", flat=True).first()
    grace = installed is not None and (now - installed).total_seconds() <= limit
    return {
        "ok": grace,
        "last_success_at": None,
        "age_seconds": None,
        "max_age_seconds": limit,
        "note": "no sweep has run yet" + (" (fresh install)" if grace else ""),
    }
