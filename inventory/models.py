from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Case, CharField, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link, person_on_record
from governance.links import link


class Environment(models.TextChoices):
    SANDBOX = "sandbox", _("sandbox")
    DEV = "dev", _("dev")
    STAGING = "staging", _("staging")
    PROD = "prod", _("prod")


class RiskTier(models.TextChoices):
    LOW = "low", _("low")
    MEDIUM = "medium", _("medium")
    HIGH = "high", _("high")
    CRITICAL = "critical", _("critical")


TIER_ORDER = {RiskTier.LOW: 0, RiskTier.MEDIUM: 1, RiskTier.HIGH: 2, RiskTier.CRITICAL: 3}


class Action(models.TextChoices):
    READ_CODE = "read_code", _("read code")
    WRITE_CODE = "write_code", _("write code")
    OPEN_PR = "open_pr", _("open pull requests")
    MERGE = "merge", _("merge")
    RUN_CI = "run_ci", _("run CI")
    DEPLOY = "deploy", _("deploy")
    READ_SECRETS = "read_secrets", _("read secrets")
    WRITE_SECRETS = "write_secrets", _("write secrets")
    READ_DATA = "read_data", _("read data")
    WRITE_DATA = "write_data", _("write data")
    READ_TICKETS = "read_tickets", _("read tickets")
    WRITE_TICKETS = "write_tickets", _("write tickets")
    ADMIN = "admin", _("admin")


READ_ONLY_ACTIONS = {Action.READ_CODE, Action.READ_DATA, Action.READ_TICKETS}
PRIVILEGED_ACTIONS = {Action.MERGE, Action.DEPLOY, Action.READ_SECRETS, Action.WRITE_SECRETS, Action.ADMIN}


class ResourceKind(models.TextChoices):
    REPOSITORY = "repository", _("repository")
    CI_PIPELINE = "ci_pipeline", _("CI pipeline")
    CLOUD_ACCOUNT = "cloud_account", _("cloud account")
    SECRET_STORE = "secret_store", _("secret store")
    TICKETING = "ticketing", _("ticketing")
    DOCUMENTATION = "documentation", _("documentation")
    DATABASE = "database", _("database")
    OTHER = "other", _("other")


class ChoiceValues(frozenset):
    """A choices class's values as a set, for the hot paths that check thousands of reported values a
    second (`Action.values` builds a new list from the enum on every access: it was a third of a
    usage batch). Anything that is not text (a list or an object from JSON) is simply not a member,
    where a plain set would raise TypeError on an unhashable value."""

    def __contains__(self, value) -> bool:
        return isinstance(value, str) and frozenset.__contains__(self, value)


ACTION_VALUES = ChoiceValues(Action.values)
ENVIRONMENT_VALUES = ChoiceValues(Environment.values)
RESOURCE_KIND_VALUES = ChoiceValues(ResourceKind.values)


class DataClassification(models.TextChoices):
    PUBLIC = "public", _("public")
    INTERNAL = "internal", _("internal")
    CONFIDENTIAL = "confidential", _("confidential")
    RESTRICTED = "restricted", _("restricted")


class Remediation(models.TextChoices):
    """Taking access away at the source; review items' remediation uses the same words."""

    PENDING = "pending", _("pending")
    CONFIRMED = "confirmed", _("confirmed")
    FAILED = "failed", _("failed")


class IdentityQuerySet(models.QuerySet):
    def in_environment(self, environment: str):
        return self.filter(environments__has_item=environment)

    def live(self):
        return self.exclude(status=Identity.Status.DECOMMISSIONED)

    def owned_by(self, user):
        return self.filter(Q(owner=user) | Q(backup_owner=user))


# What describes an identity: what intake asks, an import compares, an edit changes and the API shows.
DESCRIPTIVE_FIELDS = (
    "name",
    "kind",
    "vendor",
    "product",
    "model_name",
    "purpose",
    "owner",
    "backup_owner",
    "team",
    "environments",
    "data_classification",
    "autonomous",
)


class Identity(models.Model):
    class Kind(models.TextChoices):
        AI_ASSISTANT = "ai_assistant", _("AI assistant")
        IDE_PLUGIN = "ide_plugin", _("IDE plugin")
        AI_AGENT = "ai_agent", _("AI agent")
        SERVICE_ACCOUNT = "service_account", _("service account")
        API_KEY = "api_key", _("API key")
        OAUTH_APP = "oauth_app", _("OAuth app")
        BOT = "bot", _("bot")
        WORKLOAD = "workload", _("workload")
        MCP_SERVER = "mcp_server", _("MCP server")

    class Status(models.TextChoices):
        DISCOVERED = "discovered", _("discovered")
        PROPOSED = "proposed", _("proposed")
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")
        DECOMMISSIONED = "decommissioned", _("decommissioned")

    RiskTier = RiskTier
    Remediation = Remediation

    # The allowed moves; services refuse anything else with a 409.
    TRANSITIONS: dict[str, set[str]] = {
        Status.DISCOVERED: {Status.PROPOSED, Status.ACTIVE, Status.SUSPENDED, Status.DECOMMISSIONED},
        Status.PROPOSED: {Status.ACTIVE, Status.DECOMMISSIONED},
        Status.ACTIVE: {Status.SUSPENDED, Status.DECOMMISSIONED},
        Status.SUSPENDED: {Status.ACTIVE, Status.DECOMMISSIONED},
        Status.DECOMMISSIONED: set(),
    }

    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    vendor = models.CharField(_("vendor"), max_length=120, blank=True)
    product = models.CharField(_("product"), max_length=120, blank=True)
    model_name = models.CharField(_("model"), max_length=120, blank=True)
    purpose = models.TextField(_("purpose"), blank=True)
    owner = person_on_record(related_name="owned_identities")
    backup_owner = person_on_record(related_name="backup_identities")
    team = optional_link("governance.Team", on_delete=models.PROTECT, related_name="identities")
    environments = models.JSONField(_("environments"), default=list, blank=True)
    data_classification = models.CharField(
        max_length=20, choices=DataClassification.choices, default=DataClassification.INTERNAL
    )
    autonomous = models.BooleanField(
        default=False, help_text=_("Acts without a person confirming each step.")
    )
    risk_tier = models.CharField(
        _("risk tier"), max_length=10, choices=RiskTier.choices, default=RiskTier.LOW
    )
    risk_reasons = models.JSONField(default=list, blank=True)
    status = models.CharField(_("status"), max_length=20, choices=Status.choices, default=Status.PROPOSED)
    status_reason = models.TextField(blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    last_reviewed_at = models.DateTimeField(null=True, blank=True)
    next_review_due = models.DateField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(
        max_length=60, blank=True, help_text=_("Where it was discovered or imported from.")
    )
    external_id = models.CharField(max_length=200, blank=True)
    # Set by a connector's sync: gone from its source (a marker, not a status) until IAM confirms the
    # decommissioning; cleared if the source shows it again.
    # db_default too: bulk loaders that INSERT named columns (inventory.demo_large) leave these out.
    vanished = models.BooleanField(
        _("vanished"),
        default=False,
        db_default=False,
        help_text=_("No longer found at its source by the last sync."),
    )
    vanished_at = models.DateTimeField(_("vanished at"), null=True, blank=True)
    # Enforcement at the source (connectors with enforce on): pending until a later sync sees the
    # identity disabled there (confirmed), or failed with the source's error.
    remediation = models.CharField(
        _("remediation"),
        max_length=10,
        choices=Remediation.choices,
        blank=True,
        default="",
        db_default="",
        help_text=_("Disabling it at the source: pending, confirmed by a later sync, or failed."),
    )
    remediation_error = models.TextField(_("remediation error"), blank=True, default="", db_default="")
    remediation_requested_at = models.DateTimeField(null=True, blank=True)
    remediation_confirmed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    version = models.PositiveIntegerField(
        default=1, help_text=_("Bumped on every change; stale edits get 409.")
    )

    objects = IdentityQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "external_id"],
                condition=~Q(external_id=""),
                name="identity_source_external_id",
            ),
            models.CheckConstraint(
                condition=Q(owner__isnull=True)
                | Q(backup_owner__isnull=True)
                | ~Q(owner=models.F("backup_owner")),
                name="identity_backup_differs_from_owner",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "risk_tier"], name="identity_status_tier"),
            # Kind alone, or with status and tier (the inventory's usual filters): one range.
            models.Index(fields=["kind", "status", "risk_tier"], name="identity_kind_status_tier"),
            models.Index(fields=["next_review_due"], name="identity_next_review"),
            # No index on `last_used_at`: usage and decisions move it all day, and a moved column that
            # an index covers makes every update write a new entry in all of the table's indexes (the
            # trigram index included). Unindexed, those updates are HOT (heap-only) and touch no index:
            # a batch of 1,000 usage events' UPDATE went from ~65-96 to ~11 ms on 100,000 identities.
            # Nothing read through it: the stale filter and rule scan the table either way (~30 ms at
            # 100,000), and the dashboard counts all tiers in one pass. (Migration 0013; `owner` has
            # the foreign key's own index.)
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return link("inventory:detail", self.pk)

    def can_move_to(self, status: str) -> bool:
        return status in self.TRANSITIONS.get(self.status, set())


class IdentitySearchRow(models.Model):
    """PostgreSQL only: an identity's id, name and searched text joined, in a narrow table that
    triggers keep in step with every write to the identities (migration 0014 says how and why).
    Never written from Python; read for a search that is a list's only filter, where counting the
    matches here reads a fifth of the pages that counting them among the identities does."""

    identity_id = models.BigIntegerField(primary_key=True)
    name = models.TextField()  # text, not the identities' length: widening theirs needs no change here
    document = models.TextField()

    class Meta:
        managed = False
        db_table = "inventory_identity_search"

    def __str__(self) -> str:
        return self.name


# The longest each descriptive text may be (its column's length): what intake, the edit form, the API
# and imports check before anything is saved.
TEXT_LENGTHS = {
    key: Identity._meta.get_field(key).max_length
    for key in ("name", "vendor", "product", "model_name", "source", "external_id")
}


def current_grant(now) -> Q:
    """A grant in force at `now`: not ended and not past its expiry."""
    return Q(ended_at__isnull=True) & (Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class GrantQuerySet(models.QuerySet):
    def current(self, now=None):
        return self.filter(current_grant(now or timezone.now()))

    def ended_or_expired(self, now=None):
        """The complement of `current`: ended, or past its expiry."""
        return self.exclude(current_grant(now or timezone.now()))


class Grant(models.Model):
    """What an identity may reach: a resource, the actions on it, and an optional expiry."""

    class Origin(models.TextChoices):
        INTAKE = "intake", _("intake approval")
        SCOPE_CHANGE = "scope_change", _("scope change")
        JIT = "jit", _("just-in-time")
        IMPORT = "import", _("import")
        MANUAL = "manual", _("manual")

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="grants")
    resource_kind = models.CharField(max_length=20, choices=ResourceKind.choices)
    resource_name = models.CharField(max_length=300)
    actions = models.JSONField(default=list)
    expires_at = models.DateTimeField(null=True, blank=True)
    origin = models.CharField(max_length=20, choices=Origin.choices, default=Origin.MANUAL)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)

    objects = GrantQuerySet.as_manager()

    class Meta:
        ordering = ["resource_kind", "resource_name"]
        indexes = [
            models.Index(fields=["identity", "ended_at"], name="grant_identity_live"),
            models.Index(fields=["expires_at"], condition=Q(ended_at__isnull=True), name="grant_expiry_open"),
        ]

    def __str__(self) -> str:
        return f"{self.resource_kind}:{self.resource_name} [{', '.join(self.actions)}]"

    @property
    def is_current(self) -> bool:
        return self.is_current_at(timezone.now())

    def is_current_at(self, now) -> bool:
        return self.ended_at is None and (self.expires_at is None or self.expires_at > now)


# The longest resource name a grant may carry (its column's length): what intake, imports and the API check.
RESOURCE_NAME_LENGTH = Grant._meta.get_field("resource_name").max_length

# Credential age since last rotation (or issue), in days: (label, from, to); the last band is open.
CREDENTIAL_AGE_BANDS = (("0-90", 0, 90), ("91-180", 91, 180), ("181-365", 181, 365), (">365", 366, None))
NO_DATE_BAND = "unknown"  # neither an issue nor a rotation date recorded
REVOCATION_CONFIRMED = Q(revocation_confirmed_at__isnull=False)  # of a revoked credential: gone for sure


class CredentialQuerySet(models.QuerySet):
    """The credential populations the dashboard counts and the credentials list shows: one definition."""

    def live(self):
        """Unrevoked credentials of identities that are not decommissioned.

        The few decommissioned identities are excluded with NOT IN over the status index, not a
        join: joining all 100,000 identities to read their status was most of the dashboard's
        credentials card (bench/README.md)."""
        gone = Identity.objects.filter(status=Identity.Status.DECOMMISSIONED).values("pk")
        return self.filter(revoked_at__isnull=True).exclude(identity_id__in=gone)

    def revoked(self):
        return self.filter(revoked_at__isnull=False)

    def revocation_pending(self):
        return self.revoked().exclude(REVOCATION_CONFIRMED)

    def revocation_confirmed(self):
        return self.revoked().filter(REVOCATION_CONFIRMED)

    def federated(self):
        return self.filter(kind__in=Credential.FEDERATED_KINDS)

    def static(self):
        return self.exclude(kind__in=Credential.FEDERATED_KINDS)

    def with_age_band(self, now=None):
        """Annotate `age_since` (last rotation, else issue) and `age_band` (a CREDENTIAL_AGE_BANDS label
        or NO_DATE_BAND). A date slightly ahead of `now` (clock drift) counts as fresh, not unknown."""
        now = now or timezone.now()
        whens = []
        for label, low, high in CREDENTIAL_AGE_BANDS:
            cond = Q(age_since__isnull=False)
            if low:
                cond &= Q(age_since__lte=now - timedelta(days=low))
            if high is not None:
                cond &= Q(age_since__gt=now - timedelta(days=high + 1))
            whens.append(When(cond, then=Value(label)))
        return self.annotate(
            age_since=Coalesce("last_rotated_at", "issued_at"),
        ).annotate(age_band=Case(*whens, default=Value(NO_DATE_BAND), output_field=CharField()))

    def in_age_band(self, band: str, now=None):
        return self.with_age_band(now).filter(age_band=band)


class Credential(models.Model):
    """How an identity authenticates. Metadata only: never a secret value."""

    class Kind(models.TextChoices):
        STATIC_KEY = "static_key", _("static key")
        PAT = "pat", _("personal access token")
        OAUTH_TOKEN = "oauth_token", _("OAuth token")
        OIDC_FEDERATION = "oidc_federation", _("OIDC federation")
        SPIFFE_SVID = "spiffe_svid", _("SPIFFE SVID")
        SSH_KEY = "ssh_key", _("SSH key")
        PASSWORD = "password", _("password")
        CERTIFICATE = "certificate", _("certificate")

    FEDERATED_KINDS = {Kind.OIDC_FEDERATION, Kind.SPIFFE_SVID}

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="credentials")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    label = models.CharField(
        max_length=200, blank=True, help_text=_("A name or fingerprint, never the secret.")
    )
    storage = models.CharField(
        max_length=200, blank=True, help_text=_("Where it is kept, e.g. 'Vault kv/ci'.")
    )
    issued_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_rotated_at = models.DateTimeField(null=True, blank=True)
    created_by = optional_link(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revocation_confirmed_at = models.DateTimeField(null=True, blank=True)
    revocation_confirmed_by = models.CharField(max_length=150, blank=True)
    revocation_note = models.CharField(max_length=300, blank=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "label"]
        indexes = [models.Index(fields=["identity", "revoked_at"], name="credential_identity_live")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.label}".strip()

    @property
    def is_federated(self) -> bool:
        return self.kind in self.FEDERATED_KINDS

    @property
    def rotated_or_issued(self):
        return self.last_rotated_at or self.issued_at

    @property
    def revocation_pending(self) -> bool:
        return self.revoked_at is not None and self.revocation_confirmed_at is None


class UsageEvent(models.Model):
    """A reported use of an identity. Events for suspended/decommissioned identities are kept and flagged."""

    # No index of its own: `usage_identity_at` (identity, -at) serves every lookup by identity; one
    # index fewer is one B-tree insert fewer an event, and a decision writes one.
    identity = models.ForeignKey(
        Identity, on_delete=models.CASCADE, related_name="usage_events", db_index=False
    )
    at = models.DateTimeField()
    action = models.CharField(max_length=20, choices=Action.choices, blank=True)
    resource_kind = models.CharField(max_length=20, choices=ResourceKind.choices, blank=True)
    resource_name = models.CharField(max_length=300, blank=True)
    environment = models.CharField(max_length=10, choices=Environment.choices, blank=True)
    identity_status = models.CharField(
        max_length=20, help_text=_("The identity's status when this was received.")
    )
    after_revocation = models.BooleanField(default=False)
    out_of_scope = models.BooleanField(default=False)
    reported_by = models.CharField(max_length=150, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at"]
        indexes = [
            models.Index(fields=["identity", "-at"], name="usage_identity_at"),
            models.Index(
                fields=["identity"], condition=Q(after_revocation=True), name="usage_after_revocation"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identity_id} {self.action} {self.resource_name} @ {self.at:%Y-%m-%d %H:%M}"


class OwnershipTransfer(models.Model):
    """A proposed change of owner for one identity; rows proposed together share a `batch`.

    The new owner accepts or declines; nothing changes on the identity until acceptance. When an
    owner leaves and their active backup is promoted at once, the row is `auto_promoted` and still
    `proposed`: the promoted backup confirms (accept) or refuses (decline: the identity is orphaned).
    """

    class State(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        ACCEPTED = "accepted", _("accepted")
        DECLINED = "declined", _("declined")
        CANCELLED = "cancelled", _("cancelled")

    class Role(models.TextChoices):
        """Which seat changes hands: the owner's, or the backup owner's (a nomination)."""

        OWNER = "owner", _("owner")
        BACKUP_OWNER = "backup_owner", _("backup owner")

    TRANSITIONS: dict[str, set[str]] = {
        State.PROPOSED: {State.ACCEPTED, State.DECLINED, State.CANCELLED},
        State.ACCEPTED: set(),
        State.DECLINED: set(),
        State.CANCELLED: set(),
    }

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="ownership_transfers")
    batch = models.UUIDField(_("batch"), db_index=True)
    from_owner = person_on_record()
    to_owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="incoming_transfers"
    )
    role = models.CharField(
        _("role"),
        max_length=20,
        choices=Role.choices,
        default=Role.OWNER,
        help_text=_("owner: a transfer; backup_owner: the person is asked to become the backup owner."),
    )
    keep_as_backup = models.BooleanField(
        _("previous owner stays as backup"),
        default=False,
        help_text=_(
            "On acceptance the previous owner becomes the backup owner (e.g. an intake's requester)."
        ),
    )
    proposed_by = models.CharField(_("proposed by"), max_length=150)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PROPOSED)
    reason = models.TextField(_("reason"), blank=True)
    auto_promoted = models.BooleanField(
        _("backup promoted automatically"),
        default=False,
        help_text=_("The previous owner left; the backup owner was promoted and is asked to confirm."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=150, blank=True)
    decision_comment = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["identity", "role"],
                condition=Q(state="proposed"),
                name="transfer_one_open_per_identity_role",
            )
        ]
        indexes = [
            models.Index(fields=["to_owner"], condition=Q(state="proposed"), name="transfer_waiting_for"),
        ]

    def __str__(self) -> str:
        return f"{self.identity} → {self.to_owner}"


def request_states(model: str, applied: str) -> type[models.TextChoices]:
    """The states of a request about one identity: waiting for its approval, then applied, rejected or
    withdrawn. Only the word for `applied` is the kind's own ("reactivated", "activated"). Named as the
    `State` nested in `model`, so that a member pickles as one declared there would."""
    return models.TextChoices(
        "State",
        [
            ("PENDING", ("pending", _("pending approval"))),
            ("APPLIED", ("applied", applied)),
            ("REJECTED", ("rejected", _("rejected"))),
            ("WITHDRAWN", ("withdrawn", _("withdrawn"))),
        ],
        module=__name__,
        qualname=f"{model}.State",
    )


def one_pending_per_identity(name: str) -> models.UniqueConstraint:
    """At most one request of a kind waiting per identity, held by the database itself."""
    return models.UniqueConstraint(fields=["identity"], condition=Q(state="pending"), name=name)


class IdentityRequest(models.Model):
    """What every request about one identity records: who asked, why, when, and when it was decided.
    Each kind keeps its own states (`request_states`), what it asks for and its page (`url_name`)."""

    url_name = ""

    requester = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    def get_absolute_url(self) -> str:
        return link(self.url_name, self.pk)


class ScopeChange(IdentityRequest):
    """An owner's request to add or remove grants, change environments, or change what the identity is
    (vendor, model, kind, data classification, autonomy: the fields the tier and policy checks read).

    Additions are re-tiered on the resulting scope and decided through the approval engine (kind
    `scope_change`); a pure removal needs no approval and is `applied` at once.
    """

    State = request_states("ScopeChange", _("applied"))
    url_name = "inventory:scope-change"

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="scope_changes")
    add_grants = models.JSONField(_("grants to add"), default=list, blank=True)
    remove_grants = models.JSONField(_("grant ids to end"), default=list, blank=True)
    environments = models.JSONField(
        _("environments afterwards"), null=True, blank=True, help_text=_("Null: unchanged.")
    )
    changes = models.JSONField(
        _("what the identity becomes"),
        default=dict,
        blank=True,
        help_text=_(
            "Fields that feed the tier or a policy check (vendor, model, kind, ...): {field: new value}."
        ),
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    risk_tier = models.CharField(_("risk tier afterwards"), max_length=10, choices=RiskTier.choices)
    risk_reasons = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"Scope change for {self.identity}"


class ReactivationRequest(IdentityRequest):
    """An owner's request to bring a suspended identity back to `active`.

    Suspension is a control, so lifting it is decided like an intake: through the approval engine
    (kind `reactivation`), routed by the identity's tier; IAM and Security may still reactivate
    directly with a reason.
    """

    State = request_states("ReactivationRequest", _("reactivated"))
    url_name = "inventory:reactivation"

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="reactivation_requests")
    suspension_reason = models.TextField(
        _("suspension reason"), blank=True, help_text=_("Why it was suspended, as recorded then.")
    )
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)

    class Meta(IdentityRequest.Meta):
        constraints = [one_pending_per_identity("reactivation_one_open_per_identity")]

    def __str__(self) -> str:
        return f"Reactivation of {self.identity}"


class ActivationRequest(IdentityRequest):
    """An imported, registered or triaged identity waiting for its tier's approval route before it runs.

    Whoever imports or triages an identity is one person; a tier whose route needs more than one step
    (high: IAM then Security) is decided through the approval engine (kind `activation`) while the
    identity stays `proposed`. On approval it becomes `active`; rejected or withdrawn, it stays proposed
    (back in triage) until someone routes it again or decommissions it.
    """

    State = request_states("ActivationRequest", _("activated"))
    url_name = "inventory:activation"

    class Origin(models.TextChoices):
        IMPORT = "import", _("import")
        TRIAGE = "triage", _("triage")
        REGISTER = "register", _("registered directly")

    identity = models.ForeignKey(Identity, on_delete=models.CASCADE, related_name="activation_requests")
    origin = models.CharField(_("origin"), max_length=20, choices=Origin.choices)
    risk_tier = models.CharField(_("risk tier"), max_length=10, choices=RiskTier.choices)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)

    class Meta(IdentityRequest.Meta):
        constraints = [one_pending_per_identity("activation_one_open_per_identity")]

    def __str__(self) -> str:
        return f"Activation of {self.identity}"
