from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link
from governance.findings.catalogue import RULES
from governance.links import link
from inventory.models import TIER_ORDER, RiskTier


class Rule(models.TextChoices):
    STALE_UNUSED = "stale_unused", _("Stale, unused access")
    CREDENTIAL_ROTATION_OVERDUE = "credential_rotation_overdue", _("Credential rotation overdue")
    CREDENTIAL_NO_EXPIRY = "credential_no_expiry", _("Credential without expiry")
    ORPHANED_OWNER = "orphaned_owner", _("Orphaned owner")
    REVIEW_OVERDUE = "review_overdue", _("Access review overdue")
    EXCEPTION_EXPIRED = "exception_expired", _("Exception expired")
    ENVIRONMENT_CROSSING = "environment_crossing", _("Environment crossing")
    DENIED_GRANT = "denied_grant", _("Grant denied by policy")
    UNAPPROVED_VENDOR = "unapproved_vendor", _("Unapproved vendor or model")
    USED_AFTER_REVOCATION = "used_after_revocation", _("Used after revocation")
    OUT_OF_SCOPE_USE = "out_of_scope_use", _("Use outside approved scope")
    UNMANAGED_IDENTITY = "unmanaged_identity", _("Unmanaged identity at the source")
    UNAPPROVED_ENTITLEMENT = "unapproved_entitlement", _("Entitlement beyond approved grants")
    CONNECTOR_FAILING = "connector_failing", _("Connector failing")
    STATIC_SECRET_IN_MCP_CONFIG = "static_secret_in_mcp_config", _("Static secret in an MCP configuration")
    AGENT_THREAT_UNCONTROLLED = "agent_threat_uncontrolled", _("Agentic threat without a control")
    STATIC_CREDENTIAL_WHERE_FEDERATION_EXISTS = (
        "static_credential_where_federation_exists",
        _("Static credential where federation exists"),
    )


# A finding's severity is on the risk tiers' scale (a threat finding takes its identity's tier).
Severity = RiskTier
SEVERITY_ORDER = TIER_ORDER


class FindingQuerySet(models.QuerySet):
    def unresolved(self):
        return self.filter(status__in=Finding.UNRESOLVED)

    def visible_to(self, user):
        """Governors and auditors see every finding; owners see those on identities they own."""
        if user.has_role(*_readers()):
            return self
        return self.filter(Q(identity__owner=user) | Q(identity__backup_owner=user))


def _readers():
    from governance.access import READERS

    return READERS


class Finding(models.Model):
    """One rule broken by one identity. The sweep opens, refreshes and resolves these; nobody edits them."""

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        RESOLVED = "resolved", _("resolved")
        SUPPRESSED = "suppressed", _("suppressed")

    UNRESOLVED = (Status.OPEN, Status.SUPPRESSED)

    class Resolution(models.TextChoices):
        """Why a finding stopped counting against its SLA."""

        FIXED = "fixed", _("fixed")
        SUPPRESSED = "suppressed_by_exception", _("suppressed by an exception")
        IDENTITY_SUSPENDED = "identity_suspended", _("identity suspended")
        IDENTITY_DECOMMISSIONED = "identity_decommissioned", _("identity decommissioned")

    rule = models.CharField(_("rule"), max_length=64, choices=Rule.choices)
    identity = models.ForeignKey(
        "inventory.Identity", on_delete=models.CASCADE, related_name="findings", verbose_name=_("identity")
    )
    severity = models.CharField(_("severity"), max_length=10, choices=Severity.choices)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.OPEN)
    first_seen_at = models.DateTimeField(_("first seen"), default=timezone.now)
    last_seen_at = models.DateTimeField(_("last seen"), default=timezone.now)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    evidence = models.JSONField(
        _("evidence"), default=dict, blank=True, help_text=_("What the sweep saw when it opened this.")
    )
    due_at = models.DateTimeField(
        _("due"),
        null=True,
        blank=True,
        help_text=_("First seen plus the policy's finding_sla_days for its severity."),
    )
    owner = optional_link(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        verbose_name=_("owner"),
        help_text=_("Who fixes it: the identity's owner while it is unresolved (none: IAM)."),
    )
    resolution = models.CharField(_("resolution"), max_length=30, choices=Resolution.choices, blank=True)
    exception = optional_link(
        "governance.PolicyException", on_delete=models.SET_NULL, verbose_name=_("suppressing exception")
    )

    objects = FindingQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            # One unresolved finding per rule and identity; resolved ones are history and may repeat.
            models.UniqueConstraint(
                fields=["rule", "identity"],
                condition=Q(status__in=["open", "suppressed"]),
                name="finding_one_unresolved_per_rule_identity",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "rule"], name="finding_status_rule"),
            models.Index(fields=["identity", "status"], name="finding_identity_status"),
            models.Index(fields=["status", "severity"], name="finding_status_severity"),
        ]

    def __str__(self) -> str:
        return f"{self.rule} on {self.identity_id} ({self.status})"

    @property
    def is_overdue(self) -> bool:
        return self.is_overdue_at(timezone.now())

    def is_overdue_at(self, now) -> bool:
        """Open past its due date (a suppressed finding is covered by an approved exception)."""
        return self.status == self.Status.OPEN and self.due_at is not None and self.due_at < now

    @property
    def info(self):
        return RULES[self.rule]

    @property
    def references(self) -> list[str]:
        return self.info.reference_list()

    @property
    def short_references(self) -> list[tuple[str, str]]:
        return self.info.short_references()

    @property
    def exception_request_url(self) -> str:
        return link("exception-new", query={"identity": self.identity_id, "rule": self.rule})

    @property
    def evidence_summary(self) -> str:
        return summarise_evidence(self.evidence)


def summarise_evidence(evidence: dict) -> str:
    """One line for lists: the evidence's own 'summary' when the rule wrote one."""
    if not isinstance(evidence, dict):
        return ""
    return str(evidence.get("summary", ""))
