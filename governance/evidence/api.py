from __future__ import annotations

from django.http import Http404
from django.urls import reverse
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.actors import from_request
from governance.evidence.models import EvidenceExport
from governance.evidence.services import request_export
from governance.evidence.views import open_pack
from governance.permissions import ReadAllRoles, TokenScopePermission


class EvidenceExportSerializer(serializers.ModelSerializer):
    requested_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    download = serializers.SerializerMethodField()

    class Meta:
        model = EvidenceExport
        fields = [
            "id", "requested_by", "period_start", "period_end", "state", "sha256", "size", "error",
            "created_at", "finished_at", "download",
        ]  # fmt: skip
        read_only_fields = ["state", "sha256", "size", "error", "created_at", "finished_at"]

    def get_download(self, obj) -> str | None:
        if obj.state != EvidenceExport.State.READY:
            return None
        request = self.context.get("request")
        path = reverse("api:evidence-export-download", args=[obj.pk])
        return request.build_absolute_uri(path) if request else path


class EvidenceExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Evidence packs: IAM, Security and Auditors list, request and download them."""

    queryset = EvidenceExport.objects.select_related("requested_by").order_by("-created_at", "-id")
    serializer_class = EvidenceExportSerializer
    permission_classes = [ReadAllRoles, TokenScopePermission]
    auditor_may_write = True  # auditors request evidence packs
    filterset_fields = ["state"]

    def create(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = request_export(
            from_request(request),
            serializer.validated_data["period_start"],
            serializer.validated_data["period_end"],
        )
        return Response(self.get_serializer(export).data, status=status.HTTP_201_CREATED)

    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        export = self.get_object()
        if export.state != EvidenceExport.State.READY:
            raise Http404("This pack is not ready.")
        return open_pack(export)


def register(router) -> None:
    router.register("evidence-exports", EvidenceExportViewSet, basename="evidence-export")
