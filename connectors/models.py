"""Connectors: a source Steward reads (and, with enforcement on, acts on), its runs, what it saw.

Credentials for the source never live here: the worker's environment supplies them, as each SDK's
default chain reads them. `config` holds only where to look (region, endpoint, page size).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link
from governance.links import link


class Connector(models.Model):
    class Kind(models.TextChoices):
        AWS_IAM = "aws_iam", _("AWS IAM")
        GITHUB_ORG = "github_org", _("GitHub organisation")
        ENDPOINT_SCAN = "endpoint_scan", _("endpoint scan")

    class Schedule(models.TextChoices):
        MANUAL = "manual", _("manual only")
        HOURLY = "hourly", _("hourly")
        EVERY_6_HOURS = "every_6_hours", _("every 6 hours")
        DAILY = "daily", _("daily")

    name = models.CharField(
        _("name"),
        max_length=60,
        unique=True,
        help_text=_("Lower-case letters, digits, '-' and '_'. Identities it finds carry it as their source."),
    )
    kind = models.CharField(_("kind"), max_length=30, choices=Kind.choices)
    config = models.JSONField(
        _("configuration"),
        default=dict,
        blank=True,
        help_text=_("Where to look (e.g. region, endpoint_url); never a secret."),
    )
    schedule = models.CharField(
        _("schedule"), max_length=20, choices=Schedule.choices, default=Schedule.DAILY
    )
    enforce = models.BooleanField(
        _("enforce at the source"),
        default=False,
        help_text=_("Suspending, decommissioning or revoking its identities disables them at the source."),
    )
    identity = optional_link(
        "inventory.Identity",
        on_delete=models.SET_NULL,
        related_name="connector",
        help_text=_("The connector's own credential, registered in the inventory."),
        one_to_one=True,
    )
    created_by = optional_link(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    failing = models.BooleanField(default=False, help_text=_("The last (non-dry) run failed."))
    failing_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return link("connectors:detail", self.pk)

    @property
    def actor_label(self) -> str:
        """Who acts when the connector writes: `system:connector:<name>`."""
        return f"connector:{self.name}"


class ConnectorRun(models.Model):
    class State(models.TextChoices):
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.RUNNING)
    dry_run = models.BooleanField(_("dry run"), default=False)
    trigger = models.CharField(max_length=20, default="api", help_text=_("api, page, command or schedule."))
    actor = models.CharField(_("started by"), max_length=150)
    discovered = models.PositiveIntegerField(default=0, help_text=_("New at the source: added to triage."))
    changed = models.PositiveIntegerField(
        default=0, help_text=_("Known identities that changed at the source.")
    )
    vanished = models.PositiveIntegerField(default=0, help_text=_("Gone from the source since the last run."))
    errors = models.PositiveIntegerField(default=0)
    seen = models.PositiveIntegerField(default=0, help_text=_("Identities read from the source."))
    error_details = models.JSONField(default=list, blank=True)
    progress = models.JSONField(default=dict, blank=True, help_text=_("Phase and counts while running."))
    # Where a resumed run continues: {"phase": ..., "token": ...}; the phases already done.
    cursor = models.JSONField(default=dict, blank=True)
    report = models.JSONField(default=list, blank=True, help_text=_("What changed (or would, on a dry run)."))
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    # A worker holds the run while this is in the future; a dead worker's run is resumed after it.
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # One run per connector at a time: a second start is refused by the database itself.
            models.UniqueConstraint(
                fields=["connector"], condition=Q(state="running"), name="connector_one_running_run"
            )
        ]
        indexes = [models.Index(fields=["connector", "-started_at"], name="connector_run_recent")]

    def __str__(self) -> str:
        return f"{self.connector} run {self.pk} ({self.state})"

    def get_absolute_url(self) -> str:
        return link("connectors:detail", self.connector_id, fragment=f"run-{self.pk}")

    def expected_total(self) -> int | None:
        """How many identities this run should read: what the connector's last successful run read.
        A source says nothing of its size up front, so this is an estimate; None when there is no
        earlier run, or when this one has already read more (the source grew: no honest total)."""
        previous = (
            ConnectorRun.objects.filter(
                connector_id=self.connector_id, state=self.State.SUCCEEDED, started_at__lt=self.started_at
            )
            .order_by("-started_at", "-id")
            .values_list("seen", flat=True)
            .first()
        )
        if not previous or self.seen >= previous:
            return None
        return previous

    @property
    def progress_info(self):
        """Percent read and time left (governance.progress), the total estimated from the last run."""
        from governance.progress import Progress

        if self.state != self.State.RUNNING:
            seen = self.seen
            return Progress(seen, seen, started_at=self.started_at, finished=True, unit="identities")
        return Progress(
            self.seen, self.expected_total(), started_at=self.started_at, estimated=True, unit="identities"
        )


class SourceRecord(models.Model):
    """What the source said about one identity at the last sync: credentials, entitlements, trust."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="records")
    external_id = models.CharField(max_length=200)
    identity = models.ForeignKey(
        "inventory.Identity", null=True, on_delete=models.SET_NULL, related_name="source_records"
    )
    object_type = models.CharField(max_length=30, help_text=_("e.g. user or role."))
    name = models.CharField(max_length=200)
    details = models.JSONField(default=dict, blank=True)
    entitlements = models.JSONField(default=list, blank=True)
    disabled = models.BooleanField(
        default=False, help_text=_("Disabled at the source (keys inactive, deny).")
    )
    fingerprint = models.CharField(max_length=64)
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_run = models.PositiveBigIntegerField(default=0)
    gone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["connector", "external_id"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "external_id"], name="source_record_unique")
        ]
        indexes = [models.Index(fields=["connector", "last_seen_run"], name="source_record_seen")]

    def __str__(self) -> str:
        return self.external_id


class Enforcement(models.Model):
    """One request to disable an identity (or revoke entitlements) at its source, and its outcome."""

    class Action(models.TextChoices):
        DISABLE = "disable", _("disable")
        REVOKE = "revoke", _("revoke entitlements")

    class State(models.TextChoices):
        PENDING = "pending", _("pending")  # queued for the worker
        APPLIED = "applied", _("applied")  # the source accepted it; a later sync confirms
        CONFIRMED = "confirmed", _("confirmed")
        FAILED = "failed", _("failed")

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="enforcements")
    identity = models.ForeignKey("inventory.Identity", on_delete=models.CASCADE, related_name="enforcements")
    action = models.CharField(max_length=10, choices=Action.choices)
    cause = models.CharField(max_length=30)
    reason = models.TextField(blank=True)
    requested_by = models.CharField(max_length=150)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    details = models.JSONField(default=dict, blank=True, help_text=_("What was changed at the source."))
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    requested_at = models.DateTimeField(default=timezone.now)
    applied_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(
                fields=["identity"], condition=Q(state__in=["pending", "applied"]), name="enforcement_open"
            )
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.identity_id} at {self.connector}"
