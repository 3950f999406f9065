"""The notification outbox: one row per notification, written in the transaction that caused it.

A notification is never sent from inside that transaction, and never lost when the broker or a mail
server is down: the row waits as `pending` until a worker (the task queued after commit, or the
`notifications` scheduled job) claims it with a conditional update and delivers it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link


class Notification(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    event = models.CharField(_("event"), max_length=80)
    recipients = models.JSONField(_("recipients"), default=list, help_text=_("[{username, email, name}]"))
    subject = models.CharField(_("subject"), max_length=300)
    body = models.TextField(_("body"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    # The approval request it concerns, for channels whose message follows the request (Slack).
    approval = optional_link("approvals.ApprovalRequest", on_delete=models.SET_NULL)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    # Channels already delivered, so a retry after a partial failure repeats none of them.
    channels_done = models.JSONField(default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"],
                name="notification_undelivered",
                condition=Q(state__in=["pending", "sending"]),
            )
        ]

    def __str__(self) -> str:
        return f"{self.event}: {self.subject} ({self.state})"
