"""REST API for ownership: transfers (propose, accept, decline, cancel), IAM's direct reassignment, and
an identity's timeline. Scope changes, reactivations and activations are `approvals.api_flows`.

Thin: parse, authorise, call one service in inventory.ownership, render. Services check roles again.
"""

from __future__ import annotations

from django.db.models import Q
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from governance.actors import from_request
from governance.api_common import detail_post, validated
from governance.ids import IdField
from governance.people.models import User
from governance.permissions import MEMBER_PERMISSIONS
from governance.serializers import AuditEventSerializer
from inventory import ownership, timeline
from inventory.filters import base_queryset
from inventory.models import (
    Identity,
    OwnershipTransfer,
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
    router.register(
        r"identities/(?P<identity_pk>[0-9]+)/timeline", IdentityTimelineViewSet, basename="identity-timeline"
    )
