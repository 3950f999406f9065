"""Thin Celery wrappers over the registered jobs (governance/jobs/registry.py).

Each task acknowledges late (a worker that dies mid-run leaves the message for another) and retries
with backoff when the database connection is lost. The jobs themselves are idempotent and hold a
lock row, so a redelivered or duplicated message does no harm.
"""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from governance.jobs.runner import run_job

# Every Steward task's delivery and retry options (the connectors' tasks take them too).
RETRY = {
    "acks_late": True,
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 5,
}


def _run(name: str) -> dict:
    run = run_job(name, trigger="celery")
    return {"job": name, "run": run.pk, "ok": run.ok, "summary": run.summary}


def _job_task(job: str):
    """The task Beat runs for one built-in job, named `governance.<job>` (the schedules name it)."""

    def task() -> dict:
        return _run(job)

    task.__name__ = task.__qualname__ = job
    return shared_task(name=f"governance.{job}", **RETRY)(task)


sweep, review_cadence, reminders, expiry, posture_snapshot = (
    _job_task(job) for job in ("sweep", "review_cadence", "reminders", "expiry", "posture_snapshot")
)


@shared_task(name="governance.run_job", **RETRY)
def run_registered_job(name: str) -> dict:
    """Any job a feature registered, by name (for schedules added in the admin)."""
    return _run(name)


@shared_task(name="governance.build_evidence_pack", **RETRY)
def build_evidence_pack(export_id: int) -> dict:
    """Build one evidence pack (idempotent: a pack that is no longer pending is left alone)."""
    from governance.evidence.builder import build_pack

    export = build_pack(export_id)
    return {"export": export_id, "state": export.state if export else None}
