"""REST API: `decisions/` (ask and read the log) and `access-requests/` (just-in-time access)."""

from __future__ import annotations

import django_filters
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.response import Response

from governance.actors import from_request
from governance.api_common import FreshRowMixin, detail_post, validated
from governance.decisions import jit, services
from governance.decisions.models import AccessRequest, DecisionOutcome, DecisionRecord
from governance.filters import id_filter
from governance.permissions import AuditorReadOnly, QueryTokenPermission, ReadAllRoles, TokenScopePermission
from inventory.models import Action, Environment

# ---------------------------------------------------------------- decisions


class ResourceSerializer(serializers.Serializer):
    kind = serializers.CharField()
    name = serializers.CharField()


class DecisionQuestionSerializer(serializers.Serializer):
    """One question (send a list of up to 100 for a batch)."""

    identity = serializers.IntegerField(
        required=False, help_text="The identity's id; or source + external_id."
    )
    source = serializers.CharField(required=False)
    external_id = serializers.CharField(required=False)
    action = serializers.ChoiceField(choices=Action.choices)
    resource = ResourceSerializer()
    environment = serializers.ChoiceField(choices=Environment.choices)
    task_ref = serializers.CharField(required=False, allow_blank=True)


class DecisionAnswerSerializer(serializers.Serializer):
    identity = serializers.IntegerField()
    identity_name = serializers.CharField()
    action = serializers.CharField()
    resource = ResourceSerializer()
    environment = serializers.CharField()
    task_ref = serializers.CharField()
    decision = serializers.ChoiceField(choices=DecisionOutcome.choices)
    reasons = serializers.ListField(child=serializers.CharField())
    policy_version = serializers.IntegerField()
    policies = serializers.ListField(child=serializers.CharField())
    grants = serializers.ListField(child=serializers.CharField())
    exceptions = serializers.ListField(child=serializers.CharField())
    attestation = serializers.CharField(
        required=False, help_text="On an allow that rests on a just-in-time grant: a signed JWT (ES256)."
    )


# A row's resource as the question names it, {"kind", "name"}. (No docstring: the schema would show it as
# the description of every serializer that mixes it in.)
class WithResource(serializers.Serializer):
    resource = serializers.SerializerMethodField()

    def get_resource(self, row) -> dict:
        return {"kind": row.resource_kind, "name": row.resource_name}


class DecisionRecordSerializer(WithResource, serializers.ModelSerializer):
    identity_name = serializers.CharField(source="identity.name", read_only=True)

    class Meta:
        model = DecisionRecord
        fields = [
            "id",
            "at",
            "identity",
            "identity_name",
            "action",
            "resource",
            "environment",
            "task_ref",
            "decision",
            "reasons",
            "policies",
            "policy_version",
            "actor",
            "on_behalf_of",
            "out_of_scope",
            "after_revocation",
            "count",
            "window_start",
        ]
        read_only_fields = fields


class DecisionRecordFilter(django_filters.FilterSet):
    identity = id_filter("identity_id")
    action = django_filters.ChoiceFilter(choices=Action.choices)
    decision = django_filters.ChoiceFilter(choices=DecisionOutcome.choices)
    environment = django_filters.ChoiceFilter(choices=Environment.choices)
    since = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="at", lookup_expr="lt")

    class Meta:
        model = DecisionRecord
        fields = ["identity", "action", "decision", "environment", "since", "until"]


class DecisionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """POST a question — may this identity do this action on this resource in this environment? —
    and get `allow`, `deny` or `step_up` (ask for just-in-time access), the reasons and the policy
    version. POST a list of up to 100 for a batch (answers in the same order). GET reads the log
    (IAM, Security, auditors).

    Asking is a query, so read-scoped tokens may ask too. IAM and Security ask about any identity;
    owners about their own. Every answer is recorded and counts as the identity's use."""

    serializer_class = DecisionRecordSerializer
    filterset_class = DecisionRecordFilter
    queryset = DecisionRecord.objects.select_related("identity").order_by("-at", "-pk")
    # A workload's exchanged access token may ask (about itself; `identity` may be left out). Once
    # revoked it still reaches here and every answer is `deny`, logged.
    workload_token_actions = ("create",)
    workload_revoked_answers = True

    def get_permissions(self):
        if self.action == "create":
            # Asking is open to any token or person with a role (a read-scoped gateway token too);
            # an auditor's or role-less account's question would still count as usage, so no. SCIM and
            # report-scoped tokens do their one thing only.
            return [permissions.IsAuthenticated(), QueryTokenPermission(), AuditorReadOnly()]
        return [ReadAllRoles(), TokenScopePermission()]

    @extend_schema(
        request=DecisionQuestionSerializer,
        responses={200: DecisionAnswerSerializer},
        description="One question (object) → one answer; a list of up to 100 → a list of answers.",
    )
    def create(self, request, *args, **kwargs):
        return Response(answer(request, request.data), status=status.HTTP_200_OK)


def answer(request, data):
    """The answers to an authenticated, permitted, throttled request's questions (`data`, parsed):
    one object for one question, a list for a batch. Shared by this view and the lean path
    (`governance.decisions.lean`), so both answer alike."""
    credential = request.auth if getattr(request.auth, "is_machine_credential", False) else None
    if credential is not None:
        data = own_identity(data, credential.identity_id)
    asks, is_batch = services.parse(data)
    revoked = credential.revoked_reason if credential else ""
    answers = services.decide(from_request(request), asks, is_batch=is_batch, revoked=revoked)
    body = [a.as_dict() for a in answers]
    return body if is_batch else body[0]


def own_identity(data, identity_id: int):
    """A workload's questions name its own identity when they name none."""

    def fill(entry):
        if isinstance(entry, dict) and not any(k in entry for k in ("identity", "source", "external_id")):
            return {**entry, "identity": identity_id}
        return entry

    if isinstance(data, list):
        return [fill(entry) for entry in data]
    return fill(dict(data.items())) if hasattr(data, "items") else data


# ---------------------------------------------------------------- access requests


class AccessRequestSerializer(WithResource, serializers.ModelSerializer):
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    requester = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    grant = serializers.PrimaryKeyRelatedField(read_only=True, allow_null=True)

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "identity",
            "identity_name",
            "action",
            "resource",
            "environment",
            "duration_minutes",
            "reason",
            "task_ref",
            "state",
            "state_reason",
            "requester",
            "requested_via",
            "decided_by",
            "grant",
            "created_at",
            "deadline",
            "decided_at",
            "expires_at",
            "ended_at",
        ]
        read_only_fields = fields


class AccessRequestInputSerializer(serializers.Serializer):
    identity = serializers.IntegerField(required=False)
    source = serializers.CharField(required=False)
    external_id = serializers.CharField(required=False)
    action = serializers.CharField()
    resource = ResourceSerializer()
    environment = serializers.CharField()
    duration_minutes = serializers.IntegerField(help_text="1 to 480.")
    reason = serializers.CharField()
    task_ref = serializers.CharField(required=False, allow_blank=True)


class CommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class AccessRequestFilter(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=AccessRequest.State.choices)
    identity = id_filter("identity_id")
    requester = django_filters.CharFilter(field_name="requester__username")

    class Meta:
        model = AccessRequest
        fields = ["state", "identity", "requester"]


class AccessRequestViewSet(
    FreshRowMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Just-in-time access to one action on one resource for up to 480 minutes. Auto-approved by
    policy when safe; otherwise IAM (and Security for critical identities) decide with `approve/` and
    `reject/` before the deadline. `end/` ends the access early when the task is done."""

    serializer_class = AccessRequestSerializer
    filterset_class = AccessRequestFilter
    workload_token_actions = ("create",)  # a workload asks for just-in-time access for itself

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AccessRequest.objects.none()
        return (
            jit.visible_to(self.request.user)
            .select_related("identity", "requester")
            .order_by("-created_at", "-pk")
        )

    @extend_schema(request=AccessRequestInputSerializer, responses={201: AccessRequestSerializer})
    def create(self, request, *args, **kwargs):
        data = request.data if isinstance(request.data, dict) else {}
        if getattr(request.auth, "is_machine_credential", False):
            ar = jit.request_access(from_request(request), own_identity(data, request.auth.identity_id))
            # The workload sees its own request (it holds no role to list others).
            row = AccessRequest.objects.select_related("identity", "requester").get(pk=ar.pk)
            return Response(AccessRequestSerializer(row).data, status=status.HTTP_201_CREATED)
        ar = jit.request_access(from_request(request), dict(data))
        return self.fresh(ar, status.HTTP_201_CREATED)

    def _comment(self, request) -> str:
        return validated(CommentSerializer, request)["comment"]

    @detail_post(request=CommentSerializer, responses=AccessRequestSerializer)
    def approve(self, request, pk=None):
        return self.fresh(jit.approve(from_request(request), self.get_object(), self._comment(request)))

    @detail_post(request=CommentSerializer, responses=AccessRequestSerializer)
    def reject(self, request, pk=None):
        return self.fresh(jit.reject(from_request(request), self.get_object(), self._comment(request)))

    @detail_post(request=CommentSerializer, responses=AccessRequestSerializer)
    def end(self, request, pk=None):
        return self.fresh(jit.end_access(from_request(request), self.get_object(), self._comment(request)))


def register(router) -> None:
    router.register("decisions", DecisionViewSet, basename="decision")
    router.register("access-requests", AccessRequestViewSet, basename="access-request")
