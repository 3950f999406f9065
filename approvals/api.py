"""REST API: `intake-requests/` (draft, submit, decide) and `approvals/` (the caller's inbox); the flows on
an identity (`scope-changes/`, `reactivation-requests/`, `activation-requests/`) are `approvals.api_flows`."""

from __future__ import annotations

import django_filters
from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from approvals import api_flows
from approvals.models import ApprovalRequest, ApprovalStep, IntakeRequest
from approvals.selectors import api_inbox
from approvals.serializers import (
    ApprovalRequestSerializer,
    CommentInputSerializer,
    IntakeRequestSerializer,
    IntakeWriteSerializer,
    RaiseTierSerializer,
)
from approvals.services import intake as intake_services
from governance.actors import from_request
from governance.api_common import FreshRowMixin, detail_post
from governance.errors import NotAllowed
from governance.people.models import Role
from inventory.models import RiskTier


class IntakeRequestFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=IntakeRequest.State.choices)
    risk_tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    kind = django_filters.CharFilter()
    team = django_filters.CharFilter(field_name="team__slug")
    owner = django_filters.CharFilter(field_name="owner__username")
    requester = django_filters.CharFilter(field_name="requester__username")

    class Meta:
        model = IntakeRequest
        fields = ["state", "risk_tier", "kind", "team", "owner", "requester"]


class IntakeRequestViewSet(
    FreshRowMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Intake requests. POST saves a draft; `submit/` routes it; approvers decide with `approve/`,
    `reject/` and `request-changes/` (body `comment`). Requesters see theirs; IAM, Security and
    auditors see all."""

    serializer_class = IntakeRequestSerializer
    filterset_class = IntakeRequestFilter
    http_method_names = ["get", "post", "patch", "head", "options"]

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no user
            return IntakeRequest.objects.none()
        return (
            intake_services.visible_to(self.request.user)
            .select_related("owner", "backup_owner", "team", "requester", "approval")
            .prefetch_related(
                Prefetch(
                    "approval__steps",
                    queryset=ApprovalStep.objects.select_related("decided_by").order_by("round", "order"),
                )
            )
            .order_by("-created_at", "-pk")
        )

    @extend_schema(request=IntakeWriteSerializer, responses={201: IntakeRequestSerializer})
    def create(self, request, *args, **kwargs):
        body = IntakeWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        intake = intake_services.create_draft(from_request(request), dict(body.validated_data))
        return self.fresh(intake, status.HTTP_201_CREATED)

    @extend_schema(request=IntakeWriteSerializer, responses=IntakeRequestSerializer)
    def partial_update(self, request, *args, **kwargs):
        body = IntakeWriteSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        intake = intake_services.update_draft(
            from_request(request), self.get_object(), dict(body.validated_data)
        )
        return self.fresh(intake)

    def update(self, request, *args, **kwargs):
        return self.partial_update(request, *args, **kwargs)

    def _body(self, request) -> dict:
        body = CommentInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return body.validated_data

    @detail_post(request=CommentInputSerializer, responses=IntakeRequestSerializer)
    def submit(self, request, pk=None):
        intake = intake_services.submit(
            from_request(request), self.get_object(), comment=self._body(request)["comment"]
        )
        return self.fresh(intake)

    @detail_post(request=CommentInputSerializer, responses=IntakeRequestSerializer)
    def withdraw(self, request, pk=None):
        intake = intake_services.withdraw(
            from_request(request), self.get_object(), reason=self._body(request)["comment"]
        )
        return self.fresh(intake)

    def _decide(self, request, decision: str) -> Response:
        body = self._body(request)
        intake = intake_services.decide(
            from_request(request),
            self.get_object(),
            decision,
            comment=body["comment"],
            step_id=body.get("step"),
        )
        return self.fresh(intake)

    @detail_post(request=CommentInputSerializer, responses=IntakeRequestSerializer)
    def approve(self, request, pk=None):
        return self._decide(request, "approve")

    @detail_post(request=CommentInputSerializer, responses=IntakeRequestSerializer)
    def reject(self, request, pk=None):
        return self._decide(request, "reject")

    @detail_post(
        request=CommentInputSerializer, responses=IntakeRequestSerializer, url_path="request-changes"
    )
    def request_changes(self, request, pk=None):
        return self._decide(request, "request_changes")

    @detail_post(request=RaiseTierSerializer, responses=IntakeRequestSerializer, url_path="raise-tier")
    def raise_tier(self, request, pk=None):
        intake = self.get_object()
        if not request.user.has_role(Role.IAM) or request.user.is_auditor:  # 403 before the body
            raise NotAllowed("Only IAM approvers may raise a request's risk tier.")
        body = RaiseTierSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        intake = intake_services.raise_tier(
            from_request(request),
            intake,
            body.validated_data["risk_tier"],
            body.validated_data["reason"],
        )
        return self.fresh(intake)


class ApprovalFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ApprovalRequest.State.choices)
    kind = django_filters.CharFilter()
    tier = django_filters.ChoiceFilter(choices=RiskTier.choices)
    team = django_filters.CharFilter(field_name="team__slug")

    class Meta:
        model = ApprovalRequest
        fields = ["state", "kind", "tier", "team"]


class ApprovalViewSet(viewsets.ReadOnlyModelViewSet):
    """The caller's inbox across kinds: what waits for them (`awaiting_you`) and what they decided.
    `?state=pending` for open work; `?scope=all` lists every request (IAM, Security, auditors)."""

    serializer_class = ApprovalRequestSerializer
    filterset_class = ApprovalFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApprovalRequest.objects.none()
        return api_inbox(self.request.user, scope=self.request.query_params.get("scope", "mine"))


def register(router) -> None:
    api_flows.register(router)
    router.register("intake-requests", IntakeRequestViewSet, basename="intake-request")
    router.register("approvals", ApprovalViewSet, basename="approval")
