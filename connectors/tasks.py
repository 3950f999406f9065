"""Thin Celery wrappers: run a connector's sync, its scheduled sync, and one enforcement.

Each acknowledges late and retries when the database connection is lost; the work they call is
claimed with a compare-and-set, so a redelivered or duplicated message does nothing. The services
enqueue them by name (`RUN_TASK`, `ENFORCE_TASK`), so they never import this module.
"""

from __future__ import annotations

from celery import shared_task

from connectors import enforcement
from connectors.models import Connector
from connectors.services import RUN_TASK, start_run
from connectors.sync import execute_run
from governance.actors import system
from governance.errors import IllegalTransition
from governance.tasks import RETRY


@shared_task(name=RUN_TASK, **RETRY)
def run_sync(run_id: int) -> dict:
    run = execute_run(run_id)
    return {"run": run_id, "state": run.state if run else None}


@shared_task(name="connectors.scheduled_sync", **RETRY)
def scheduled_sync(connector_id: int) -> dict:
    """Beat's entry for a connector: start a run now, unless one is running (then skip)."""
    connector = Connector.objects.filter(pk=connector_id).first()
    if connector is None or connector.schedule == Connector.Schedule.MANUAL:
        return {"connector": connector_id, "skipped": "no schedule"}
    try:
        run = start_run(system("connector-schedule"), connector, trigger="schedule")
    except IllegalTransition:
        return {"connector": connector_id, "skipped": "already running"}
    done = execute_run(run.pk)  # this worker runs it (the queued copy finds it claimed)
    return {"connector": connector_id, "run": run.pk, "state": done.state if done else None}


@shared_task(name=enforcement.ENFORCE_TASK, **RETRY)
def enforce(enforcement_id: int) -> dict:
    done = enforcement.execute(enforcement_id)
    return {"enforcement": enforcement_id, "state": done.state if done else None}
