"""Queue a Celery task by its registered name, from the service that needs it (the task's module calls
that service, so the service never imports it; docs/architecture.md).

A name no process registered is a programming error and raises `KeyError` at once; only the broker
being unreachable (kombu raises several kinds) is swallowed, and each caller says what then waits for
its recovery job or outbox."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import current_app

logger = logging.getLogger(__name__)


def send_by_name(name: str, args: Sequence = ()) -> bool:
    """True once queued; False when the broker could not be reached (no publish retries: the caller's
    recovery job or outbox is the retry, and a request should not wait on the broker)."""
    task = current_app.tasks[name]  # outside the try: an unregistered task must not pass for an outage
    try:
        task.apply_async(tuple(args), retry=False)
    except Exception:  # noqa: BLE001 - kombu raises several kinds; all mean "not queued now"
        logger.warning("could not queue %s: the broker did not take it", name, exc_info=True)
        return False
    return True
