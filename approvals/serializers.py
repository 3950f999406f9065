"""API shapes for intake requests and the approval inbox. People are usernames, teams slugs."""

from __future__ import annotations

from rest_framework import serializers

from approvals.models import ApprovalRequest, ApprovalStep, IntakeRequest
from approvals.services.intake_checks import TEXT_LIMITS
from governance.people.models import Team, User
from inventory.models import DESCRIPTIVE_FIELDS, Credential, Identity


class StepSerializer(serializers.ModelSerializer):
    decided_by = serializers.SerializerMethodField()

    class Meta:
        model = ApprovalStep
        fields = [
            "id",
            "round",
            "order",
            "role",
            "state",
            "decided_by",
            "decided_by_system",
            "rule",
            "decided_at",
            "comment",
        ]
        read_only_fields = fields

    def get_decided_by(self, step) -> str | None:
        return step.decider_label or None


def _steps(approval: ApprovalRequest | None) -> list[dict]:
    if approval is None:
        return []
    return StepSerializer(approval.steps.all(), many=True).data


class IntakeRequestSerializer(serializers.ModelSerializer):
    """What GET returns: the answers, plus state, risk, steps and (once approved) the identity."""

    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    backup_owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    steps = serializers.SerializerMethodField()
    approval = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    identity = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)
    # A draft may leave these empty; declared so the schema says "" is a possible answer.
    kind = serializers.ChoiceField(choices=Identity.Kind.choices, allow_blank=True, read_only=True)
    credential_kind = serializers.ChoiceField(
        choices=Credential.Kind.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = IntakeRequest
        fields = [
            "id",
            *DESCRIPTIVE_FIELDS,
            "grants",
            "credential_kind",
            "requester",
            "state",
            "state_reason",
            "risk_tier",
            "risk_reasons",
            "steps",
            "approval",
            "identity",
            "created_at",
            "updated_at",
            "submitted_at",
            "decided_at",
        ]
        read_only_fields = fields

    def get_steps(self, intake) -> list[dict]:
        return _steps(intake.approval)


class GrantInputSerializer(serializers.Serializer):
    resource_kind = serializers.CharField(allow_blank=True, required=False)
    resource_name = serializers.CharField(allow_blank=True, required=False)
    actions = serializers.ListField(child=serializers.CharField(), required=False)
    expires_at = serializers.CharField(allow_null=True, allow_blank=True, required=False)


class IntakeWriteSerializer(serializers.Serializer):
    """Parses POST/PATCH bodies; the intake services decide what is valid and complete."""

    name = serializers.CharField(allow_blank=True, required=False, max_length=TEXT_LIMITS["name"])
    kind = serializers.CharField(allow_blank=True, required=False)
    vendor = serializers.CharField(allow_blank=True, required=False, max_length=TEXT_LIMITS["vendor"])
    product = serializers.CharField(allow_blank=True, required=False, max_length=TEXT_LIMITS["product"])
    model_name = serializers.CharField(allow_blank=True, required=False, max_length=TEXT_LIMITS["model_name"])
    purpose = serializers.CharField(allow_blank=True, required=False, max_length=TEXT_LIMITS["purpose"])
    owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), allow_null=True, required=False
    )
    backup_owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.all(), allow_null=True, required=False
    )
    team = serializers.SlugRelatedField(
        slug_field="slug", queryset=Team.objects.all(), allow_null=True, required=False
    )
    environments = serializers.ListField(child=serializers.CharField(), required=False)
    grants = serializers.ListField(child=serializers.DictField(), required=False)
    credential_kind = serializers.CharField(allow_blank=True, required=False)
    data_classification = serializers.CharField(allow_blank=True, required=False)
    autonomous = serializers.BooleanField(required=False)


class CommentInputSerializer(serializers.Serializer):
    comment = serializers.CharField(allow_blank=True, required=False, default="")
    step = serializers.IntegerField(
        required=False, allow_null=True, help_text="The step you decide (optional)."
    )


class RaiseTierSerializer(serializers.Serializer):
    risk_tier = serializers.CharField()
    reason = serializers.CharField(allow_blank=True)


class ApprovalRequestSerializer(serializers.ModelSerializer):
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    subject_id = serializers.IntegerField(source="object_id", read_only=True)
    steps = serializers.SerializerMethodField()
    current_step = serializers.SerializerMethodField()
    awaiting_you = serializers.BooleanField(read_only=True, default=False)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = ApprovalRequest
        fields = [
            "id",
            "kind",
            "subject_id",
            "title",
            "requester",
            "team",
            "tier",
            "state",
            "state_reason",
            "round",
            "current_step",
            "awaiting_you",
            "steps",
            "submitted_at",
            "last_activity_at",
            "due_at",
            "decided_at",
            "url",
        ]
        read_only_fields = fields

    def get_steps(self, approval) -> list[dict]:
        return StepSerializer(approval.current_steps(), many=True).data

    def get_current_step(self, approval) -> dict | None:
        step = approval.open_step()
        return {"id": step.pk, "order": step.order, "role": step.role} if step else None
