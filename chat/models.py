"""Who a Slack user is in Steward, which Slack message shows which request, and the signatures seen."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SlackLink(models.Model):
    """A Slack user (workspace `team_id`, `slack_user_id`) acting as a Steward account; an e-mail address
    in common is never enough. Linking takes both sides: the signed-in person confirms in Steward and
    gets a one-time code, and the Slack user types it (`/steward confirm CODE`), so a link sent to
    someone else links nothing. Until then the row is pending (`confirmed_at` empty)."""

    team_id = models.CharField(_("Slack workspace"), max_length=32)
    slack_user_id = models.CharField(_("Slack user"), max_length=32)
    slack_name = models.CharField(_("Slack name"), max_length=150, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="slack_links")
    linked_at = models.DateTimeField(default=timezone.now)
    confirmed_at = models.DateTimeField(
        _("confirmed from Slack"), null=True, blank=True, default=timezone.now
    )
    code_hash = models.CharField(max_length=64, blank=True, help_text=_("SHA-256 of the one-time code."))
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team_id", "slack_user_id"], name="slack_link_one_per_user")
        ]

    def __str__(self) -> str:
        return f"Slack {self.team_id}/{self.slack_user_id} → {self.user}"


class SlackMessage(models.Model):
    """The one message about an approval request: posted once, then updated (`chat.update`)."""

    request = models.OneToOneField(
        "approvals.ApprovalRequest", on_delete=models.CASCADE, related_name="slack_message"
    )
    channel = models.CharField(max_length=32, blank=True)
    ts = models.CharField(max_length=32, blank=True, help_text=_("Empty until Slack accepted the post."))
    shown_state = models.CharField(max_length=40, blank=True, help_text=_("What the message shows now."))
    posted_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.channel}/{self.ts} for request {self.request_id}"


class SeenSignature(models.Model):
    """Signatures of Slack requests accepted in the last five minutes: the same one again is a replay."""

    signature = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"seen {self.seen_at:%Y-%m-%d %H:%M:%S}"
