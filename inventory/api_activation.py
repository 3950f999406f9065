"""REST API for activation requests: imported, registered or triaged identities whose tier's route
needs more than one step wait `proposed` here until the approvals are given.

Thin: list, show, decide through the approval engine (`approve/`, `reject/`, `withdraw/`).
"""

from __future__ import annotations

from rest_framework import serializers

from approvals.flows import activation
from inventory.api_ownership import IdentityRequestViewSet
from inventory.models import ActivationRequest


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
    router.register("activation-requests", ActivationRequestViewSet, basename="activation-request")
