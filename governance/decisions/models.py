"""Decision records, just-in-time access requests and the keys that sign attestations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link
from governance.links import link
from governance.policy.models import DecisionOutcome
from inventory.models import Action, Environment, ResourceKind

# The fields naming an aggregate row's bucket (see `DecisionRecord.count`).
AGGREGATE_BUCKET = [
    "identity",
    "window_start",
    "action",
    "resource_kind",
    "resource_name",
    "environment",
    "decision",
]


class DecisionRecord(models.Model):
    """One answer Steward gave to "may this identity do this, here, now?".

    Allows above `STEWARD_DECISION_SAMPLE_ABOVE` per identity per minute are aggregated: one row per
    identity, minute, question and outcome carries the `count`. Denies and step-ups are always kept
    one row each.
    """

    # No index of its own: `decision_identity_at` (identity, -at) serves every lookup by identity, and
    # one index fewer is one B-tree insert fewer a decision (bench/README.md, issue 23's sixth pass).
    identity = models.ForeignKey(
        "inventory.Identity",
        on_delete=models.CASCADE,
        related_name="decisions",
        verbose_name=_("identity"),
        db_index=False,
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    resource_kind = models.CharField(_("resource kind"), max_length=20, choices=ResourceKind.choices)
    resource_name = models.CharField(_("resource"), max_length=300)
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)
    task_ref = models.CharField(_("task"), max_length=200, blank=True)
    decision = models.CharField(_("decision"), max_length=10, choices=DecisionOutcome.choices)
    reasons = models.JSONField(_("reasons"), default=list)
    policies = models.JSONField(_("deciding policies"), default=list)
    policy_version = models.PositiveIntegerField(_("policy version"))
    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.CharField(_("asked by"), max_length=150, help_text=_("The token or person that asked."))
    on_behalf_of = models.CharField(max_length=150, blank=True)
    out_of_scope = models.BooleanField(default=False)
    after_revocation = models.BooleanField(default=False)
    count = models.PositiveIntegerField(
        _("count"),
        default=1,
        help_text=_("How many identical answers this row stands for (aggregated allows)."),
    )
    window_start = models.DateTimeField(
        null=True, blank=True, help_text=_("Set on aggregated rows: the minute they cover.")
    )

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["-at"], name="decision_at"),
            models.Index(fields=["identity", "-at"], name="decision_identity_at"),
            models.Index(fields=["decision", "-at"], name="decision_outcome_at"),
        ]
        constraints = [
            # One aggregate row per identity, minute, question and outcome: concurrent counts add up.
            models.UniqueConstraint(
                fields=AGGREGATE_BUCKET,
                condition=Q(window_start__isnull=False),
                name="decision_aggregate_bucket_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identity_id} {self.action} {self.resource_kind}:{self.resource_name} → {self.decision}"

    @property
    def by_workload(self) -> bool:
        """Asked with a workload's exchanged access token ("workload:<id>:<name>")."""
        return self.actor.startswith("workload:")

    @property
    def executed_by(self) -> str:
        return self.actor.split(":", 2)[-1] if self.by_workload else self.actor


class AccessRequest(models.Model):
    """Just-in-time access: one action on one resource, for one task, for a few hours at most."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")
        ENDED = "ended", _("ended")

    TRANSITIONS: dict[str, set[str]] = {
        State.PENDING: {State.APPROVED, State.REJECTED, State.EXPIRED},
        State.APPROVED: {State.ENDED, State.EXPIRED},
        State.REJECTED: set(),
        State.EXPIRED: set(),
        State.ENDED: set(),
    }
    MAX_MINUTES = 480

    identity = models.ForeignKey(
        "inventory.Identity",
        on_delete=models.CASCADE,
        related_name="access_requests",
        verbose_name=_("identity"),
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="access_requests"
    )
    requested_via = models.CharField(
        max_length=150, blank=True, help_text=_("The token or person that filed it.")
    )
    action = models.CharField(_("action"), max_length=20, choices=Action.choices)
    resource_kind = models.CharField(_("resource kind"), max_length=20, choices=ResourceKind.choices)
    resource_name = models.CharField(_("resource"), max_length=300)
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)
    duration_minutes = models.PositiveIntegerField(_("duration (minutes)"))
    reason = models.TextField(_("reason"))
    task_ref = models.CharField(_("task"), max_length=200, blank=True)
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.PENDING)
    state_reason = models.CharField(max_length=300, blank=True)
    decided_by = models.CharField(_("decided by"), max_length=150, blank=True)
    grant = optional_link(
        "inventory.Grant", on_delete=models.SET_NULL, related_name="access_request", one_to_one=True
    )
    created_at = models.DateTimeField(_("requested"), default=timezone.now)
    deadline = models.DateTimeField(_("decide by"), help_text=_("Pending past this, the request expires."))
    decided_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(_("access until"), null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["deadline"], condition=Q(state="pending"), name="access_request_pending"),
            models.Index(fields=["expires_at"], condition=Q(state="approved"), name="access_request_live"),
            models.Index(fields=["identity", "-created_at"], name="access_request_identity"),
        ]

    def __str__(self) -> str:
        return f"JIT {self.action} on {self.resource_kind} {self.resource_name} ({self.environment})"

    def get_absolute_url(self) -> str:
        return link("access-request-detail", self.pk)

    @property
    def is_live(self) -> bool:
        return (
            self.state == self.State.APPROVED
            and self.expires_at is not None
            and self.expires_at > timezone.now()
        )


class SigningKey(models.Model):
    """The public half of an attestation key from before signing keys moved to files
    (governance.signing). Kept only so `/.well-known/jwks.json` publishes it until `published_until`;
    migration 0015 erased the private halves, and nothing signs with these rows any more."""

    kid = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=10, default="ES256")
    public_jwk = models.JSONField()
    created_at = models.DateTimeField(default=timezone.now)
    signs_until = models.DateTimeField(help_text=_("After this a newer key signs."))
    published_until = models.DateTimeField(help_text=_("Removed from the JWKS after this."))

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.algorithm} key {self.kid}"
