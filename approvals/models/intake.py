"""An owner's request for a new non-human identity: the answers, their risk, and the outcome."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link, person_on_record
from governance.links import link
from inventory.models import TEXT_LENGTHS, Credential, DataClassification, Identity, RiskTier


class IntakeRequest(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", _("draft")
        SUBMITTED = "submitted", _("submitted")
        CHANGES_REQUESTED = "changes_requested", _("changes requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        WITHDRAWN = "withdrawn", _("withdrawn")

    EDITABLE_STATES = (State.DRAFT, State.CHANGES_REQUESTED)
    OPEN_STATES = (State.DRAFT, State.SUBMITTED, State.CHANGES_REQUESTED)
    TRANSITIONS: dict[str, set[str]] = {
        State.DRAFT: {State.SUBMITTED, State.WITHDRAWN},
        State.SUBMITTED: {State.APPROVED, State.REJECTED, State.CHANGES_REQUESTED, State.WITHDRAWN},
        State.CHANGES_REQUESTED: {State.SUBMITTED, State.WITHDRAWN},
        State.APPROVED: set(),
        State.REJECTED: set(),
        State.WITHDRAWN: set(),
    }

    # The answers (field names are the public contract's).
    name = models.CharField(_("name"), max_length=TEXT_LENGTHS["name"], blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Identity.Kind.choices, blank=True)
    vendor = models.CharField(_("vendor"), max_length=TEXT_LENGTHS["vendor"], blank=True)
    product = models.CharField(_("product"), max_length=TEXT_LENGTHS["product"], blank=True)
    model_name = models.CharField(_("model"), max_length=TEXT_LENGTHS["model_name"], blank=True)
    purpose = models.TextField(_("purpose"), blank=True)
    owner = person_on_record(related_name="intake_requests_owned", verbose_name=_("owner"))
    backup_owner = person_on_record(related_name="intake_requests_backup", verbose_name=_("backup owner"))
    team = optional_link(
        "governance.Team", on_delete=models.PROTECT, related_name="intake_requests", verbose_name=_("team")
    )
    environments = models.JSONField(_("environments"), default=list, blank=True)
    grants = models.JSONField(
        _("grants"),
        default=list,
        blank=True,
        help_text=_("[{resource_kind, resource_name, actions, expires_at}] exactly as they will be granted."),
    )
    credential_kind = models.CharField(
        _("credential kind"), max_length=20, choices=Credential.Kind.choices, blank=True
    )
    data_classification = models.CharField(
        _("data classification"),
        max_length=20,
        choices=DataClassification.choices,
        default=DataClassification.INTERNAL,
    )
    autonomous = models.BooleanField(
        _("autonomous"), default=False, help_text=_("Acts without a person confirming each step.")
    )

    # What Steward made of them.
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="intake_requests"
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.DRAFT)
    state_reason = models.CharField(max_length=300, blank=True)
    risk_tier = models.CharField(
        _("risk tier"), max_length=10, choices=RiskTier.choices, default=RiskTier.LOW
    )
    risk_reasons = models.JSONField(default=list, blank=True)
    tier_floor = models.CharField(
        max_length=10,
        choices=RiskTier.choices,
        blank=True,
        help_text=_("Set when IAM raised the tier; the computed tier never goes below it."),
    )
    tier_floor_reason = models.CharField(max_length=500, blank=True)
    approval = optional_link(
        "approvals.ApprovalRequest", on_delete=models.PROTECT, related_name="intake", one_to_one=True
    )
    identity = optional_link(
        Identity, on_delete=models.PROTECT, related_name="intake_request", one_to_one=True
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["requester", "state"], name="intake_requester_state"),
            models.Index(fields=["state", "risk_tier"], name="intake_state_tier"),
        ]

    def __str__(self) -> str:
        return self.name or f"intake request #{self.pk}"

    def get_absolute_url(self) -> str:
        return link("intake-detail", self.pk)

    @property
    def external_id(self) -> str:
        return f"intake-{self.pk}"

    @property
    def is_editable(self) -> bool:
        return self.state in self.EDITABLE_STATES

    @property
    def actions(self) -> list[str]:
        return sorted({a for g in self.grants or [] for a in g.get("actions", [])})
