"""REST API for access reviews.

review-campaigns/                      GET (IAM, Security, Auditor), POST (IAM): name, scope, due_at
review-campaigns/{id}/                 GET, with progress and the population count and hash
review-campaigns/{id}/verify/          GET: recompute the population hash from the stored items
review-campaigns/{id}/close/           POST (IAM)
review-campaigns/{id}/remind/          POST (IAM): remind reviewers with open items now
review-items/                          GET: filters campaign, reviewer (username), decision, identity, ...
review-items/{id}/                     GET, with the frozen snapshot
review-items/{id}/decide/              POST: decision, reason, grants (ids, for modify), shown_seconds
review-items/{id}/sign-off/            POST (IAM, not the decider, not an owner): note
review-items/{id}/confirm-remediation/ POST: note (a ticket reference or how the revocation was proven)
review-items/{id}/reassign/            POST (IAM): reviewer (username), reason
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from governance.actors import from_request
from governance.api_common import FreshRowMixin, detail_post, validated
from governance.errors import NotAllowed
from governance.ids import IdField
from governance.people.models import Role
from governance.permissions import AuditorReadOnly, TokenScopePermission
from governance.reviews import services
from governance.reviews.filters import ReviewCampaignFilter, ReviewItemFilter
from governance.reviews.models import ReviewCampaign, ReviewItem
from governance.reviews.queries import progress_of, visible_items, with_progress
from governance.reviews.services.common import can_decide, require_iam
from governance.reviews.services.decisions import MAX_SHOWN_SECONDS


class ReadersOrWriteThroughServices(permissions.BasePermission):
    """Reading campaigns: IAM, Security, Auditors. Writes: any signed-in user; the service decides."""

    def has_permission(self, request, view):
        if not request.user.is_authenticated:
            return False
        if request.method in permissions.SAFE_METHODS:
            return request.user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR)
        return True


# ---------------------------------------------------------------- serializers


class ReviewCampaignSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by_label", read_only=True)
    closed_by = serializers.CharField(source="closed_by_label", read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = ReviewCampaign
        fields = [
            "id",
            "name",
            "scope",
            "due_at",
            "state",
            "origin",
            "created_by",
            "launched_at",
            "closed_at",
            "closed_by",
            "population_count",
            "population_sha256",
            "skipped_count",
            "progress",
        ]
        read_only_fields = fields

    def get_progress(self, obj) -> dict:
        return progress_of(obj)


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, required=False, default="")
    scope = serializers.JSONField(required=False, default=dict)
    due_at = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="YYYY-MM-DD or an ISO 8601 time"
    )


class ReviewItemSerializer(serializers.ModelSerializer):
    campaign_name = serializers.CharField(source="campaign.name", read_only=True)
    identity_name = serializers.SerializerMethodField()
    reviewer = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    team = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    decided_by = serializers.CharField(source="decided_by_label", read_only=True)
    signoff_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    remediation_confirmed_by = serializers.CharField(
        source="remediation_confirmed_by_label",
        read_only=True,
        help_text="Who or what confirmed: an IAM approver or Security admin, or system:<connector sync>.",
    )

    class Meta:
        model = ReviewItem
        fields = [
            "id",
            "campaign",
            "campaign_name",
            "identity",
            "identity_name",
            "risk_tier",
            "team",
            "reviewer",
            "reviewer_source",
            "decision",
            "reason",
            "removed_grants",
            "decided_by",
            "decided_at",
            "decided_via",
            "shown_at",
            "display_seconds",
            "signoff_state",
            "signoff_by",
            "signoff_at",
            "remediation_state",
            "remediation_action_at",
            "remediation_confirmed_at",
            "remediation_confirmed_by",
            "remediation_note",
            "remediation_error",
        ]
        read_only_fields = fields

    def get_identity_name(self, obj) -> str:
        return obj.snapshot.get("name", "")


class ReviewItemDetailSerializer(ReviewItemSerializer):
    class Meta(ReviewItemSerializer.Meta):
        fields = [*ReviewItemSerializer.Meta.fields, "snapshot"]
        read_only_fields = fields


class DecideSerializer(serializers.Serializer):
    decision = serializers.CharField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    grants = serializers.ListField(child=IdField(), required=False, default=list)
    shown_seconds = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=MAX_SHOWN_SECONDS, default=None
    )


class NoteSerializer(serializers.Serializer):
    note = serializers.CharField(required=False, allow_blank=True, default="")


class ReviewReassignSerializer(serializers.Serializer):
    reviewer = serializers.CharField()
    reason = serializers.CharField(required=False, allow_blank=True, default="")


# ---------------------------------------------------------------- viewsets


class ReviewCampaignViewSet(
    FreshRowMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ReviewCampaignSerializer
    permission_classes = [ReadersOrWriteThroughServices, TokenScopePermission, AuditorReadOnly]
    filterset_class = ReviewCampaignFilter

    def get_queryset(self):
        return with_progress(ReviewCampaign.objects.all()).order_by("-launched_at", "-pk")

    @extend_schema(request=CampaignCreateSerializer, responses=ReviewCampaignSerializer)
    def create(self, request, *args, **kwargs):
        data = validated(CampaignCreateSerializer, request)
        campaign = services.launch_campaign(
            from_request(request), data["name"], data["scope"], data["due_at"]
        )
        return self.fresh(campaign, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=dict)
    @action(detail=True, methods=["get"])
    def verify(self, request, pk=None):
        return Response(services.verify_population(self.get_object()))

    @detail_post(request=None, responses=ReviewCampaignSerializer)
    def close(self, request, pk=None):
        campaign = self.get_object()
        services.close_campaign(from_request(request), campaign)
        return self.fresh(campaign)

    @detail_post(request=None, responses=dict)
    def remind(self, request, pk=None):
        return Response(services.send_reminders(from_request(request), self.get_object()))


class ReviewItemViewSet(FreshRowMixin, viewsets.ReadOnlyModelViewSet):
    queryset = ReviewItem.objects.none()  # for the schema; get_queryset scopes by the caller
    filterset_class = ReviewItemFilter
    fresh_serializer_class = ReviewItemDetailSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ReviewItem.objects.none()
        user = self.request.user
        # Actions look in every item so that "not yours" is a 403 from the service, not a 404.
        items = ReviewItem.objects.all() if self.action not in ("list", "retrieve") else visible_items(user)
        return items.select_related(
            "campaign", "reviewer", "team", "signoff_by", "remediation_confirmed_by"
        ).order_by("campaign_id", "identity_id")

    def get_serializer_class(self):
        return ReviewItemDetailSerializer if self.action == "retrieve" else ReviewItemSerializer

    @detail_post(request=DecideSerializer, responses=ReviewItemDetailSerializer)
    def decide(self, request, pk=None):
        item = self.get_object()
        if not can_decide(request.user, item):  # who may decide comes before what they sent
            raise NotAllowed("Only this item's reviewer or an IAM approver may decide it.")
        data = validated(DecideSerializer, request)
        item = services.decide(
            from_request(request),
            item,
            data["decision"],
            data["reason"],
            grants=data["grants"],
            shown_seconds=data["shown_seconds"],
            channel=ReviewItem.Channel.API,
        )
        return self.fresh(item)

    def retrieve(self, request, *args, **kwargs):
        """Reading a pending item as its reviewer starts its viewing time, as the review page does: an
        API decision then carries a measured display time (none if the item was never read)."""
        item = self.get_object()
        services.record_shown(request.user, [item])
        item = self.get_queryset().get(pk=item.pk)
        return Response(self.get_serializer(item).data)

    @detail_post(request=NoteSerializer, responses=ReviewItemDetailSerializer, url_path="sign-off")
    def sign_off(self, request, pk=None):
        note = validated(NoteSerializer, request)["note"]
        return self.fresh(services.sign_off(from_request(request), self.get_object(), note))

    @detail_post(request=NoteSerializer, responses=ReviewItemDetailSerializer, url_path="confirm-remediation")
    def confirm_remediation(self, request, pk=None):
        note = validated(NoteSerializer, request)["note"]
        item = services.confirm_remediation(from_request(request), self.get_object(), note)
        return self.fresh(item)

    @detail_post(request=ReviewReassignSerializer, responses=ReviewItemDetailSerializer)
    def reassign(self, request, pk=None):
        item = self.get_object()
        require_iam(from_request(request), "reassign reviewers")  # 403 before the body is read
        body = validated(ReviewReassignSerializer, request)
        item = services.reassign(from_request(request), item, body["reviewer"], body["reason"])
        return self.fresh(item)


def register(router) -> None:
    router.register("review-campaigns", ReviewCampaignViewSet, basename="review-campaign")
    router.register("review-items", ReviewItemViewSet, basename="review-item")
