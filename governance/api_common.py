"""Shared API pieces: pagination, error mapping, and the actor of a request."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.fields import empty
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from governance.errors import IllegalTransition, NotAllowed
from governance.paging import OnePassPaginator


class StewardPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class OnePassPagination(StewardPagination):
    """For a list whose order no index serves, so that every page reads all its matches anyway: the
    page's ids and the count in that one pass (governance.paging), not a COUNT(*) before it."""

    django_paginator_class = OnePassPaginator


def validated(serializer_class, request) -> dict:
    """The request's body through `serializer_class`: its validated data, or a 400 with per-field
    messages."""
    body = serializer_class(data=request.data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def detail_post(request, responses=empty, **action_kwargs):
    """A viewset's POST on one row (`<pk>/<name>/`, or `url_path`), documented with its body
    (`request`) and its answer (`responses`): the `@extend_schema` + `@action` pair of every state
    change."""

    def decorate(method):
        endpoint = action(detail=True, methods=["post"], **action_kwargs)(method)
        return extend_schema(request=request, responses=responses)(endpoint)

    return decorate


# For viewsets whose actions answer with the row they changed: read again through the viewset's own
# queryset (its joins and annotations, and the caller's visibility), serialized by
# `fresh_serializer_class` (else `serializer_class`). No docstring: drf-spectacular would show it as the
# description of every operation of a viewset that has none of its own.
class FreshRowMixin:
    fresh_serializer_class = None

    def fresh(self, row, code: int = status.HTTP_200_OK) -> Response:
        serializer_class = self.fresh_serializer_class or self.serializer_class
        return Response(serializer_class(self.get_queryset().get(pk=row.pk)).data, status=code)


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "This change is not allowed from the current state."
    default_code = "conflict"


def django_validation_to_drf(exc: DjangoValidationError) -> DRFValidationError:
    if hasattr(exc, "error_dict"):
        return DRFValidationError(
            {field: [m for e in errs for m in e.messages] for field, errs in exc.error_dict.items()}
        )
    return DRFValidationError({"detail": exc.messages})


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = django_validation_to_drf(exc)
    elif isinstance(exc, IllegalTransition):
        exc = Conflict(exc.message)
    elif isinstance(exc, NotAllowed):
        return Response({"detail": exc.message}, status=status.HTTP_403_FORBIDDEN)
    elif isinstance(exc, PermissionDenied) and exc.args:
        return Response({"detail": str(exc.args[0])}, status=status.HTTP_403_FORBIDDEN)
    return drf_exception_handler(exc, context)


ERROR_RESPONSES = {
    "400": 'Bad input: per-field messages (`{"field": ["message"]}`) or a `detail`.',
    "401": "No login: no session and no (or an expired or unknown) bearer token.",
    "403": "Not allowed: role, object or separation of duties; `detail` says why.",
    "404": "Not found, or hidden from the caller (also for a page number past the end).",
    "409": "A transition not allowed from the current state, or a stale `version`.",
    "429": "Over the rate limit for this token or user; see `Retry-After`.",
}


def document_error_responses(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation documents the contract's error answers.

    drf-spectacular documents only the success; the contract (and clients that validate against
    the schema) rely on the same JSON errors everywhere, so each operation lists them too.
    """
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "Error",
        {
            "type": "object",
            "description": "A `detail` message, or per-field lists of messages.",
            # `detail` is a message, or a list of them when a batch names its bad entries.
            "properties": {"detail": {"oneOf": [{"type": "string"}, {"type": "array", "items": {}}]}},
            "additionalProperties": True,
        },
    )
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for code, description in ERROR_RESPONSES.items():
                responses.setdefault(code, {"description": description, "content": body})
    return result
