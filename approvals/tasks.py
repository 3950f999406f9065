"""Thin Celery wrapper: deliver one notification from the outbox (approvals.notifications)."""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from approvals import notifications


@shared_task(
    name=notifications.DELIVER_TASK,
    acks_late=True,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=30,
    max_retries=5,
)
def deliver_notification(notification_id: int) -> bool:
    return notifications.deliver_notification(notification_id)
