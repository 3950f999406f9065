"""REST API for the flows on an identity that run on the approval engine: scope changes, reactivation
requests and activation requests. Each is listed, shown and decided through the engine (`approve/`,
`reject/`, the requester's `withdraw/`); a scope change or a reactivation is also asked for here
(POST). Activations are opened by the import, `POST identities/` and triage, never here.

Thin: parse, authorise, call one flow in `approvals.flows`, render. The flows check roles again.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response

from approvals.flows import activation, reactivation, scope
from approvals.models import ApprovalRequest
from approvals.services import engine
from governance.actors import from_request
from governance.api_common import detail_post, validated
from governance.errors import IllegalTransition
from governance.ids import IdField
from governance.permissions import MEMBER_PERMISSIONS
from inventory.models import (
    RESOURCE_NAME_LENGTH,
    ActivationRequest,
    Identity,
    IdentityRequest,
    ReactivationRequest,
    ScopeChange,
)


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


class ActivationRequestSerializer(serializers.ModelSerializer):
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = ActivationRequest
        fields = [
            "id",
            "identity",
            "identity_name",
            "requester",
            "origin",
            "reason",
            "risk_tier",
            "state",
            "created_at",
            "decided_at",
            "url",
        ]
        read_only_fields = fields


class ActivationRequestViewSet(IdentityRequestViewSet):
    """Activation of an imported, registered or triaged identity whose tier needs more than one
    approval step. `state` is `pending` until its route is approved (`approve/`, `reject/`, or the
    requester's `withdraw/`); then `applied` and the identity is `active`. Opened by the import,
    `POST identities/` and triage; not created here."""

    serializer_class = ActivationRequestSerializer
    filterset_fields = ["state", "identity", "origin"]
    approval_kind = activation.KIND
    model = ActivationRequest


def register(router) -> None:
    router.register("scope-changes", ScopeChangeViewSet, basename="scope-change")
    router.register("reactivation-requests", ReactivationRequestViewSet, basename="reactivation-request")
    router.register("activation-requests", ActivationRequestViewSet, basename="activation-request")
