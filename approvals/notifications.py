"""Telling people about approval work: pluggable channels, sent only after the change commits.

Channels implement `send(event, recipients, subject, body, url)`. Two ship with Steward: email
(Django's mail backend; the console backend in the demo) and a generic JSON webhook (for a chat tool),
enabled by `STEWARD_WEBHOOK_URL`. A failing channel is logged and never breaks the request that
caused the notification.
"""

from __future__ import annotations

import abc
import json
import logging
import os
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

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


def absolute_url(path: str) -> str:
    return settings.STEWARD_BASE_URL.rstrip("/") + path


class Channel(abc.ABC):
    """A way to tell people (email, webhook, …); register more with register_channel()."""

    name = "channel"

    @abc.abstractmethod
    def send(self, event: str, recipients: list[Recipient], subject: str, body: str, url: str) -> None:
        """Deliver one notification; raise on failure (the caller logs it and carries on)."""


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
    return getattr(settings, "STEWARD_WEBHOOK_URL", "") or os.environ.get("STEWARD_WEBHOOK_URL", "")


def channels() -> list[Channel]:
    configured: list[Channel] = [EmailChannel()]
    if url := webhook_url():
        configured.append(WebhookChannel(url))
    return configured + list(_extra_channels)


def deliver(event: str, recipients: list[Recipient], subject: str, body: str, url: str) -> None:
    for channel in channels():
        try:
            channel.send(event, recipients, subject, body, url)
        except Exception:  # noqa: BLE001 - a broken channel must never break the request
            logger.exception("notification via %s failed (event %s)", channel.name, event)


def notify(event: str, recipients: list[Recipient], subject: str, body: str, path: str) -> None:
    """Queue a notification for after the current transaction commits (nothing if it rolls back)."""
    if not recipients:
        return
    url = absolute_url(path)
    transaction.on_commit(lambda: deliver(event, recipients, subject, body, url))
