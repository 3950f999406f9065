"""Running a registered job once: the lock that keeps runs from overlapping, and the JobRun record."""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.jobs import registry
from governance.jobs.models import JobLock, JobRun

log = logging.getLogger(__name__)


class UnknownJob(KeyError):
    pass


def hold_lock(name: str) -> None:
    """Take the job's lock row for the rest of the current transaction.

    A second run of the same job waits here until the first commits, then finds the work done: two
    workers running a job at once give the same result as one. (SQLite has no row locks, but its
    IMMEDIATE transactions already serialise writers.)
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("hold_lock must be called inside a transaction")
    JobLock.objects.get_or_create(name=name)
    JobLock.objects.select_for_update().get(name=name)


def run_job(name: str, *, now: datetime | None = None, trigger: str = "command") -> JobRun:
    """Run one registered job now and record the run. Exceptions are recorded, then re-raised."""
    hooks = registry.jobs()
    if name not in hooks:
        raise UnknownJob(name)
    func = hooks[name].target
    run = JobRun.objects.create(name=name, trigger=trigger, started_at=timezone.now())
    try:
        summary = func(now or timezone.now()) or {}
    except Exception as exc:
        log.exception("job %s failed", name)
        try:
            _finish(run, ok=False, error=f"{exc.__class__.__name__}: {exc}"[:2000])
        except Exception:  # noqa: BLE001 - the database may be the thing that failed
            log.warning("could not record the failure of job %s", name)
        raise
    _finish(run, ok=True, summary=summary)
    return run


def _finish(run: JobRun, *, ok: bool, summary: dict | None = None, error: str = "") -> None:
    run.finished_at = timezone.now()
    run.ok = ok
    run.summary = summary or {}
    run.error = error
    JobRun.objects.filter(pk=run.pk).update(
        finished_at=run.finished_at, ok=ok, summary=run.summary, error=error
    )
