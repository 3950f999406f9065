"""REST API for ownership and change: transfers (propose, accept, decline, cancel), IAM's direct
reassignment, scope changes and reactivation requests (each decided through the approval engine), and
an identity's timeline.

Thin: parse, authorise, call one service in inventory.ownership, render. Services check roles again.
"""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from approvals.flows import reactivation, scope
from approvals.models import ApprovalRequest
from approvals.services import engine
from governance.actors import from_request
from governance.api_common import detail_post, validated
from governance.ids import IdField
from governance.people.models import User
from governance.permissions import MEMBER_PERMISSIONS
from governance.serializers import AuditEventSerializer
from inventory import ownership, timeline
from inventory.filters import base_queryset
from inventory.models import (
    RESOURCE_NAME_LENGTH,
    Identity,
    IdentityRequest,
    OwnershipTransfer,
    ReactivationRequest,
    ScopeChange,
)


class OwnershipTransferSerializer(serializers.ModelSerializer):
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    from_owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    to_owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = OwnershipTransfer
        fields = [
            "id",
            "identity",
            "identity_name",
            "batch",
            "from_owner",
            "to_owner",
            "role",
            "keep_as_backup",
            "proposed_by",
            "state",
            "reason",
            "auto_promoted",
            "created_at",
            "decided_at",
            "decided_by",
            "decision_comment",
        ]
        read_only_fields = fields


class TransferProposalSerializer(serializers.Serializer):
    identities = serializers.ListField(child=IdField(), min_length=1, max_length=ownership.MAX_BATCH)
    to_owner = serializers.SlugRelatedField(
        slug_field="username", queryset=User.objects.filter(is_active=True)
    )
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    role = serializers.ChoiceField(
        choices=OwnershipTransfer.Role.choices,
        default=OwnershipTransfer.Role.OWNER,
        help_text="`owner` (a transfer) or `backup_owner` (a nomination); either takes effect on acceptance.",
    )

    def to_internal_value(self, data):
        # Accept a single `identity` as a shorthand for a one-item `identities` list.
        if hasattr(data, "get") and data.get("identity") not in (None, "") and "identities" not in data:
            data = {**data, "identities": [data.get("identity")]}
        return super().to_internal_value(data)


class DecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class ReassignSerializer(serializers.Serializer):
    identities = serializers.ListField(child=IdField(), min_length=1, max_length=ownership.MAX_BATCH)
    owner = serializers.SlugRelatedField(slug_field="username", queryset=User.objects.filter(is_active=True))
    reason = serializers.CharField(max_length=2000)


class OwnershipTransferViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Ownership transfers. Owners see those to, from or proposed by them; IAM, Security, Auditors see all."""

    permission_classes = MEMBER_PERMISSIONS
    serializer_class = OwnershipTransferSerializer
    filterset_fields = ["state", "identity", "auto_promoted"]

    def get_queryset(self):
        queryset = OwnershipTransfer.objects.select_related("identity", "from_owner", "to_owner").order_by(
            "-created_at", "-pk"
        )
        user = self.request.user
        if getattr(self, "swagger_fake_view", False):
            return queryset.none()
        if not (user.is_governor or user.is_auditor):
            queryset = queryset.filter(Q(to_owner=user) | Q(from_owner=user) | Q(proposed_by=user.username))
        return queryset

    @extend_schema(request=TransferProposalSerializer, responses=OwnershipTransferSerializer(many=True))
    def create(self, request, *args, **kwargs):
        """Propose a new owner (or, with `role` `backup_owner`, a backup owner) for one or many
        identities: `identities` (ids), `to_owner`, `reason`, `role`. The person accepts or declines."""
        data = validated(TransferProposalSerializer, request)
        transfers = ownership.propose_transfer(
            from_request(request), data["identities"], data["to_owner"], data["reason"], role=data["role"]
        )
        rows = (
            OwnershipTransfer.objects.select_related("identity", "from_owner", "to_owner")
            .filter(pk__in=[t.pk for t in transfers])
            .order_by("identity__name")
        )
        return Response(OwnershipTransferSerializer(rows, many=True).data, status=status.HTTP_201_CREATED)

    def _decide(self, request, service):
        transfer = self.get_object()
        comment = validated(DecisionSerializer, request)["comment"]
        service(from_request(request), transfer, comment)
        transfer.refresh_from_db()
        return Response(OwnershipTransferSerializer(transfer).data)

    @detail_post(request=DecisionSerializer, responses=OwnershipTransferSerializer)
    def accept(self, request, pk=None):
        return self._decide(request, ownership.accept_transfer)

    @detail_post(request=DecisionSerializer, responses=OwnershipTransferSerializer)
    def decline(self, request, pk=None):
        return self._decide(request, ownership.decline_transfer)

    @detail_post(request=DecisionSerializer, responses=OwnershipTransferSerializer)
    def cancel(self, request, pk=None):
        return self._decide(request, ownership.cancel_transfer)


class ReassignResultSerializer(serializers.Serializer):
    reassigned = serializers.IntegerField()
    owner = serializers.CharField()


class ReassignViewSet(viewsets.GenericViewSet):
    """IAM/Security: set a new owner directly for a list of identities (orphans), with a reason."""

    permission_classes = MEMBER_PERMISSIONS
    serializer_class = ReassignSerializer
    queryset = Identity.objects.none()

    @extend_schema(request=ReassignSerializer, responses=ReassignResultSerializer)
    def create(self, request, *args, **kwargs):
        data = validated(ReassignSerializer, request)
        changed = ownership.reassign_owner(
            from_request(request), data["identities"], data["owner"], data["reason"]
        )
        return Response({"reassigned": changed, "owner": data["owner"].username})


class GrantRequestSerializer(serializers.Serializer):
    resource_kind = serializers.CharField()
    resource_name = serializers.CharField(max_length=RESOURCE_NAME_LENGTH)
    actions = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ScopeChangeSerializer(serializers.ModelSerializer):
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ScopeChange
        fields = [
            "id",
            "identity",
            "requester",
            "add_grants",
            "remove_grants",
            "environments",
            "changes",
            "reason",
            "state",
            "risk_tier",
            "risk_reasons",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class ScopeChangeRequestSerializer(serializers.Serializer):
    identity = serializers.PrimaryKeyRelatedField(queryset=Identity.objects.all())
    add_grants = GrantRequestSerializer(many=True, required=False, default=list)
    remove_grants = serializers.ListField(child=IdField(), required=False, default=list)
    environments = serializers.ListField(
        child=serializers.CharField(), required=False, allow_null=True, default=None
    )
    changes = serializers.DictField(
        required=False,
        default=dict,
        help_text=(
            "What the identity becomes: any of `kind`, `vendor`, `product`, `model_name`, "
            "`data_classification`, `autonomous` with the new value; re-tiered and approved."
        ),
    )
    reason = serializers.CharField(max_length=2000)


class ApprovalDecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class IdentityRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Requests about one identity (scope changes, reactivations, activations): list, show, and
    `approve/`, `reject/` (a comment is required) and `withdraw/` (the requester) through the engine.

    Separation of duties and the step's role are checked by the engine: 403 with its message; a step
    someone else decided first, or a request no longer open, is 409."""

    permission_classes = MEMBER_PERMISSIONS
    filterset_fields = ["state", "identity"]
    approval_kind = ""
    model: type[IdentityRequest]
    related = ("requester", "identity")  # what the serializer shows of them

    def get_queryset(self):
        return self.model.objects.select_related(*self.related).order_by("-created_at", "-pk")

    def _approval(self, obj) -> ApprovalRequest:
        approval = ApprovalRequest.objects.filter(kind=self.approval_kind, object_id=obj.pk).first()
        if approval is None:
            from governance.errors import IllegalTransition

            raise IllegalTransition("This change needed no approval; it was applied at once.")
        return approval

    def _act(self, request, decide):
        obj = self.get_object()
        comment = validated(ApprovalDecisionSerializer, request)["comment"]
        decide(from_request(request), self._approval(obj), comment)
        obj.refresh_from_db()
        return Response(self.get_serializer(obj).data)

    @detail_post(request=ApprovalDecisionSerializer)
    def approve(self, request, pk=None):
        return self._act(request, lambda actor, a, comment: engine.approve(actor, a, comment=comment))

    @detail_post(request=ApprovalDecisionSerializer)
    def reject(self, request, pk=None):
        return self._act(request, lambda actor, a, comment: engine.reject(actor, a, comment=comment))

    @detail_post(request=ApprovalDecisionSerializer)
    def withdraw(self, request, pk=None):
        return self._act(
            request,
            lambda actor, a, comment: engine.withdraw(
                actor, a, reason=comment or "withdrawn by the requester"
            ),
        )


class ScopeChangeViewSet(IdentityRequestViewSet):
    """Scope changes. POST: `identity`, `add_grants`, `remove_grants` (grant ids), `environments`,
    `changes` (what the identity becomes: `vendor`, `model_name`, `kind`, ...), `reason`.

    Additions are re-tiered and decided through `approvals/` like an intake; a pure removal is
    applied at once (`state` = `applied`)."""

    serializer_class = ScopeChangeSerializer
    approval_kind = scope.KIND
    model = ScopeChange
    related = ("requester",)

    @extend_schema(request=ScopeChangeRequestSerializer, responses=ScopeChangeSerializer)
    def create(self, request, *args, **kwargs):
        data = validated(ScopeChangeRequestSerializer, request)
        change = scope.request_scope_change(
            from_request(request),
            data["identity"],
            add=[dict(g) for g in data["add_grants"]],
            remove=data["remove_grants"],
            environments=data["environments"],
            changes=dict(data["changes"]),
            reason=data["reason"],
        )
        return Response(ScopeChangeSerializer(change).data, status=status.HTTP_201_CREATED)


class ReactivationRequestSerializer(serializers.ModelSerializer):
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    identity_name = serializers.CharField(source="identity.name", read_only=True)

    class Meta:
        model = ReactivationRequest
        fields = [
            "id",
            "identity",
            "identity_name",
            "requester",
            "reason",
            "suspension_reason",
            "state",
            "created_at",
            "decided_at",
        ]
        read_only_fields = fields


class ReactivationRequestCreateSerializer(serializers.Serializer):
    identity = serializers.PrimaryKeyRelatedField(queryset=Identity.objects.all())
    reason = serializers.CharField(max_length=2000)


class ReactivationRequestViewSet(IdentityRequestViewSet):
    """Reactivation of a suspended identity. POST: `identity`, `reason`; `state` is `pending` until the
    approvals its tier needs are given (`approve/`, `reject/`, `withdraw/`), then `applied`."""

    serializer_class = ReactivationRequestSerializer
    approval_kind = reactivation.KIND
    model = ReactivationRequest

    @extend_schema(request=ReactivationRequestCreateSerializer, responses=ReactivationRequestSerializer)
    def create(self, request, *args, **kwargs):
        data = validated(ReactivationRequestCreateSerializer, request)
        item = reactivation.request_reactivation(from_request(request), data["identity"], data["reason"])
        return Response(ReactivationRequestSerializer(item).data, status=status.HTTP_201_CREATED)


class IdentityTimelineViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """An identity's whole story, newest first: its own events and those of its intake, approvals,
    reviews, exceptions, findings, reactivations and access requests (each event names its subject)."""

    permission_classes = MEMBER_PERMISSIONS
    serializer_class = AuditEventSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return timeline.timeline_events(Identity(pk=0)).none()
        identity = get_object_or_404(base_queryset(), pk=self.kwargs["identity_pk"])
        return timeline.timeline_events(identity)


def register(router) -> None:
    # Before `identities/`: otherwise `identities/{pk}/` would take "reassign" for an id.
    router.register("identities/reassign", ReassignViewSet, basename="identity-reassign")
    router.register("ownership-transfers", OwnershipTransferViewSet, basename="ownership-transfer")
    router.register("scope-changes", ScopeChangeViewSet, basename="scope-change")
    router.register("reactivation-requests", ReactivationRequestViewSet, basename="reactivation-request")
    router.register(
        r"identities/(?P<identity_pk>[0-9]+)/timeline", IdentityTimelineViewSet, basename="identity-timeline"
    )
