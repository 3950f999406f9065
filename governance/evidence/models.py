from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Control(models.Model):
    """One of Steward's own controls, mapped to public frameworks. Loaded from the catalogue."""

    code = models.CharField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    references = models.JSONField(
        _("framework references"), default=dict, help_text=_("{framework: [reference, ...]}")
    )
    rules = models.JSONField(_("finding rules"), default=list, blank=True)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["order", "code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    def reference_list(self) -> list[str]:
        return [f"{framework}: {ref}" for framework, refs in self.references.items() for ref in refs]


class EvidenceExport(models.Model):
    """A requested evidence pack: built by a Celery task into a zip under VAR_DIR/media/evidence/."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    period_start = models.DateField(_("period start"))
    period_end = models.DateField(_("period end"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    file_path = models.CharField(max_length=300, blank=True, help_text=_("Relative to MEDIA_ROOT."))
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, help_text=_("SHA-256 of the whole zip."))
    manifest = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Set by the worker that claimed the build (a conditional update); a pending pack whose claim is
    # older than the builder's lease lost its worker and is rebuilt or failed by the scheduled job.
    started_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Files of the pack written so far by the build holding the claim, of how many (issue 22 item 11).
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"evidence {self.period_start}..{self.period_end} ({self.state})"

    @property
    def filename(self) -> str:
        return f"steward-evidence-{self.period_start}-{self.period_end}-{self.pk}.zip"

    @property
    def is_finished(self) -> bool:
        return self.state != self.State.PENDING

    @property
    def progress(self):
        from governance.progress import Progress

        return Progress(
            self.progress_done,
            self.progress_total,
            started_at=self.started_at,
            finished=self.state == self.State.READY,
            unit="files",
        )
