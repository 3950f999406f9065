"""REST API `policy/` and `policy/versions/`: the governance policy document.

Everyone signed in with a role reads it. A change takes two people: Security proposes a version
(`PUT policy/` → 202, `proposed`), and it is in force only once another person (Security or IAM, never
the proposer) approves it (`POST policy/versions/{n}/approve/`), or turns it down (`reject/`).
"""

from __future__ import annotations

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.actors import from_request
from governance.api_common import detail_post, validated
from governance.permissions import AuditorReadOnly, ReadAllRoles, TokenScopePermission
from governance.policy import services
from governance.policy.models import PolicyVersion


class PolicyDocumentSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        read_only=True, help_text="The version in force (0: the built-in defaults)."
    )
    document = serializers.JSONField()
    note = serializers.CharField(required=False, allow_blank=True, write_only=True)


class PolicyVersionSerializer(serializers.ModelSerializer):
    proposed_by = serializers.CharField(source="created_by", read_only=True)
    proposed_at = serializers.DateTimeField(source="created_at", read_only=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = PolicyVersion
        fields = [
            "version",
            "state",
            "proposed_by",
            "proposed_at",
            "note",
            "based_on",
            "decided_by",
            "decided_at",
            "decision_comment",
            "activated_at",
            "superseded_at",
            "document",
            "url",
        ]
        read_only_fields = fields


class PolicyChangeSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="The setting, e.g. `auto_approve.max_tier`.")
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)
    added = serializers.ListField(required=False)
    removed = serializers.ListField(required=False)


class PolicyVersionDetailSerializer(PolicyVersionSerializer):
    changes = serializers.SerializerMethodField(
        help_text="What this version changes against the version in force now."
    )

    class Meta(PolicyVersionSerializer.Meta):
        fields = [*PolicyVersionSerializer.Meta.fields, "changes"]
        read_only_fields = fields

    @extend_schema_field(PolicyChangeSerializer(many=True))
    def get_changes(self, obj) -> list[dict]:
        return services.document_changes(services.current_policy().document, obj.document)


class PolicyDecisionSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class PolicyVersionFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=PolicyVersion.State.choices)

    class Meta:
        model = PolicyVersion
        fields = ["state"]


class PolicyView(APIView):
    permission_classes = [ReadAllRoles, TokenScopePermission, AuditorReadOnly]

    @extend_schema(responses=PolicyDocumentSerializer)
    def get(self, request):
        """The version in force."""
        policy = services.current_policy()
        return Response({"version": policy.version, "document": policy.document})

    @extend_schema(request=PolicyDocumentSerializer, responses={202: PolicyVersionSerializer})
    def put(self, request):
        """Security proposes a new version; nothing changes until a second person approves it."""
        body = validated(PolicyDocumentSerializer, request)
        proposal = services.propose_policy(from_request(request), body["document"], note=body.get("note", ""))
        return Response(PolicyVersionSerializer(proposal).data, status=status.HTTP_202_ACCEPTED)


class PolicyVersionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Every version of the governance policy with its `state` (`proposed`, `active`, `superseded`,
    `rejected`). `approve/` puts a proposed version in force and `reject/` turns it down: Security or
    IAM, never the person who proposed it."""

    serializer_class = PolicyVersionSerializer
    permission_classes = [ReadAllRoles, TokenScopePermission, AuditorReadOnly]
    filterset_class = PolicyVersionFilter
    lookup_field = "version"
    lookup_value_regex = "[0-9]{1,9}"

    def get_queryset(self):
        return PolicyVersion.objects.order_by("-version")

    def get_serializer_class(self):
        return PolicyVersionDetailSerializer if self.action == "retrieve" else PolicyVersionSerializer

    def _decide(self, request, decide) -> Response:
        comment = validated(PolicyDecisionSerializer, request)["comment"]
        decided = decide(from_request(request), self.get_object(), comment)
        return Response(PolicyVersionSerializer(decided).data)

    @detail_post(request=PolicyDecisionSerializer, responses=PolicyVersionSerializer)
    def approve(self, request, version=None):
        return self._decide(request, services.approve_policy)

    @detail_post(request=PolicyDecisionSerializer, responses=PolicyVersionSerializer)
    def reject(self, request, version=None):
        return self._decide(request, services.reject_policy)


def register(router) -> None:
    router.register("policy/versions", PolicyVersionViewSet, basename="api-policy-version")
