import hashlib
import json

from django.db import models
from django.utils.translation import gettext_lazy as _

from governance.errors import IllegalTransition
from governance.links import link


class DecisionOutcome(models.TextChoices):
    """What the policy answers to a question, and so what a decision records and a test case expects."""

    ALLOW = "allow", _("allow")
    DENY = "deny", _("deny")
    STEP_UP = "step_up", _("step up")


class SecondPersonDecision(models.Model):
    """A change one person proposes and a second person (never the proposer) decides: who decided,
    when, and what they said."""

    decided_by = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_comment = models.TextField(blank=True)

    class Meta:
        abstract = True

    def decide(self, state: str, decided_by: str, comment: str, at, *, conflict: str, **also) -> None:
        """Move it from proposed to `state`, compare-and-set: two deciders at once yield one decision,
        and the other is told `conflict` (IllegalTransition, a 409). The row in memory is not reloaded."""
        changed = (
            type(self)
            ._default_manager.filter(pk=self.pk, state=self.State.PROPOSED)
            .update(state=state, decided_by=decided_by, decided_at=at, decision_comment=comment, **also)
        )
        if changed != 1:
            raise IllegalTransition(conflict)


class PolicyVersion(SecondPersonDecision):
    """A version of the governance policy document, proposed by one person and put in force by another.

    A version is `proposed` by Security and becomes `active` only when a second person (Security or IAM,
    never the proposer) approves it; the version it replaces becomes `superseded`. Exactly one is active.
    A proposal records the version in force when it was made (`based_on`): once another version has
    become active it is stale and can no longer be approved, only rejected.
    """

    class State(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        ACTIVE = "active", _("active")
        SUPERSEDED = "superseded", _("superseded")
        REJECTED = "rejected", _("rejected")

    TRANSITIONS: dict[str, set[str]] = {
        State.PROPOSED: {State.ACTIVE, State.REJECTED},
        State.ACTIVE: {State.SUPERSEDED},
        State.SUPERSEDED: set(),
        State.REJECTED: set(),
    }

    version = models.PositiveIntegerField(unique=True)
    document = models.JSONField()
    state = models.CharField(max_length=12, choices=State.choices, default=State.PROPOSED)
    created_by = models.CharField(max_length=150, help_text=_("Who proposed this version."))
    created_at = models.DateTimeField(auto_now_add=True)
    note = models.TextField(blank=True, help_text=_("Why this version was made."))
    based_on = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("The version in force when this one was proposed.")
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="active"), name="one_active_policy_version"
            ),
        ]

    def __str__(self) -> str:
        return f"policy v{self.version} ({self.state})"

    def get_absolute_url(self) -> str:
        return link("policy-document-version", self.version)

    @property
    def is_active(self) -> bool:
        return self.state == self.State.ACTIVE

    @property
    def proposed_by(self) -> str:
        return self.created_by


def content_digest(text: str, schema: str) -> str:
    return hashlib.sha256(f"{text}\x00{schema}".encode()).hexdigest()


class CedarPolicySet(models.Model):
    """One version of the request-time policies (Cedar text plus the schema it is checked against).

    Versions are never edited after they are saved: a change is a new version. At most one is active;
    activating an older one (a rollback) is an audited activation like any other.
    """

    version = models.PositiveIntegerField(_("version"), unique=True)
    text = models.TextField(_("policies"), help_text=_("Cedar policies; every policy needs an @id."))
    schema = models.TextField(
        _("schema"), help_text=_("The Cedar schema the policies are validated against.")
    )
    is_active = models.BooleanField(_("active"), default=False)
    created_by = models.CharField(_("created by"), max_length=150)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    note = models.TextField(_("note"), blank=True, help_text=_("What changed and why."))
    based_on = models.PositiveIntegerField(_("based on version"), null=True, blank=True)
    validation_errors = models.JSONField(_("validation errors"), default=list, blank=True)
    test_results = models.JSONField(
        _("test results"), default=dict, blank=True, help_text=_("The last run against the saved test cases.")
    )
    digest = models.CharField(
        max_length=64,
        editable=False,
        help_text=_("SHA-256 of the policies and schema; compiled sets are cached by it."),
    )
    activated_at = models.DateTimeField(_("last activated"), null=True, blank=True)
    activated_by = models.CharField(_("last activated by"), max_length=150, blank=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=models.Q(is_active=True), name="one_active_cedar_policy_set"
            ),
        ]

    def __str__(self) -> str:
        return f"policies v{self.version}{' (active)' if self.is_active else ''}"

    def save(self, *args, **kwargs):
        self.digest = content_digest(self.text, self.schema)
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return link("policy-version", self.version)

    @property
    def is_valid(self) -> bool:
        return not self.validation_errors

    @property
    def failing_tests(self) -> list[dict]:
        return [r for r in self.test_results.get("results", []) if not r.get("passed")]


class CedarActivation(SecondPersonDecision):
    """A proposal to make one Cedar policy set version the one decisions use (a rollback too).

    Security proposes; a second person (Security or IAM, never the proposer) approves before the
    version answers decisions. `from_version` is the version active when it was proposed: once another
    activation has happened the proposal is stale and can only be rejected.
    """

    class State(models.TextChoices):
        PROPOSED = "proposed", _("proposed")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")

    TRANSITIONS: dict[str, set[str]] = {
        State.PROPOSED: {State.APPROVED, State.REJECTED},
        State.APPROVED: set(),
        State.REJECTED: set(),
    }

    policy_set = models.ForeignKey(CedarPolicySet, on_delete=models.PROTECT, related_name="activations")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PROPOSED)
    proposed_by = models.CharField(max_length=150)
    proposed_at = models.DateTimeField(auto_now_add=True)
    reason = models.TextField(blank=True)
    from_version = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("The version active when the activation was proposed.")
    )

    class Meta:
        ordering = ["-proposed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["policy_set"],
                condition=models.Q(state="proposed"),
                name="one_pending_activation_per_policy_set",
            ),
        ]

    def __str__(self) -> str:
        return f"activation of policies v{self.policy_set.version} ({self.state})"

    @property
    def is_rollback(self) -> bool:
        return self.from_version is not None and self.policy_set.version < self.from_version


class PolicyTestCase(models.Model):
    """A request (an identity described inline, its grants, the question) and the decision expected."""

    Expected = DecisionOutcome

    name = models.CharField(_("name"), max_length=200, unique=True)
    request = models.JSONField(
        _("request"),
        help_text=_(
            'JSON: {"identity": {"kind", "status", "environments", ...}, "grants": [...], '
            '"action", "resource": {"kind", "name"}, "environment"}'
        ),
    )
    expected = models.CharField(_("expected decision"), max_length=10, choices=Expected.choices)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} → {self.expected}"

    @property
    def request_json(self) -> str:
        return json.dumps(self.request, indent=1, sort_keys=True)
