"""REST API of workload identity.

- `POST /api/v1/token/` — OAuth 2.0 token exchange (RFC 8693), no session, no static token: the
  workload's own signed JWT is its credential.
- `POST /api/v1/token/delegation/` — a signed-in person's short-lived delegation token (browser session
  or SSO login only; an API token is not a person).
- `POST /api/v1/token/introspect/` — RFC 7662 for resource servers.
- `trusted-issuers/`, `trust-bindings/`, `set-receivers/`, `set-deliveries/`.
"""

from __future__ import annotations

import django_filters
from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import audit
from governance.actors import from_request
from governance.api_common import detail_post
from governance.errors import NotAllowed
from governance.filters import id_filter
from governance.ids import parse_id
from governance.people.models import ApiToken, Role
from governance.people.tokens import BearerTokenAuthentication
from governance.permissions import REPORT_ONLY, AuditorReadOnly, ReadAllRoles, TokenScopePermission
from governance.safe_json import DepthLimitedJSONParser
from inventory.models import Identity
from workload import exchange, services, tokens
from workload.models import SetDelivery, SetReceiver, TrustBinding, TrustedIssuer

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class ExchangeScope(TokenScopePermission):
    """Any caller may exchange; a SCIM or report-scoped static token is refused as everywhere."""

    def has_permission(self, request, view):
        token = request.auth
        if isinstance(token, ApiToken) and token.scope in (ApiToken.Scope.READ, ApiToken.Scope.WRITE):
            return True
        return super().has_permission(request, view)


class TokenExchangeView(APIView):
    """RFC 8693 token exchange: `grant_type=urn:ietf:params:oauth:grant-type:token-exchange`,
    `subject_token` (the workload's JWT from a trusted issuer), `subject_token_type=
    urn:ietf:params:oauth:token-type:jwt`, optional `actor_token`/`actor_token_type` for delegation.
    Answers a Steward access token of at most 15 minutes, or an OAuth error (`invalid_request`,
    `invalid_grant`, `unsupported_grant_type`)."""

    # No credential of Steward's is needed: the subject token is the proof. A static token sent anyway
    # is still judged by its scope (a SCIM or report token does its one thing only).
    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [permissions.AllowAny, ExchangeScope]
    parser_classes = [FormParser, MultiPartParser, DepthLimitedJSONParser]

    @extend_schema(
        request=inline_serializer(
            "TokenExchangeRequest",
            {
                "grant_type": serializers.CharField(),
                "subject_token": serializers.CharField(),
                "subject_token_type": serializers.CharField(),
                "actor_token": serializers.CharField(required=False),
                "actor_token_type": serializers.CharField(required=False),
            },
        ),
        responses={
            200: inline_serializer(
                "TokenExchangeResponse",
                {
                    "access_token": serializers.CharField(),
                    "issued_token_type": serializers.CharField(),
                    "token_type": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                },
            ),
            400: OpenApiResponse(description="OAuth error: {error, error_description}"),
        },
        auth=[],
    )
    def post(self, request):
        try:
            data = request.data
        except Exception:  # noqa: BLE001 - a body the parsers refuse is the caller's error
            data = {}
        try:
            result = exchange.exchange(data)
        except exchange.OAuthError as error:
            return Response(error.body(), status=error.status, headers=NO_STORE)
        return Response(result.body(), headers=NO_STORE)


class PersonOnly(permissions.BasePermission):
    message = (
        "A delegation token is for a person signed in to Steward (browser session or SSO), not an API token."
    )

    def has_permission(self, request, view):
        return not isinstance(request.auth, ApiToken)


class DelegationView(APIView):
    """A signed-in person's delegation token (5 minutes): given to an assistant as `actor_token`, it
    makes "acting for <person>" explicit in the access token and in every decision. Optional
    `identity`: only that identity may use it."""

    # A static token is read only to be refused by name (its scope, or "not a person").
    authentication_classes = [BearerTokenAuthentication, SessionAuthentication]
    permission_classes = [permissions.IsAuthenticated, TokenScopePermission, PersonOnly]

    @extend_schema(
        request=inline_serializer(
            "DelegationRequest", {"identity": serializers.IntegerField(required=False)}
        ),
        responses={
            201: inline_serializer(
                "DelegationResponse",
                {
                    "delegation_token": serializers.CharField(),
                    "token_type": serializers.CharField(),
                    "expires_in": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request):
        user = request.user
        if user.is_auditor or not user.has_role(Role.OWNER, Role.IAM, Role.SECURITY):
            raise NotAllowed("Only people with an owner, IAM or Security role may delegate to an agent.")
        identity_id = request.data.get("identity") if hasattr(request.data, "get") else None
        if identity_id not in (None, ""):
            identity_id = parse_id(identity_id)
            if identity_id is None or not Identity.objects.filter(pk=identity_id).exists():
                raise serializers.ValidationError({"identity": ["No identity with this id."]})
        else:
            identity_id = None
        with transaction.atomic():
            value, row = tokens.mint_delegation(user, identity_id=identity_id)
            audit.record(
                from_request(request),
                "workload.delegation_issued",
                ("workload.issuedtoken", row.pk, f"delegation by {user.get_username()}"),
                after={"jti": row.jti, "identity": identity_id, "expires_at": row.expires_at.isoformat()},
            )
        body = {
            "delegation_token": value,
            "token_type": tokens.JWT_TOKEN_TYPE,
            "expires_in": tokens.DELEGATION_SECONDS,
        }
        return Response(body, status=status.HTTP_201_CREATED, headers=NO_STORE)


class IntrospectionPermission(permissions.BasePermission):
    """A resource server: a person with IAM, Security or Auditor, or a read/write static token."""

    def has_permission(self, request, view):
        token = request.auth
        if isinstance(token, ApiToken):
            if token.scope == ApiToken.Scope.REPORT:
                self.message = REPORT_ONLY
            return token.scope in (ApiToken.Scope.READ, ApiToken.Scope.WRITE)
        user = request.user
        return bool(user and user.is_authenticated and user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR))


class IntrospectionView(APIView):
    """RFC 7662: `token=<Steward access token>` → `{"active": true, ...}` or `{"active": false}`."""

    permission_classes = [IntrospectionPermission]
    parser_classes = [FormParser, MultiPartParser, DepthLimitedJSONParser]
    workload_token_actions = "__all__"  # a workload may ask about its own token

    @extend_schema(
        request=inline_serializer("IntrospectionRequest", {"token": serializers.CharField()}),
        responses={200: OpenApiResponse(description="RFC 7662 introspection response")},
    )
    def post(self, request):
        value = request.data.get("token") if hasattr(request.data, "get") else None
        if not isinstance(value, str) or not value:
            return Response(
                {"error": "invalid_request", "error_description": "token is required."}, status=400
            )
        answer = introspect(value)
        credential = request.auth if getattr(request.auth, "is_machine_credential", False) else None
        if credential is not None and answer.get("identity") != credential.identity_id:
            answer = {"active": False}  # a workload learns about its own tokens only
        return Response(answer, headers=NO_STORE)

    def check_permissions(self, request):
        if getattr(request.auth, "is_machine_credential", False):
            return  # its own token's state is no secret to it
        super().check_permissions(request)


def introspect(value: str) -> dict:
    try:
        claims = tokens.verify(value, tokens.ACCESS, tokens.AUDIENCE)
    except tokens.TokenInvalid:
        return {"active": False}
    state = tokens.state_of(claims["jti"])
    if state is None or state.revoked_at is not None or state.identity_status != Identity.Status.ACTIVE:
        return {"active": False}
    body = {
        "active": True,
        "iss": claims["iss"],
        "sub": claims["sub"],
        "aud": claims["aud"],
        "client_id": claims.get("client_id", claims["sub"]),
        "token_type": "Bearer",
        "exp": claims["exp"],
        "iat": claims["iat"],
        "jti": claims["jti"],
        "identity": claims["identity"],
        "chain": claims.get("chain", []),
    }
    if claims.get("act"):
        body["act"] = claims["act"]
    return body


# ---------------------------------------------------------------- issuers


class TrustedIssuerSerializer(serializers.ModelSerializer):
    proposed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    decided_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TrustedIssuer
        fields = [
            "id",
            "name",
            "template",
            "issuer",
            "jwks_uri",
            "jwks",
            "audience",
            "state",
            "proposed_by",
            "proposed_at",
            "decided_by",
            "decided_at",
            "reason",
            "jwks_fetched_at",
            "jwks_error",
        ]
        read_only_fields = [
            "state",
            "proposed_by",
            "proposed_at",
            "decided_by",
            "decided_at",
            "jwks_fetched_at",
            "jwks_error",
        ]


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class GovernRead(permissions.BasePermission):
    """Reading: IAM, Security, Auditors. Writing: the services decide (Security/IAM)."""

    def has_permission(self, request, view):
        return ReadAllRoles().has_permission(request, view)


class TrustedIssuerViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Issuers whose workload tokens Steward exchanges. Security proposes (POST: `name`, `template`
    — github_actions, gitlab_ci, kubernetes, spiffe, custom —, `issuer`, `jwks_uri` or `jwks`,
    `audience`); another person (Security or IAM) approves with `approve/` or `reject/`; Security
    retires one with `retire/`, which revokes its bindings."""

    serializer_class = TrustedIssuerSerializer
    permission_classes = [GovernRead, TokenScopePermission, AuditorReadOnly]
    queryset = TrustedIssuer.objects.select_related("proposed_by", "decided_by").order_by("name")
    filterset_fields = ["state", "template"]

    def create(self, request, *args, **kwargs):
        data = request.data if hasattr(request.data, "get") else {}
        issuer = services.propose_issuer(from_request(request), dict(data.items()))
        return Response(self.get_serializer(issuer).data, status=status.HTTP_201_CREATED)

    def _decided(self, request, fn):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        issuer = fn(from_request(request), self.get_object().pk, body.validated_data["reason"])
        return Response(self.get_serializer(issuer).data)

    @detail_post(request=ReasonSerializer, responses=TrustedIssuerSerializer)
    def approve(self, request, pk=None):
        return self._decided(request, services.approve_issuer)

    @detail_post(request=ReasonSerializer, responses=TrustedIssuerSerializer)
    def reject(self, request, pk=None):
        return self._decided(request, services.reject_issuer)

    @detail_post(request=ReasonSerializer, responses=TrustedIssuerSerializer)
    def retire(self, request, pk=None):
        return self._decided(request, services.retire_issuer)


# ---------------------------------------------------------------- bindings


class TrustBindingSerializer(serializers.ModelSerializer):
    identity_name = serializers.CharField(source="identity.name", read_only=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TrustBinding
        fields = [
            "id",
            "issuer",
            "identity",
            "identity_name",
            "claims",
            "state",
            "reason",
            "created_by",
            "created_at",
            "decided_at",
            "revoked_at",
            "revoked_by",
            "last_exchange_at",
        ]
        read_only_fields = [
            "state",
            "created_by",
            "created_at",
            "decided_at",
            "revoked_at",
            "revoked_by",
            "last_exchange_at",
            "identity_name",
        ]


class TrustBindingFilter(django_filters.FilterSet):
    identity = id_filter("identity_id")
    issuer = id_filter("issuer_id")
    state = django_filters.ChoiceFilter(choices=TrustBinding.State.choices)

    class Meta:
        model = TrustBinding
        fields = ["identity", "issuer", "state"]


class BindingPermission(permissions.BasePermission):
    """Listing: IAM, Security, Auditors, and owners (their identities only). Creating: the service
    decides (IAM and Security bind; an owner asks, through approval)."""

    def has_permission(self, request, view):
        user = request.user
        return bool(
            user
            and user.is_authenticated
            and user.has_role(Role.OWNER, Role.IAM, Role.SECURITY, Role.AUDITOR)
        )


class TrustBindingViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet
):
    """Exact claims → one identity. POST `issuer`, `identity`, `claims` (e.g. `{"sub":
    "repo:acme/payments:environment:prod"}`), `reason`. Low and medium identities: IAM's binding is
    active at once; high and critical ones (and owners' requests) follow the tier's approval route.
    `revoke/` ends it and every live access token it gave."""

    serializer_class = TrustBindingSerializer
    permission_classes = [BindingPermission, TokenScopePermission, AuditorReadOnly]
    filterset_class = TrustBindingFilter

    def get_queryset(self):
        rows = TrustBinding.objects.select_related("identity", "created_by").order_by("-created_at", "-pk")
        if getattr(self, "swagger_fake_view", False):
            return rows.none()
        user = self.request.user
        if user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR):
            return rows
        from django.db.models import Q

        return rows.filter(Q(identity__owner=user) | Q(identity__backup_owner=user))

    def create(self, request, *args, **kwargs):
        data = request.data if hasattr(request.data, "get") else {}
        identity_id = parse_id(data.get("identity"))
        identity = Identity.objects.filter(pk=identity_id).first() if identity_id else None
        if identity is None:
            raise serializers.ValidationError({"identity": ["No identity with this id."]})
        binding = services.create_binding(
            from_request(request),
            identity=identity,
            issuer_id=data.get("issuer"),
            claims=data.get("claims"),
            reason=str(data.get("reason") or ""),
        )
        return Response(self.get_serializer(binding).data, status=status.HTTP_201_CREATED)

    @detail_post(request=ReasonSerializer, responses=TrustBindingSerializer)
    def revoke(self, request, pk=None):
        body = ReasonSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        binding = services.revoke_binding(
            from_request(request), self.get_object().pk, body.validated_data["reason"]
        )
        return Response(self.get_serializer(binding).data)


# ---------------------------------------------------------------- receivers


class SetReceiverSerializer(serializers.ModelSerializer):
    class Meta:
        model = SetReceiver
        fields = ["id", "name", "endpoint", "audience", "active", "created_at"]
        read_only_fields = ["active", "created_at"]


class SetReceiverViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Where Security Event Tokens (CAEP session-revoked, credential-change) are pushed (RFC 8935).
    Security registers (`name`, `endpoint`, `audience`) and removes receivers."""

    serializer_class = SetReceiverSerializer
    permission_classes = [GovernRead, TokenScopePermission, AuditorReadOnly]
    queryset = SetReceiver.objects.order_by("name")

    def create(self, request, *args, **kwargs):
        data = request.data if hasattr(request.data, "get") else {}
        receiver = services.add_receiver(from_request(request), dict(data.items()))
        return Response(self.get_serializer(receiver).data, status=status.HTTP_201_CREATED)

    def destroy(self, request, *args, **kwargs):
        services.remove_receiver(from_request(request), self.get_object().pk)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SetDeliverySerializer(serializers.ModelSerializer):
    receiver_name = serializers.CharField(source="receiver.name", read_only=True)

    class Meta:
        model = SetDelivery
        fields = [
            "id",
            "receiver",
            "receiver_name",
            "jti",
            "event_types",
            "identity",
            "state",
            "attempts",
            "next_attempt_at",
            "last_error",
            "created_at",
            "delivered_at",
        ]
        read_only_fields = fields


class SetDeliveryViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The outbox of Security Event Tokens: delivered, retrying (pending) or failed."""

    serializer_class = SetDeliverySerializer
    permission_classes = [GovernRead, TokenScopePermission]
    queryset = SetDelivery.objects.select_related("receiver").order_by("-created_at", "-pk")
    filterset_fields = ["state", "receiver", "identity"]


def register(router) -> None:
    router.register("trusted-issuers", TrustedIssuerViewSet, basename="trusted-issuer")
    router.register("trust-bindings", TrustBindingViewSet, basename="trust-binding")
    router.register("set-receivers", SetReceiverViewSet, basename="set-receiver")
    router.register("set-deliveries", SetDeliveryViewSet, basename="set-delivery")
