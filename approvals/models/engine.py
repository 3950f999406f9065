"""The approval engine's data: a request about some subject, its ordered steps, and its discussion.

The engine knows nothing about what is being approved: a `kind` names the flow (intake, exception,
transfer, ...) and a generic relation points at the concrete row. Each kind registers a handler
(approvals.registry) that acts on the outcome.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from governance.fields import optional_link, person_on_record
from inventory.models import RiskTier

SYSTEM_POLICY = "system:policy"


class ApproverRole(models.TextChoices):
    """Who may decide a step. Values match the policy document's step names."""

    IAM = "iam", _("IAM approver")
    SECURITY = "security", _("Security admin")


def roles_of(user) -> list[str]:
    """The approver roles a person holds. Auditors decide nothing, whatever else they hold."""
    from governance.people.models import Role

    if user is None or not user.is_authenticated or not user.is_active or user.is_auditor:
        return []
    roles = []
    if user.has_role(Role.IAM):
        roles.append(ApproverRole.IAM.value)
    if user.has_role(Role.SECURITY):
        roles.append(ApproverRole.SECURITY.value)
    return roles


class ApprovalRequestQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(state=ApprovalRequest.State.PENDING)

    def open(self):
        return self.filter(state__in=ApprovalRequest.OPEN_STATES)

    def with_current_step(self):
        """Annotate the role and id of the step that is open now (lowest pending order, current round)."""
        current = ApprovalStep.objects.filter(
            request=models.OuterRef("pk"),
            round=models.OuterRef("round"),
            state=ApprovalStep.State.PENDING,
        ).order_by("order")
        return self.annotate(
            current_role=models.Subquery(current.values("role")[:1]),
            current_step_id=models.Subquery(current.values("pk")[:1]),
        )

    def awaiting(self, user):
        """Pending requests this person may decide now: role fits the open step, no conflict, no earlier
        step of this round decided by them. One query, whatever the number of rows."""
        roles = roles_of(user)
        if not roles:
            return self.none()
        decided_here = ApprovalStep.objects.filter(
            request=models.OuterRef("pk"), round=models.OuterRef("round"), decided_by=user
        )
        return (
            self.pending()
            .with_current_step()
            .filter(current_role__in=roles)
            .exclude(requester=user)
            .exclude(parties=user)
            .exclude(models.Exists(decided_here))
        )


class ApprovalRequest(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        CHANGES_REQUESTED = "changes_requested", _("changes requested")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        WITHDRAWN = "withdrawn", _("withdrawn")

    OPEN_STATES = (State.PENDING, State.CHANGES_REQUESTED)
    TRANSITIONS: dict[str, set[str]] = {
        State.PENDING: {State.APPROVED, State.REJECTED, State.CHANGES_REQUESTED, State.WITHDRAWN},
        State.CHANGES_REQUESTED: {State.PENDING, State.WITHDRAWN},
        State.APPROVED: set(),
        State.REJECTED: set(),
        State.WITHDRAWN: set(),
    }

    kind = models.CharField(_("kind"), max_length=40, help_text=_("Which flow: intake, exception, ..."))
    content_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField()
    subject = GenericForeignKey("content_type", "object_id")
    title = models.CharField(_("title"), max_length=300)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    # Everyone who counts as "the requester" for separation of duties (e.g. the owner-to-be).
    parties = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="+", blank=True)
    team = optional_link("governance.Team", on_delete=models.SET_NULL)
    tier = models.CharField(_("risk tier"), max_length=10, choices=RiskTier.choices)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    state_reason = models.CharField(
        max_length=300, blank=True, help_text=_("Why it closed, e.g. 'expired' for a stale request.")
    )
    round = models.PositiveIntegerField(
        default=1, help_text=_("Bumped at each resubmission; earlier rounds stay as history.")
    )
    policy_version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    submitted_at = models.DateTimeField(default=timezone.now)
    last_activity_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(null=True, blank=True, help_text=_("When a decision is expected."))
    reminded_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Set once a stale reminder went out in this round.")
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    objects = ApprovalRequestQuerySet.as_manager()

    class Meta:
        ordering = ["submitted_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["content_type", "object_id"], name="approval_one_per_subject"),
        ]
        indexes = [
            models.Index(
                fields=["submitted_at"], condition=Q(state="pending"), name="approval_pending_queue"
            ),
            models.Index(fields=["state", "last_activity_at"], name="approval_state_activity"),
            models.Index(fields=["requester", "state"], name="approval_requester_state"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}: {self.title}"

    def get_absolute_url(self) -> str:
        from approvals.registry import handler_for

        return handler_for(self.kind).url(self)

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    def current_steps(self) -> list[ApprovalStep]:
        """Steps of the current round, in order (uses the prefetch when there is one)."""
        return sorted((s for s in self.steps.all() if s.round == self.round), key=lambda s: s.order)

    def open_step(self) -> ApprovalStep | None:
        if self.state != self.State.PENDING:
            return None
        return next((s for s in self.current_steps() if s.state == ApprovalStep.State.PENDING), None)


class ApprovalStep(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", _("pending")
        APPROVED = "approved", _("approved")
        REJECTED = "rejected", _("rejected")
        CHANGES_REQUESTED = "changes_requested", _("changes requested")
        SKIPPED = "skipped", _("skipped")

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="steps")
    round = models.PositiveIntegerField(default=1)
    order = models.PositiveSmallIntegerField()
    role = models.CharField(_("role required"), max_length=20, choices=ApproverRole.choices)
    state = models.CharField(_("state"), max_length=20, choices=State.choices, default=State.PENDING)
    opened_at = models.DateTimeField(null=True, blank=True, help_text=_("When it became the step to decide."))
    decided_by = person_on_record()
    decided_by_system = models.CharField(
        max_length=60, blank=True, help_text=_("'system:policy' when policy decided it automatically.")
    )
    rule = models.CharField(
        max_length=500, blank=True, help_text=_("The policy rule that allowed an automatic decision.")
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)

    class Meta:
        ordering = ["round", "order"]
        constraints = [
            models.UniqueConstraint(fields=["request", "round", "order"], name="approval_step_order"),
            # Separation of duties in the database too: one person, one step per round.
            models.UniqueConstraint(
                fields=["request", "round", "decided_by"],
                condition=Q(decided_by__isnull=False),
                name="approval_step_one_per_person",
            ),
        ]

    def __str__(self) -> str:
        return f"step {self.order} ({self.role}) of {self.request_id}: {self.state}"

    @property
    def decider_label(self) -> str:
        if self.decided_by_system:
            return self.decided_by_system
        return self.decided_by.username if self.decided_by_id else ""


class Comment(models.Model):
    """One entry of a request's discussion: a remark, or the note that came with a decision."""

    class Event(models.TextChoices):
        COMMENT = "comment", _("comment")
        SUBMITTED = "submitted", _("submitted")
        RESUBMITTED = "resubmitted", _("resubmitted")
        APPROVED = "approved", _("approved a step")
        REJECTED = "rejected", _("rejected")
        CHANGES_REQUESTED = "changes_requested", _("requested changes")
        WITHDRAWN = "withdrawn", _("withdrew")
        TIER_RAISED = "tier_raised", _("raised the risk tier")
        REMINDED = "reminded", _("reminder sent")
        EXPIRED = "expired", _("expired")

    request = models.ForeignKey(ApprovalRequest, on_delete=models.CASCADE, related_name="comments")
    step = optional_link(ApprovalStep, on_delete=models.SET_NULL)
    author = person_on_record()
    author_label = models.CharField(max_length=150, help_text=_("Username, or system:<job>."))
    event = models.CharField(max_length=20, choices=Event.choices, default=Event.COMMENT)
    body = models.TextField(blank=True)
    round = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["request", "created_at"], name="approval_comment_request")]

    def __str__(self) -> str:
        return f"{self.author_label} {self.event} on {self.request_id}"
