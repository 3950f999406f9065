"""The exceptions register: time-bound, justified, approved departures from a rule."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link
from governance.links import link


class ExceptionQuerySet(models.QuerySet):
    def active(self, now=None):
        """Approved and not yet past expiry (the expiry job moves them to `expired` soon after)."""
        return self.filter(state=PolicyException.State.ACTIVE, expires_at__gt=now or timezone.now())

    def visible_to(self, user):
        """Governors and auditors see all; others see exceptions on identities they own or requested."""
        from governance.access import READERS

        if user.has_role(*READERS):
            return self
        return self.filter(Q(identity__owner=user) | Q(identity__backup_owner=user) | Q(requested_by=user))


class PolicyException(models.Model):
    class State(models.TextChoices):
        REQUESTED = "requested", _("requested")
        ACTIVE = "active", _("active")
        REJECTED = "rejected", _("rejected")
        EXPIRED = "expired", _("expired")
        REVOKED = "revoked", _("revoked")

    # Which state may follow which; the services move an exception only along these.
    TRANSITIONS: dict[str, set[str]] = {
        State.REQUESTED: {State.ACTIVE, State.REJECTED},
        State.ACTIVE: {State.REVOKED, State.EXPIRED},  # expired: past its expiry, or replaced by a renewal
        State.REJECTED: set(),
        State.EXPIRED: set(),
        State.REVOKED: set(),
    }

    identity = models.ForeignKey(
        "inventory.Identity",
        on_delete=models.CASCADE,
        related_name="policy_exceptions",
        verbose_name=_("identity"),
    )
    rule = models.CharField(
        _("rule"), max_length=60, help_text=_("The finding rule or deny rule this exception departs from.")
    )
    justification = models.TextField(_("justification"), help_text=_("Why the rule cannot be met now."))
    compensating_controls = models.TextField(
        _("compensating controls"), blank=True, help_text=_("What limits the risk while the exception lasts.")
    )
    expires_at = models.DateTimeField(_("expires at"))
    state = models.CharField(_("state"), max_length=12, choices=State.choices, default=State.REQUESTED)
    state_reason = models.CharField(_("reason"), max_length=300, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    created_at = models.DateTimeField(_("requested at"), default=timezone.now)
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    renewal_of = optional_link(
        "self", on_delete=models.SET_NULL, related_name="renewals", verbose_name=_("renewal of")
    )
    approval = optional_link(
        "approvals.ApprovalRequest", on_delete=models.SET_NULL, verbose_name=_("approval"), one_to_one=True
    )

    objects = ExceptionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "expires_at"], name="exception_state_expiry"),
            models.Index(fields=["identity", "state"], name="exception_identity_state"),
        ]

    def __str__(self) -> str:
        return f"exception #{self.pk}: {self.rule} on {self.identity_id} ({self.state})"

    def get_absolute_url(self) -> str:
        return link("exception-detail", self.pk)

    def can_move_to(self, state: str) -> bool:
        return state in self.TRANSITIONS.get(self.state, set())
