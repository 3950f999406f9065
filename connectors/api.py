"""REST API for connectors: `connectors/`, `connectors/{id}/sync/`, `connectors/{id}/reports/`,
`connector-runs/`.

Thin: parse, authorise, call one service, render. IAM and Security register, change and sync
connectors; auditors read them; the services check roles again.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.http.request import RawPostDataException
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from connectors import endpoint, services
from connectors.models import Connector, ConnectorRun
from governance.actors import from_request
from governance.ids import parse_id
from governance.people.models import ApiToken, Role
from governance.permissions import AuditorReadOnly, ReadAllRoles, TokenScopePermission
from inventory.models import Identity

TRUE = ("1", "true", "yes", "on")


class ConnectorRunSerializer(serializers.ModelSerializer):
    connector_name = serializers.CharField(source="connector.name", read_only=True)

    class Meta:
        model = ConnectorRun
        fields = [
            "id", "connector", "connector_name", "state", "dry_run", "trigger", "actor", "discovered",
            "changed", "vanished", "errors", "seen", "error_details", "progress", "report", "started_at",
            "finished_at",
        ]  # fmt: skip
        read_only_fields = fields


class ConnectorSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    config = serializers.JSONField(
        required=False,
        help_text="Where to look, per kind (aws_iam: region, endpoint_url, page_size, max_attempts; "
        "github_org: org, base_url, installation_id, per_page, scan_workflows, retries, max_wait). "
        "Never a secret: credentials come from the worker's environment.",
    )
    url = serializers.CharField(source="get_absolute_url", read_only=True)

    class Meta:
        model = Connector
        fields = [
            "id", "name", "kind", "config", "schedule", "enforce", "identity", "created_by", "created_at",
            "updated_at", "last_run_at", "last_success_at", "failing", "failing_since", "last_error", "url",
        ]  # fmt: skip
        read_only_fields = [
            "identity", "created_by", "created_at", "updated_at", "last_run_at", "last_success_at", "failing",
            "failing_since", "last_error",
        ]  # fmt: skip
        extra_kwargs = {"name": {"validators": []}}


def _body(request) -> dict:
    if not isinstance(request.data, dict):
        raise ValidationError({"detail": "Send a JSON object."})
    return dict(request.data)


class EndpointReportPermission(permissions.BasePermission):
    """An endpoint's report: a token of scope 'report' (whoever holds it), or IAM and Security
    (signed in, or with a write token). Read and SCIM tokens, owners and auditors are refused."""

    message = "Endpoint reports come with a token of scope 'report', or from IAM or Security."

    def has_permission(self, request, view):
        user = request.user
        if not user.is_authenticated:
            return False
        token = request.auth
        if isinstance(token, ApiToken):
            if token.scope == ApiToken.Scope.REPORT:
                return True
            if token.scope != ApiToken.Scope.WRITE:
                return False
        return user.has_role(Role.IAM, Role.SECURITY) and not user.is_auditor


ENDPOINT_EXTENSION = inline_serializer(
    "EndpointExtension",
    {
        "id": serializers.CharField(max_length=200, help_text="e.g. github.copilot"),
        "version": serializers.CharField(required=False, allow_blank=True, max_length=100),
        "publisher": serializers.CharField(required=False, allow_blank=True, max_length=200),
        "ide": serializers.CharField(
            required=False, allow_blank=True, max_length=100, help_text="vscode, cursor, jetbrains:<product>"
        ),
    },
)
ENDPOINT_MCP_SERVER = inline_serializer(
    "EndpointMcpServer",
    {
        "name": serializers.CharField(max_length=200),
        "transport": serializers.CharField(help_text="stdio, http or sse"),
        "command": serializers.CharField(required=False, max_length=300, help_text="Or url; not both."),
        "url": serializers.CharField(required=False, max_length=500, help_text="No query string."),
        "env": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="Names only, never values."
        ),
        "headers": serializers.ListField(
            child=serializers.CharField(), required=False, help_text="Names only, never values."
        ),
        "client": serializers.CharField(required=False, allow_blank=True, max_length=100),
        "config": serializers.CharField(required=False, allow_blank=True, max_length=300),
    },
)


class ConnectorViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Connectors: IAM and Security register, change and sync them; auditors read them."""

    queryset = Connector.objects.select_related("created_by").order_by("name")
    serializer_class = ConnectorSerializer
    permission_classes = [ReadAllRoles, AuditorReadOnly, TokenScopePermission]
    filterset_fields = ["kind", "failing", "enforce"]

    def get_permissions(self):
        if self.action == "reports":
            return [EndpointReportPermission()]
        return super().get_permissions()

    def create(self, request, *args, **kwargs):
        connector = services.create_connector(from_request(request), _body(request))
        return Response(self.get_serializer(connector).data, status=status.HTTP_201_CREATED)

    def update(self, request, *args, **kwargs):
        connector = services.update_connector(from_request(request), self.get_object(), _body(request))
        return Response(self.get_serializer(connector).data)

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter(
                "dry_run", OpenApiTypes.BOOL, description="1: report what would change, write nothing."
            )
        ],
        responses={202: ConnectorRunSerializer},
    )
    @action(detail=True, methods=["post"])
    def sync(self, request, pk=None):
        """Start a run (202 with the run); 409 while another run of this connector is running."""
        dry_run = str(request.query_params.get("dry_run", "")).lower() in TRUE
        run = services.start_run(from_request(request), self.get_object(), dry_run=dry_run, trigger="api")
        return Response(ConnectorRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        request=inline_serializer(
            "EndpointReport",
            {
                "host": serializers.CharField(max_length=253),
                "user": serializers.CharField(max_length=150),
                "scanned_at": serializers.DateTimeField(),
                "scanner_version": serializers.CharField(required=False),
                "extensions": serializers.ListField(child=ENDPOINT_EXTENSION, required=False),
                "mcp_servers": serializers.ListField(child=ENDPOINT_MCP_SERVER, required=False),
            },
        ),
        responses={200: OpenApiTypes.OBJECT},
    )
    @action(detail=True, methods=["post"])
    def reports(self, request, pk=None):
        """One endpoint's report from tools/steward-scan (at most 1 MiB and 2,000 items): all or
        nothing, idempotent per host and day. Answers what it discovered, changed and proposed."""
        connector = self.get_object()
        try:
            size = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        try:
            size = max(size, len(request.body))  # a chunked body announces no length
        except RawPostDataException:  # already read (a form body): its length was announced
            pass
        if size > endpoint.MAX_BYTES:
            raise ValidationError(
                {"report": [f"The report is larger than {endpoint.MAX_BYTES // 1024} KiB; split it."]}
            )
        result = endpoint.ingest_report(from_request(request), connector, request.data)
        return Response(result)

    @extend_schema(
        request=inline_serializer(
            "ConfirmVanished",
            {"identity": serializers.IntegerField(), "reason": serializers.CharField(required=False)},
        ),
        responses={
            200: inline_serializer(
                "VanishedConfirmed",
                {"identity": serializers.IntegerField(), "status": serializers.CharField()},
            )
        },
    )
    @action(detail=True, methods=["post"], url_path="confirm-vanished")
    def confirm_vanished(self, request, pk=None):
        """IAM confirms an identity this connector no longer finds: it is decommissioned in Steward."""
        connector = self.get_object()
        body = _body(request)
        identity_id = parse_id(body.get("identity"))
        if identity_id is None:
            raise ValidationError({"identity": "Give the identity's id."})
        identity = get_object_or_404(Identity, pk=identity_id)
        identity = services.confirm_vanished(
            from_request(request), connector, identity, str(body.get("reason") or "")
        )
        return Response({"identity": identity.pk, "status": identity.status})


class ConnectorRunViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Runs of every connector, newest first; filter by `connector` (its id), `state`, `dry_run`."""

    queryset = ConnectorRun.objects.select_related("connector").order_by("-started_at", "-id")
    serializer_class = ConnectorRunSerializer
    permission_classes = [ReadAllRoles, TokenScopePermission]
    filterset_fields = ["connector", "state", "dry_run"]


def register(router) -> None:
    router.register("connectors", ConnectorViewSet, basename="connector")
    router.register("connector-runs", ConnectorRunViewSet, basename="connector-run")
