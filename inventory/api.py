"""REST API for the inventory: identities, lifecycle moves, usage reports and bulk import.

Thin on purpose: parse, authorise, call one service, render. Services check roles again.
"""

from __future__ import annotations

from functools import partial

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import BaseParser, FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from governance import prepared
from governance.access import MEMBERS
from governance.actors import from_request
from governance.api_common import StewardPagination, detail_post
from governance.errors import NotAllowed
from governance.ids import parse_id
from governance.paging import (
    BadCursor,
    CountedPaginator,
    OnePassPaginator,
    decode_cursor,
    encode_cursor,
    keyset_page,
)
from governance.permissions import MEMBER_PERMISSIONS, AuditorReadOnly, TokenScopePermission
from governance.safe_json import DepthLimitedJSONParser
from inventory import access, api_ownership, edits, importers, services, usage
from inventory.filters import IdentityFilter, base_queryset, search, search_only, search_rows
from inventory.models import Credential, Grant, Identity, UsageEvent
from inventory.serializers import (
    PENDING_FLAGS,
    CredentialAddSerializer,
    CredentialSerializer,
    IdentityDetailSerializer,
    IdentityListSerializer,
    IdentitySerializer,
    IdentityWriteSerializer,
    RotationSerializer,
    TransitionSerializer,
    UsageEventSerializer,
    detail_representation,
    with_pending_flags,
)
from inventory.tally import identity_tally, unfiltered


class RawBodyParser(BaseParser):
    """Accept text/csv bodies for the import (the view reads request.body itself)."""

    media_type = "text/csv"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def _raw_body(request) -> bytes:
    """The raw body, up to the import limit. (`request.body` stops at Django's form-sized
    DATA_UPLOAD_MAX_MEMORY_SIZE and answers a bare HTML 400, which names no limit.)"""
    limit = settings.STEWARD_IMPORT_MAX_BYTES
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        raise importers.too_large()
    django_request = request._request
    if hasattr(django_request, "_body"):
        return django_request._body
    return django_request.read(limit + 1)


GRANT_ORDER = ("ended_at", "resource_kind", "resource_name", "pk")
CREDENTIAL_ORDER = ("revoked_at", "kind", "label", "pk")


def _with_details(queryset):
    return with_pending_flags(queryset).prefetch_related(
        Prefetch("grants", queryset=Grant.objects.order_by(*GRANT_ORDER)),
        Prefetch("credentials", queryset=Credential.objects.order_by(*CREDENTIAL_ORDER)),
    )


def read_detail(pk: int):
    """What `GET identities/{id}/` shows, read with three statements compiled once per thread and
    prepared by PostgreSQL on each connection (governance/prepared.py): (the list's columns, the identity,
    its grants, its credentials), or None when there is no such identity. The same rows as
    `_with_details(base_queryset())`; compiling those three ORM queries on every request cost ~4 ms
    of CPU against 0.3 ms to run them (bench/README.md, "Issue 23, fourth pass")."""
    stand_in = prepared.sentinel_ids(1)[0]
    names = [f.attname for f in Identity._meta.concrete_fields]
    found = prepared.rows(
        prepared.compiled(
            "inventory.detail.identity",
            lambda: with_pending_flags(Identity.objects.filter(pk=stand_in)).values(
                *names, *IdentityListSerializer.NAMED_COLUMNS, *PENDING_FLAGS
            ),
        ),
        {stand_in: pk},
    )
    if not found:
        return None
    values = found[0]
    identity = Identity.from_db(DEFAULT_DB_ALIAS, names, [values[name] for name in names])
    for flag in PENDING_FLAGS:
        setattr(identity, flag, values[flag])
    related = [
        prepared.instances(
            model,
            f"inventory.detail.{model._meta.model_name}",
            lambda model=model, order=order: model.objects.filter(identity_id=stand_in).order_by(*order),
            {stand_in: pk},
        )
        for model, order in ((Grant, GRANT_ORDER), (Credential, CREDENTIAL_ORDER))
    ]
    return values, identity, *related


def _searching(request) -> bool:
    return bool(request.query_params.get("search", "").strip())


class IdentityPagination(StewardPagination):
    """Pages with an exact `count` (the contract's default), or, given `cursor`, a cursor mode
    without a count: keyset pages in name order (names are unique), one query each however deep,
    with `next`/`previous` links carrying opaque cursors. Start it with an empty `?cursor=`."""

    cursor_query_param = "cursor"
    cursor_key = "name"

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.cursor_mode = self.cursor_query_param in request.query_params
        # The rows as plain values (IdentityListSerializer.COLUMNS), never model instances.
        rows = queryset.values(*IdentityListSerializer.COLUMNS)
        if not self.cursor_mode:
            # A search visits every match anyway: count them in the pass that finds the page, from
            # the narrow search table when the search is the only filter (its rows name the same
            # identities, in the same order). Unfiltered on PostgreSQL, the tally has the number;
            # otherwise count the queryset itself (CountedPaginator says why). get_queryset hides no
            # identity from anyone.
            paginator = OnePassPaginator if _searching(request) else CountedPaginator
            tally = identity_tally() if unfiltered(request.query_params) else None
            matches = search_rows(search_only(request.query_params))
            counted = tally if tally is not None else queryset if matches is None else matches
            self.django_paginator_class = partial(paginator, counted=counted)
            return super().paginate_queryset(rows, request, view)
        if self.page_query_param in request.query_params:
            raise ValidationError({self.cursor_query_param: ["Give `cursor` or `page`, not both."]})
        if "ordering" in request.query_params:
            raise ValidationError(
                {
                    self.cursor_query_param: [
                        "Cursor mode reads in name order; `ordering` is not offered with it."
                    ]
                }
            )
        try:
            position = decode_cursor(request.query_params[self.cursor_query_param])
        except BadCursor:
            raise ValidationError(
                {self.cursor_query_param: ["Not a cursor from this list: start with an empty `cursor=`."]}
            ) from None
        size = self.get_page_size(request)
        self.keyset = keyset_page(rows, self.cursor_key, size, position, fence=_searching(request))
        return list(self.keyset)

    def _cursor_link(self, direction: str, key) -> str | None:
        if key is None:
            return None
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        return replace_query_param(url, self.cursor_query_param, encode_cursor(direction, key))

    def get_paginated_response(self, data):
        if not self.cursor_mode:
            return super().get_paginated_response(data)
        return Response(
            {
                "next": self._cursor_link("after", self.keyset.next_key),
                "previous": self._cursor_link("before", self.keyset.previous_key),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        paged = super().get_paginated_response_schema(schema)
        paged["required"] = ["results"]
        paged["properties"]["count"]["description"] = (
            "Exact number of matching identities; absent in cursor mode (`cursor`)."
        )
        return paged

    def get_schema_operation_parameters(self, view):
        return [
            *super().get_schema_operation_parameters(view),
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "Cursor mode: pages in name order without `count`, each as fast however deep. "
                    "Send an empty `cursor=` for the first page, then follow `next` and `previous`. "
                    "Not with `page` or `ordering`; an unknown cursor is a 400."
                ),
                "schema": {"type": "string"},
            },
        ]


FIELDS_PARAMETER = OpenApiParameter(
    "fields",
    OpenApiTypes.STR,
    description=(
        "Only these fields in each row, comma-separated (e.g. `id,name,status`); an unknown field is a 400."
    ),
)


def requested_fields(request) -> tuple[str, ...] | None:
    """The `fields` a list was asked for, in the serializer's order; None for all of them."""
    raw = request.query_params.get("fields")
    if raw is None:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    known = IdentityListSerializer.Meta.fields
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValidationError({"fields": [f"Unknown field: {name!r}." for name in unknown]})
    if not names:
        raise ValidationError({"fields": ["Name at least one field, e.g. `fields=id,name`."]})
    wanted = set(names)
    return tuple(name for name in known if name in wanted)


def _require_governor(request, what: str) -> None:
    if not request.user.is_governor:
        raise NotAllowed(f"Only IAM approvers and Security admins may {what}.")


class IdentityViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """The registry of non-human identities. POST by IAM/Security only (others use intake)."""

    permission_classes = MEMBER_PERMISSIONS
    filterset_class = IdentityFilter
    pagination_class = IdentityPagination
    http_method_names = ["get", "post", "patch", "head", "options"]
    # The only action a `report`-scoped token may call here (TokenScopePermission).
    token_report_actions = frozenset({"usage"})

    def retrieve(self, request, *args, **kwargs):
        # From kept statements (`read_detail`), except where DRF's own path answers differently: what
        # is not an id (DRF's 404, or `int()`'s reading of "+5"), a filter in the query (it narrows the
        # one identity too, and may make it a 404), and the browsable API (it fills its forms from the
        # serializer on the answer). A docstring here would become the operation's OpenAPI description.
        pk = parse_id(kwargs[self.lookup_url_kwarg or self.lookup_field])
        plain = not any(name in request.query_params for name in IdentityFilter.base_filters)
        if pk is None or not plain or request.accepted_renderer.format != "json":
            return super().retrieve(request, *args, **kwargs)
        found = read_detail(pk)
        if found is None:
            raise Http404("No Identity matches the given query.")  # as get_object_or_404 words it
        values, identity, grants, credentials = found
        self.check_object_permissions(request, identity)
        return Response(detail_representation(values, identity, grants, credentials))

    def get_queryset(self):
        queryset = base_queryset()
        if self.action == "retrieve":
            queryset = _with_details(queryset)
        if self.action == "list" and "ordering" not in self.request.query_params:
            queryset = queryset.order_by("name")
        return queryset

    def get_serializer_class(self):
        if self.action in ("create", "partial_update"):
            return IdentityWriteSerializer
        if self.action == "retrieve":
            return IdentityDetailSerializer
        if self.action in ("suspend", "reactivate", "decommission"):
            return TransitionSerializer
        if self.action == "list" and not getattr(self, "swagger_fake_view", False):
            return IdentityListSerializer  # the same fields; the schema names them "Identity"
        return IdentitySerializer

    @extend_schema(parameters=[FIELDS_PARAMETER])
    def list(self, request, *args, **kwargs):
        fields = requested_fields(request)  # a 400 before any query
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        write = IdentityListSerializer.row_writer(fields)
        return self.get_paginated_response([write(identity) for identity in page])

    def filter_queryset(self, queryset):
        # django-filter copies its sixteen filters and builds a form on every request (lists, and
        # get_object for one identity), a sixth of the plain list's time: with none of them in the
        # query there is nothing to apply.
        params = self.request.query_params
        if not any(name in params for name in IdentityFilter.base_filters):
            return queryset
        if term := search_only(params):
            return search(queryset, term)  # what the filter set's `search` does, without the filter set
        return super().filter_queryset(queryset)

    def _detail(self, identity: Identity, code=status.HTTP_200_OK) -> Response:
        fresh = _with_details(base_queryset()).get(pk=identity.pk)
        return Response(
            IdentityDetailSerializer(fresh, context=self.get_serializer_context()).data, status=code
        )

    def create(self, request, *args, **kwargs):
        _require_governor(request, "register identities directly (others use the intake form)")
        serializer = IdentityWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        grants = [dict(g) for g in data.pop("grants", [])]
        credentials = [dict(c) for c in data.pop("credentials", [])]
        credential_kind = data.pop("credential_kind", None)
        data.pop("version", None)
        reason = data.pop("reason", "")
        if credential_kind and not credentials:
            credentials = [{"kind": credential_kind}]
        identity = services.create_identity(
            from_request(request),
            data=data,
            grants=grants,
            credentials=credentials,
            status=Identity.Status.ACTIVE if data.get("owner") else Identity.Status.DISCOVERED,
            reason=reason,
        )
        return self._detail(identity, status.HTTP_201_CREATED)

    @extend_schema(
        request=IdentityWriteSerializer,
        responses={200: IdentityDetailSerializer, 202: IdentityDetailSerializer},
        description=(
            "Edit an identity. Descriptive fields (`purpose`; for IAM/Security also `name`, `team`, "
            "`owner`, `source`, `external_id`, `risk_tier`) change at once: **200**.\n\n"
            "Fields that change what the identity is — `kind`, `vendor`, `product`, `model_name`, "
            "`environments`, `data_classification`, `autonomous` — never change directly on an active "
            "or suspended identity: they open a scope change (re-tiered, routed through the approval "
            "engine; a `reason` is required), and naming a `backup_owner` other than yourself opens a "
            "nomination that person accepts or declines (`ownership-transfers/`). The answer is then "
            "**202**: the identity as it still is, with the open requests in `pending_changes`. "
            "Nothing else is needed: the same request body works for both, and everything in it is "
            "applied or opened together, or nothing (400).\n\n"
            "`risk_tier` may be raised above the tier computed from the grants and answers, never set "
            "below it: **400** naming `risk_tier`. Lowering it (down to the computed tier) needs a "
            "`reason`."
        ),
    )
    def partial_update(self, request, *args, **kwargs):
        return super().partial_update(request, *args, **kwargs)

    def update(self, request, *args, **kwargs):
        if not kwargs.get("partial"):
            return Response({"detail": "Use PATCH."}, status=status.HTTP_405_METHOD_NOT_ALLOWED)
        identity = self.get_object()
        if not access.can_edit(request.user, identity):
            raise NotAllowed("Only the identity's owners, IAM or Security may edit it.")
        serializer = IdentityWriteSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        version = changes.pop("version", None)
        reason = changes.pop("reason", "")
        outcome = edits.edit_identity(
            from_request(request), identity, changes, expected_version=version, reason=reason
        )
        return self._detail(
            outcome.identity, status.HTTP_202_ACCEPTED if outcome.pending else status.HTTP_200_OK
        )

    def _transition(self, request, service, *, governor_only: bool = False):
        identity = self.get_object()
        if governor_only:
            _require_governor(request, "do this")
        elif not access.can_edit(request.user, identity):
            raise NotAllowed("Only the identity's owners, IAM or Security may do this.")
        serializer = TransitionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        identity = service(from_request(request), identity, serializer.validated_data["reason"])
        return self._detail(identity)

    @detail_post(request=TransitionSerializer, responses=IdentityDetailSerializer)
    def suspend(self, request, pk=None):
        return self._transition(request, services.suspend)

    @detail_post(request=TransitionSerializer, responses=IdentityDetailSerializer)
    def reactivate(self, request, pk=None):
        return self._transition(request, services.reactivate, governor_only=True)

    @detail_post(request=TransitionSerializer, responses=IdentityDetailSerializer)
    def decommission(self, request, pk=None):
        return self._transition(request, services.decommission)

    def _editable(self, request) -> Identity:
        identity = self.get_object()
        if not access.can_edit(request.user, identity):
            raise NotAllowed("Only the identity's owners, IAM or Security may change its credentials.")
        return identity

    @detail_post(
        request=CredentialAddSerializer, responses={201: CredentialSerializer}, url_path="credentials"
    )
    def add_credential(self, request, pk=None):
        """Record one more credential (metadata only: kind, label or fingerprint, storage, dates)."""
        identity = self._editable(request)
        serializer = CredentialAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        reason = data.pop("reason", "")
        credential = services.add_credential(from_request(request), identity, data, reason)
        return Response(CredentialSerializer(credential).data, status=status.HTTP_201_CREATED)

    @detail_post(
        request=RotationSerializer,
        responses=CredentialSerializer,
        url_path=r"credentials/(?P<credential_id>[0-9]+)/rotate",
    )
    def rotate_credential(self, request, pk=None, credential_id=None):
        """Record that a live credential was rotated; its age restarts from `rotated_at`."""
        identity = self._editable(request)
        credential = get_object_or_404(Credential, pk=credential_id, identity=identity)
        serializer = RotationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        credential = services.record_rotation(from_request(request), credential, **serializer.validated_data)
        return Response(CredentialSerializer(credential).data)

    @detail_post(request=None, responses=UsageEventSerializer)
    def usage(self, request, pk=None):
        """Report one use: {"at", "action", "resource": {"kind", "name"}, "environment"}."""
        identity = self.get_object()
        event = usage.record_usage(from_request(request), identity, request.data)
        return Response(UsageEventSerializer(event).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=None)
    @action(
        detail=False,
        methods=["post"],
        url_path="import",
        parser_classes=[MultiPartParser, FormParser, RawBodyParser, DepthLimitedJSONParser],
    )
    def import_file(self, request):
        """CSV or JSON (multipart field `file`, or the raw body). `?dry_run=1` returns the diff only."""
        _require_governor(request, "import identities")
        content_type = request.content_type or ""
        dry_run = request.query_params.get("dry_run", "").lower() in ("1", "true", "yes")
        try:
            if content_type.startswith("multipart/"):
                upload = request.FILES.get("file")
                if upload is None:
                    return Response(
                        {"file": ["Attach the file as 'file'."]}, status=status.HTTP_400_BAD_REQUEST
                    )
                content, filename = importers.read_upload(upload), upload.name
                source = request.data.get("source") or request.query_params.get("source", "")
            else:
                content = _raw_body(request)
                filename = "import.json" if "json" in content_type else "import.csv"
                source = request.query_params.get("source", "")
            plan = importers.import_identities(
                from_request(request), content, filename=filename, source=source, dry_run=dry_run
            )
        except importers.ImportRejected as exc:
            return Response(
                {"detail": f"{exc.message} {len(exc.errors)} problem(s) found.", "errors": exc.errors},
                status=status.HTTP_400_BAD_REQUEST,
            )
        return Response(plan.as_dict())


class UsageEventViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, viewsets.GenericViewSet):
    """Usage reports. POST a batch of up to 1,000 events (a list, or {"events": [...]}), all-or-nothing."""

    permission_classes = [permissions.IsAuthenticated, TokenScopePermission, AuditorReadOnly]
    serializer_class = UsageEventSerializer
    filterset_fields = ["identity", "after_revocation", "out_of_scope", "environment"]
    # A `report`-scoped token may POST batches here, and nothing else (TokenScopePermission).
    token_report_actions = frozenset({"create"})
    # So may a workload's exchanged access token, for its own identity (named or left out).
    workload_token_actions = ("create",)

    def get_queryset(self):
        return UsageEvent.objects.order_by("-at", "-pk")

    def list(self, request, *args, **kwargs):
        if not request.user.has_role(*MEMBERS):
            raise NotAllowed("Your role does not give access to the inventory.")
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses=None)
    def create(self, request, *args, **kwargs):
        events = request.data.get("events") if isinstance(request.data, dict) else request.data
        result = usage.ingest_usage(from_request(request), events)
        return Response(result.as_dict(), status=status.HTTP_201_CREATED)


def register(router) -> None:
    api_ownership.register(router)  # first: `identities/reassign/` must win over `identities/{pk}/`
    router.register("identities", IdentityViewSet, basename="identity")
    router.register("usage-events", UsageEventViewSet, basename="usage-event")
