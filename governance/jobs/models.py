from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class JobLock(models.Model):
    """One row per scheduled job; a run holds it with SELECT ... FOR UPDATE so runs never overlap."""

    name = models.CharField(max_length=60, primary_key=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


class JobRun(models.Model):
    """One execution of a scheduled job, from beat, a worker or `run_governance_jobs`."""

    name = models.CharField(_("job"), max_length=60)
    started_at = models.DateTimeField(_("started"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    ok = models.BooleanField(_("succeeded"), null=True, help_text=_("Empty while running."))
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=20, blank=True, help_text=_("celery, command, …"))

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["name", "-finished_at"], condition=Q(ok=True), name="jobrun_last_success"),
        ]

    def __str__(self) -> str:
        state = "running" if self.ok is None else ("ok" if self.ok else "failed")
        return f"{self.name} {self.started_at:%Y-%m-%d %H:%M} {state}"


class Reminder(models.Model):
    """A reminder recorded before it is sent: unique per recipient, subject, kind and window.

    The window is the day (`2025-03-14`) or ISO week (`2025-W11`) the reminder belongs to, so a rerun
    in the same window — or a catch-up after days of downtime — finds the row and sends nothing new.
    """

    class Kind(models.TextChoices):
        DUE_SOON = "due_soon", _("due soon")
        OVERDUE = "overdue", _("overdue")
        ESCALATION = "escalation", _("escalation")
        OPEN = "open", _("open item")
        DIGEST = "digest", _("daily digest")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reminders"
    )
    subject_type = models.CharField(max_length=64)
    subject_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    window = models.CharField(max_length=12)
    title = models.CharField(max_length=300, blank=True)
    why = models.CharField(max_length=300, blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(
        max_length=36,
        blank=True,
        help_text=_("The run that recorded or took it over; 'sent' or 'opted_out' once done."),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "subject_type", "subject_id", "kind", "window"],
                name="reminder_once_per_window",
            )
        ]
        indexes = [
            models.Index(fields=["claim"], condition=Q(sent_at__isnull=True), name="reminder_unsent"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_type}:{self.subject_id} → {self.recipient_id} ({self.window})"


class ReminderOptOut(models.Model):
    """A person who asked not to get routine reminder digests. Overdue escalations still reach them."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"opt-out {self.user_id}"


class PostureSnapshot(models.Model):
    """The dashboard's figures for one day, kept for trend charts."""

    date = models.DateField(unique=True)
    figures = models.JSONField(default=dict)
    taken_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-date"]

    def __str__(self) -> str:
        return f"posture {self.date}"
