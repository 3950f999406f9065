"""Thin Celery wrapper: deliver one notification from the outbox (approvals.notifications)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError


@shared_task(
    name="approvals.deliver_notification",
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=5,
)
def deliver_notification(notification_id: int) -> bool:
    from approvals.notifications import deliver_notification as deliver

    return deliver(notification_id)
