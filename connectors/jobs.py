"""Scheduled work of the connectors, registered with the governance job registry when the app is
ready: resume runs whose worker died, and send enforcements the broker never took."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q

from connectors.models import ConnectorRun, Enforcement
from governance.jobs import registry

STUCK_AFTER = timedelta(minutes=10)


def recover(now: datetime) -> dict:
    """Requeue running runs with no live lease (never picked up, or their worker died) and pending
    enforcements never attempted. Idempotent: a requeued run resumes from its cursor."""
    from connectors.enforcement import enqueue
    from connectors.services import enqueue_run

    runs = list(
        ConnectorRun.objects.filter(state=ConnectorRun.State.RUNNING, started_at__lt=now - STUCK_AFTER)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .values_list("pk", flat=True)
    )
    for run_id in runs:
        enqueue_run(run_id)
    enforcements = list(
        Enforcement.objects.filter(
            state=Enforcement.State.PENDING, attempts=0, requested_at__lt=now - STUCK_AFTER
        ).values_list("pk", flat=True)
    )
    for enforcement_id in enforcements:
        enqueue(enforcement_id)
    return {"runs_requeued": len(runs), "enforcements_requeued": len(enforcements)}


registry.register_job(
    "connector_recovery",
    recover,
    "Resume connector runs whose worker died; send enforcements the broker missed (every 15 min).",
)
