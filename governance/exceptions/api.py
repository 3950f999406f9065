"""API: exceptions/ (GET, POST) and exceptions/{id}/approve/, reject/, revoke/."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets

from governance.actors import from_request
from governance.api_common import FreshRowMixin, detail_post, validated
from governance.exceptions import services
from governance.exceptions.filters import ExceptionFilter
from governance.exceptions.models import PolicyException
from governance.findings.api import IsMember
from governance.permissions import AuditorReadOnly, TokenScopePermission


class ExceptionSerializer(serializers.ModelSerializer):
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = PolicyException
        fields = [
            "id",
            "identity",
            "identity_name",
            "rule",
            "justification",
            "compensating_controls",
            "expires_at",
            "state",
            "state_reason",
            "requested_by",
            "created_at",
            "approved_at",
            "ended_at",
            "renewal_of",
            "approval",
            "url",
        ]
        read_only_fields = fields


class ExceptionInputSerializer(serializers.Serializer):
    identity = serializers.IntegerField()
    rule = serializers.CharField()
    justification = serializers.CharField(allow_blank=True)
    compensating_controls = serializers.CharField(required=False, allow_blank=True, default="")
    expires_at = serializers.CharField(help_text="ISO 8601 time or YYYY-MM-DD.")
    renewal_of = serializers.IntegerField(required=False, allow_null=True)


class ExceptionCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class ExceptionReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class ExceptionViewSet(
    FreshRowMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Time-bound, approved departures from a rule. Owners see their identities' exceptions; IAM,
    Security and Auditors see all. `approve/` and `reject/` decide the caller's step in the approval
    engine (Security; two different people for a critical identity); `revoke/` ends an active one."""

    serializer_class = ExceptionSerializer
    permission_classes = [IsMember, TokenScopePermission, AuditorReadOnly]
    filterset_class = ExceptionFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return PolicyException.objects.none()
        return (
            PolicyException.objects.visible_to(self.request.user)
            .select_related("identity", "requested_by")
            .order_by("-created_at", "-pk")
        )

    @extend_schema(request=ExceptionInputSerializer, responses={201: ExceptionSerializer})
    def create(self, request, *args, **kwargs):
        data = validated(ExceptionInputSerializer, request)
        exc = services.request_exception(from_request(request), **data)
        return self.fresh(exc, status.HTTP_201_CREATED)

    @detail_post(request=ExceptionCommentSerializer, responses=ExceptionSerializer)
    def approve(self, request, pk=None):
        comment = validated(ExceptionCommentSerializer, request)["comment"]
        return self.fresh(services.approve(from_request(request), self.get_object(), comment))

    @detail_post(request=ExceptionCommentSerializer, responses=ExceptionSerializer)
    def reject(self, request, pk=None):
        comment = validated(ExceptionCommentSerializer, request)["comment"]
        return self.fresh(services.reject(from_request(request), self.get_object(), comment))

    @detail_post(request=ExceptionReasonSerializer, responses=ExceptionSerializer)
    def revoke(self, request, pk=None):
        reason = validated(ExceptionReasonSerializer, request)["reason"]
        return self.fresh(services.revoke_exception(from_request(request), self.get_object(), reason))


def register(router) -> None:
    router.register("exceptions", ExceptionViewSet, basename="exception")
