from django.db.models import Case, IntegerField, Value, When
from rest_framework import permissions, serializers, viewsets

from governance.access import MEMBERS
from governance.api_common import OnePassPagination
from governance.findings.filters import FindingFilter
from governance.findings.models import SEVERITY_ORDER, Finding
from governance.permissions import AuditorReadOnly, TokenScopePermission


class IsMember(permissions.BasePermission):
    """Any Steward role; which findings a person sees is narrowed by `Finding.objects.visible_to`."""

    def has_permission(self, request, view):
        return request.user.is_authenticated and request.user.has_role(*MEMBERS)


class FindingSerializer(serializers.ModelSerializer):
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    rule_label = serializers.SerializerMethodField()
    references = serializers.SerializerMethodField()
    exception_request_url = serializers.CharField(read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)

    class Meta:
        model = Finding
        fields = [
            "id",
            "rule",
            "rule_label",
            "identity",
            "identity_name",
            "severity",
            "status",
            "first_seen_at",
            "last_seen_at",
            "resolved_at",
            "due_at",
            "overdue",
            "owner",
            "resolution",
            "exception",
            "evidence",
            "references",
            "exception_request_url",
        ]
        read_only_fields = fields

    def get_rule_label(self, obj) -> str:
        return str(obj.info.label)

    def get_references(self, obj) -> list[str]:
        return obj.references


def severity_rank():
    return Case(
        *[When(severity=sev, then=Value(rank)) for sev, rank in SEVERITY_ORDER.items()],
        default=Value(0),
        output_field=IntegerField(),
    )


class FindingViewSet(viewsets.ReadOnlyModelViewSet):
    """Findings the sweep opened and resolved. Owners see those on identities they own (owner or
    backup); IAM, Security and Auditors see all. Read-only: findings change only through the sweep."""

    queryset = Finding.objects.none()  # for the schema; get_queryset scopes by the caller
    serializer_class = FindingSerializer
    permission_classes = [IsMember, TokenScopePermission, AuditorReadOnly]
    filterset_class = FindingFilter
    pagination_class = OnePassPagination  # newest first: no index has it (last_seen_at moves hourly)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Finding.objects.none()
        return (
            Finding.objects.visible_to(self.request.user)
            .select_related("identity", "owner")
            .order_by("-last_seen_at", "-id")
        )
