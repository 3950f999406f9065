"""Telling people about approval work: pluggable channels, delivered from an outbox after commit.

`notify()` writes a `Notification` row in the caller's transaction (so it exists exactly when the
change does) and, after commit, queues a Celery task to deliver it. When the broker is down the row
simply waits: the `notifications` scheduled job delivers every pending row once the broker (and so
beat and the workers) are back. Delivery claims a row with a conditional update, so the task and the
job racing for the same row send it once.

Channels implement `send(event, recipients, subject, body, url)`. Two ship with Steward: email
(Django's mail backend; the console backend in the demo) and a generic JSON webhook (for a chat tool),
enabled by `STEWARD_WEBHOOK_URL`. A channel that follows approval requests rather than people (Slack,
`chat/`, registered with `register_channel`) sets `follows_requests` and overrides `accepts`/`deliver`:
a row names the request it is `about`, and such a row is written even when nobody is to be told by
mail (a request withdrawn by its requester still updates its Slack message).

A failing channel is logged and never breaks the request that
caused the notification; the row is retried later for that channel only, up to `MAX_ATTEMPTS`.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from governance import links
from governance.queueing import send_by_name

logger = logging.getLogger("steward.notifications")


@dataclass(frozen=True)
class Recipient:
    username: str
    email: str
    name: str


def recipients_from(users: Iterable, *, exclude=None) -> list[Recipient]:
    """People to tell, never the one who acted (`exclude`), each once."""
    excluded = getattr(exclude, "pk", None)
    seen: set[int] = set()
    out = []
    for user in users:
        if user is None or user.pk == excluded or user.pk in seen or not user.is_active:
            continue
        seen.add(user.pk)
        out.append(Recipient(username=user.username, email=user.email or "", name=str(user)))
    return out


class Channel:
    """A way to tell people (email, webhook, …); register more with register_channel()."""

    name = "channel"
    # True for a channel that tells a room about each approval request (its message follows the
    # request), not people: rows `about` a request are then written even with no recipients.
    follows_requests = False

    def accepts(self, row) -> bool:
        """Whether this row is for this channel at all (people's channels: when it names people)."""
        return bool(row.recipients)

    def deliver(self, row, recipients: list[Recipient]) -> None:
        """Deliver one row; raise on failure (the caller logs it and carries on). People's channels
        implement `send`; a channel that follows requests (a chat room) overrides this instead."""
        self.send(row.event, recipients, row.subject, row.body, row.url)

    def send(self, event: str, recipients: list[Recipient], subject: str, body: str, url: str) -> None:
        raise TypeError(f"{type(self).__name__} must implement send() or deliver()")


class EmailChannel(Channel):
    """One message per person, so nobody sees who else was told."""

    name = "email"

    def send(self, event, recipients, subject, body, url):
        for recipient in recipients:
            if not recipient.email:
                continue
            send_mail(
                subject=f"[Steward] {subject}",
                message=f"Hello {recipient.name},\n\n{body}\n\nOpen it: {url}\n",
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[recipient.email],
            )


class WebhookChannel(Channel):
    """POSTs one JSON document per notification to a URL (Slack/Teams/Mattermost bridges and the like)."""

    name = "webhook"
    timeout_seconds = 5

    def __init__(self, url: str):
        self.url = url

    def send(self, event, recipients, subject, body, url):
        payload = {
            "event": event,
            "subject": subject,
            "text": f"{subject}\n{body}\n{url}",
            "body": body,
            "url": url,
            "recipients": [r.username for r in recipients],
        }
        request = urllib.request.Request(
            self.url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json", "User-Agent": "Steward"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:  # noqa: S310
            response.read()


_extra_channels: list[Channel] = []


def register_channel(channel: Channel) -> None:
    """Add a channel (e.g. a chat integration) for every notification from now on."""
    _extra_channels.append(channel)


def webhook_url() -> str:
    return settings.STEWARD_WEBHOOK_URL


def channels() -> list[Channel]:
    configured: list[Channel] = [EmailChannel()]
    if url := webhook_url():
        configured.append(WebhookChannel(url))
    return configured + list(_extra_channels)


MAX_ATTEMPTS = 5
# A row claimed longer ago than this belongs to a worker that died mid-send; it is claimed again.
CLAIM_LEASE = timedelta(minutes=10)
# After the broker refused one enqueue, skip enqueueing for a while (each try blocks for seconds);
# the scheduled job delivers what waits meanwhile.
BROKER_BACKOFF_SECONDS = 60
_broker_down_until = 0.0
DELIVER_TASK = "approvals.deliver_notification"  # approvals.tasks.deliver_notification


def notify(event: str, recipients: list[Recipient], subject: str, body: str, path: str, *, about=None):
    """Record a notification in the current transaction; it is delivered after commit (never if the
    change rolls back), or later by the scheduled job if it cannot be queued now. `about`: the
    approval request it concerns, for the channels that follow requests."""
    from approvals.models import Notification

    follows = about is not None and any(c.follows_requests for c in channels())
    if not recipients and not follows:
        return None
    row = Notification.objects.create(
        approval=about if follows else None,
        event=event[:80],
        recipients=[asdict(r) for r in recipients],
        subject=subject[:300],
        body=body,
        url=links.absolute(path)[:500],
    )
    transaction.on_commit(lambda: enqueue(row.pk))
    return row


def enqueue(notification_id: int) -> bool:
    """Ask a worker to deliver the row now. A broker that is down only delays the notification."""
    global _broker_down_until
    if time.monotonic() < _broker_down_until:
        return False
    # By name, so this module does not import its own Celery wrapper (approvals.tasks calls here).
    if not send_by_name(DELIVER_TASK, (notification_id,)):
        _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
        logger.warning("broker unreachable: notification %s waits in the outbox", notification_id)
        return False
    return True


def _claimable(now: datetime) -> Q:
    return Q(state="pending") | Q(state="sending", claimed_at__lt=now - CLAIM_LEASE)


def deliver_notification(notification_id: int, now: datetime | None = None) -> bool:
    """Claim one row (compare-and-set) and send it on every channel not yet done. True when sent."""
    from approvals.models import Notification

    now = now or timezone.now()
    claimed = (
        Notification.objects.filter(_claimable(now), pk=notification_id)
        .filter(attempts__lt=MAX_ATTEMPTS)
        .update(state=Notification.State.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    )
    if not claimed:
        return False  # sent already, or another worker holds it
    row = Notification.objects.get(pk=notification_id)
    recipients = [Recipient(**r) for r in row.recipients]
    done = list(row.channels_done)
    errors = []
    for channel in channels():
        if channel.name in done or not channel.accepts(row):
            continue
        try:
            channel.deliver(row, recipients)
        except Exception as exc:  # noqa: BLE001 - a broken channel must never break the request
            logger.exception("notification via %s failed (event %s)", channel.name, row.event)
            errors.append(f"{channel.name}: {exc.__class__.__name__}: {exc}")
            continue
        done.append(channel.name)
        Notification.objects.filter(pk=row.pk).update(channels_done=done)
    if not errors:
        state, sent_at = Notification.State.SENT, timezone.now()
    else:
        gave_up = row.attempts >= MAX_ATTEMPTS
        state, sent_at = (Notification.State.FAILED if gave_up else Notification.State.PENDING), None
    Notification.objects.filter(pk=row.pk, state=Notification.State.SENDING).update(
        state=state, sent_at=sent_at, last_error="\n".join(errors)[:2000]
    )
    return not errors


def deliver_pending(now: datetime | None = None) -> dict:
    """The scheduled job: deliver everything still waiting (oldest first), each row once."""
    from approvals.models import Notification

    now = now or timezone.now()
    Notification.objects.filter(
        state=Notification.State.SENDING, claimed_at__lt=now - CLAIM_LEASE, attempts__gte=MAX_ATTEMPTS
    ).update(state=Notification.State.FAILED, last_error="The worker sending it was lost too often.")
    ids = list(
        Notification.objects.filter(_claimable(now), attempts__lt=MAX_ATTEMPTS)
        .order_by("created_at", "id")
        .values_list("id", flat=True)[:1000]
    )
    sent = sum(1 for pk in ids if deliver_notification(pk, now))
    return {
        "sent": sent,
        "retrying": Notification.objects.filter(state=Notification.State.PENDING).count(),
        "failed": Notification.objects.filter(state=Notification.State.FAILED).count(),
    }
