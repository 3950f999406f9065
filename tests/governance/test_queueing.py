"""Tasks queued by name: an unregistered name is a bug and raises; only an unreachable broker is
swallowed (the caller's recovery job or outbox then sends it)."""

import pytest
from celery import current_app

from connectors.enforcement import ENFORCE_TASK
from connectors.services import RUN_TASK
from governance.queueing import send_by_name


def test_every_name_the_services_queue_by_is_a_registered_task():
    from approvals.notifications import DELIVER_TASK as NOTIFICATIONS
    from governance.evidence.services import BUILD_TASK
    from workload.sets import DELIVER_TASK as SECURITY_EVENTS

    for name in (NOTIFICATIONS, BUILD_TASK, SECURITY_EVENTS, RUN_TASK, ENFORCE_TASK):
        assert name in current_app.tasks, name


def test_an_unregistered_name_raises_instead_of_passing_for_an_outage():
    with pytest.raises(KeyError):
        send_by_name("steward.no_such_task")


def test_an_unreachable_broker_is_reported_as_not_queued(monkeypatch, caplog):
    task = current_app.tasks[RUN_TASK]

    def refuse(*args, **kwargs):
        raise ConnectionRefusedError("broker down")

    monkeypatch.setattr(task, "apply_async", refuse)
    assert send_by_name(RUN_TASK, (1,)) is False
    assert "could not queue connectors.run_sync" in caplog.text


def test_a_queued_task_is_reported_as_queued(monkeypatch):
    task = current_app.tasks[ENFORCE_TASK]
    sent = []
    monkeypatch.setattr(task, "apply_async", lambda args, retry: sent.append((args, retry)))
    assert send_by_name(ENFORCE_TASK, [7]) is True
    assert sent == [((7,), False)]
