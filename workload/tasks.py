"""Celery wrapper: send the Security Event Tokens that are due (claimed one by one, compare-and-set)."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    name="workload.tasks.deliver_security_events",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=5,
)
def deliver_security_events() -> dict:
    from workload.sets import deliver_due

    return deliver_due()
