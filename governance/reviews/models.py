"""Access review campaigns: a frozen population of identities, one item per identity, one decision each.

A campaign copies each in-scope identity's owner, grants, credentials, last use and open findings into
its item at launch (`ReviewItem.snapshot`) and stores a count and a SHA-256 over those snapshots, so
what was reviewed can be proven later whatever happened to the inventory since.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link, person_on_record
from governance.links import link

# A reviewer who certifies at least this many items, each shown for less than this many seconds,
# in one campaign is flagged as a possible rubber stamp on the campaign page.
RUBBER_STAMP_SECONDS = 10
RUBBER_STAMP_COUNT = 10


class ReviewCampaign(models.Model):
    class State(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")

    class Origin(models.TextChoices):
        MANUAL = "manual", _("launched by hand")
        CADENCE = "cadence", _("opened on the tier's cadence")

    name = models.CharField(_("name"), max_length=200)
    scope = models.JSONField(
        _("scope"),
        default=dict,
        help_text=_("risk_tiers, kinds, teams, environments; an empty list means all."),
    )
    due_at = models.DateTimeField(_("due"))
    state = models.CharField(_("state"), max_length=10, choices=State.choices, default=State.OPEN)
    origin = models.CharField(_("origin"), max_length=10, choices=Origin.choices, default=Origin.MANUAL)
    # One cadence campaign per tier and day: a second job run (or two at once) cannot open a twin.
    cadence_key = models.CharField(max_length=40, blank=True)
    created_by = person_on_record()
    created_by_label = models.CharField(max_length=150, help_text=_("The person, token or system job."))
    launched_at = models.DateTimeField(_("launched"), default=timezone.now)
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    closed_by_label = models.CharField(max_length=150, blank=True)
    population_count = models.PositiveIntegerField(default=0)
    population_sha256 = models.CharField(max_length=64, blank=True)
    skipped_count = models.PositiveIntegerField(
        default=0, help_text=_("In scope but already under review in another open campaign.")
    )

    class Meta:
        ordering = ["-launched_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["cadence_key"], condition=~Q(cadence_key=""), name="review_campaign_cadence_key"
            )
        ]
        indexes = [models.Index(fields=["state", "due_at"], name="review_campaign_state_due")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return link("reviews-campaign", self.pk)

    @property
    def is_open(self) -> bool:
        return self.state == self.State.OPEN

    def is_overdue(self, now=None) -> bool:
        return self.is_open and self.due_at < (now or timezone.now())


class ReviewItemQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(decision=ReviewItem.Decision.PENDING)

    def for_reviewer(self, user):
        return self.filter(reviewer=user)

    def open_for(self, user):
        """Items waiting for this person's decision in open campaigns."""
        return self.filter(reviewer=user, decision=ReviewItem.Decision.PENDING, in_open_campaign=True)


class ReviewItem(models.Model):
    class Decision(models.TextChoices):
        PENDING = "pending", _("pending")
        CERTIFY = "certify", _("certify")
        MODIFY = "modify", _("modify")
        REVOKE = "revoke", _("revoke")
        LET_EXPIRE = "let_expire", _("let expire")
        NOT_REVIEWED = "not_reviewed", _("not reviewed")

    REVIEWER_DECISIONS = (Decision.CERTIFY, Decision.MODIFY, Decision.REVOKE, Decision.LET_EXPIRE)
    REASON_REQUIRED = (Decision.MODIFY, Decision.REVOKE)

    class SignOff(models.TextChoices):
        NOT_REQUIRED = "not_required", _("not required")
        PENDING = "pending", _("awaiting IAM sign-off")
        SIGNED = "signed", _("signed off")
        LAPSED = "lapsed", _("not signed off before close")

    class Remediation(models.TextChoices):
        """The same words a connector uses for an identity (CONTRACT: pending, confirmed, failed)."""

        NONE = "none", _("none")
        PENDING = "pending", _("pending: revocation to confirm")
        CONFIRMED = "confirmed", _("confirmed")
        FAILED = "failed", _("failed")

    class Channel(models.TextChoices):
        BROWSER = "browser", _("review page")
        API = "api", _("REST API")
        BULK = "bulk", _("bulk certify")

    class ReviewerSource(models.TextChoices):
        OWNER = "owner", _("owner")
        IAM_FALLBACK = "iam_fallback", _("IAM (owner missing or inactive)")
        REASSIGNED = "reassigned", _("reassigned")

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    identity = models.ForeignKey("inventory.Identity", on_delete=models.PROTECT, related_name="review_items")
    # Denormalised from the campaign so "one open review per identity" is a database constraint.
    in_open_campaign = models.BooleanField(default=True)
    # Frozen at launch for grouping and rules (the snapshot holds the same values).
    risk_tier = models.CharField(max_length=10)
    team = optional_link("governance.Team", on_delete=models.SET_NULL)
    snapshot = models.JSONField(help_text=_("The identity as it was at launch; never changed."))
    reviewer = person_on_record(related_name="review_items")
    reviewer_source = models.CharField(max_length=20, choices=ReviewerSource.choices)

    decision = models.CharField(
        _("decision"), max_length=20, choices=Decision.choices, default=Decision.PENDING
    )
    reason = models.TextField(_("reason"), blank=True)
    removed_grants = models.JSONField(default=list, blank=True, help_text=_("Grant ids ended by 'modify'."))
    decided_by = person_on_record()
    decided_by_label = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_via = models.CharField(
        max_length=10, choices=Channel.choices, blank=True, help_text=_("Where the decision was made.")
    )

    # Rubber-stamp guard: when the item was first and last displayed, and for how long before deciding.
    shown_at = models.DateTimeField(null=True, blank=True)
    last_shown_at = models.DateTimeField(null=True, blank=True)
    display_seconds = models.PositiveIntegerField(null=True, blank=True)

    signoff_state = models.CharField(max_length=20, choices=SignOff.choices, default=SignOff.NOT_REQUIRED)
    signoff_by = person_on_record()
    signoff_at = models.DateTimeField(null=True, blank=True)

    remediation_state = models.CharField(max_length=20, choices=Remediation.choices, default=Remediation.NONE)
    remediation_action_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("When Steward suspended it, ended its grants and marked credentials."),
    )
    remediation_confirmed_at = models.DateTimeField(null=True, blank=True)
    remediation_confirmed_by = person_on_record()
    remediation_confirmed_by_label = models.CharField(
        max_length=150,
        blank=True,
        help_text=_("Who or what confirmed: an IAM approver, or a connector's sync."),
    )
    remediation_note = models.CharField(
        max_length=300, blank=True, help_text=_("A note or ticket reference proving the revocation.")
    )
    remediation_error = models.CharField(
        max_length=500, blank=True, help_text=_("Why the revocation failed at the source.")
    )

    objects = ReviewItemQuerySet.as_manager()

    class Meta:
        ordering = ["campaign_id", "identity_id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "identity"], name="review_item_once_per_campaign"),
            models.UniqueConstraint(
                fields=["identity"],
                condition=Q(in_open_campaign=True),
                name="review_item_one_open_per_identity",
            ),
        ]
        indexes = [
            models.Index(fields=["reviewer", "decision"], name="review_item_reviewer"),
            models.Index(fields=["campaign", "decision"], name="review_item_campaign"),
            models.Index(
                fields=["remediation_state"],
                condition=Q(remediation_state="pending"),
                name="review_item_remed_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.snapshot.get('name', self.identity_id)} in {self.campaign_id}"

    def get_absolute_url(self) -> str:
        return link("reviews-item", self.pk)

    @property
    def is_pending(self) -> bool:
        return self.decision == self.Decision.PENDING

    @property
    def needs_signoff(self) -> bool:
        return self.signoff_state == self.SignOff.PENDING

    @property
    def is_complete(self) -> bool:
        return not self.is_pending and not self.needs_signoff


class ReviewReminder(models.Model):
    """A reminder to one reviewer about one campaign, recorded before the mail goes (one per day)."""

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="reminders")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    window = models.DateField(help_text=_("The day this reminder covers."))
    open_items = models.PositiveIntegerField()
    sent_at = models.DateTimeField(default=timezone.now)
    sent_by_label = models.CharField(max_length=150)

    class Meta:
        ordering = ["-sent_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "reviewer", "window"], name="review_reminder_once_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.reviewer_id} {self.campaign_id} {self.window}"
