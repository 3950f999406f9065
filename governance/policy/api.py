"""REST API `policy/`: the governance policy document. Everyone signed in with a role reads it;
Security changes it (PUT), and every change is a new, audited version."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.actors import from_request
from governance.permissions import AuditorReadOnly, ReadAllRoles, TokenScopePermission
from governance.policy.service import current_policy, update_policy


class PolicyDocumentSerializer(serializers.Serializer):
    version = serializers.IntegerField(read_only=True)
    document = serializers.JSONField()
    note = serializers.CharField(required=False, allow_blank=True, write_only=True)


class PolicyView(APIView):
    permission_classes = [ReadAllRoles, TokenScopePermission, AuditorReadOnly]

    @extend_schema(responses=PolicyDocumentSerializer)
    def get(self, request):
        policy = current_policy()
        return Response({"version": policy.version, "document": policy.document})

    @extend_schema(request=PolicyDocumentSerializer, responses=PolicyDocumentSerializer)
    def put(self, request):
        body = PolicyDocumentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        saved = update_policy(
            from_request(request), body.validated_data["document"], note=body.validated_data.get("note", "")
        )
        return Response({"version": saved.version, "document": saved.document})
