"""The one view under /scim/v2/: authenticate the bearer token, hand the request to scim2-server's
handler over Steward's storage, and answer in SCIM JSON (`application/scim+json`), errors included.

No browser session, no CSRF token: a SCIM client is a machine with a token of scope `scim`, and a
session cookie never authenticates here.
"""

from __future__ import annotations

import json
import logging

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework.exceptions import AuthenticationFailed
from scim2_models import ForbiddenException, PayloadTooLargeException, SCIMException, UnauthorizedException
from scim2_server.handler import ScimHandler
from scim2_server.requests import ScimRequest

from governance.links import link
from governance.people.models import ApiToken
from governance.people.scim.provider import service
from governance.people.scim.storage import StewardStorage
from governance.people.tokens import BearerTokenAuthentication

logger = logging.getLogger(__name__)
WRITES = ("PUT", "PATCH", "DELETE")


class ScimTokenAuthentication(BearerTokenAuthentication):
    refused_scopes = ()  # the API's bearer authentication, which here accepts (only) SCIM tokens


def authenticate(request) -> ApiToken:
    try:
        result = ScimTokenAuthentication().authenticate(request)
    except AuthenticationFailed as failure:
        raise UnauthorizedException(detail=str(failure.detail))
    if result is None:
        raise UnauthorizedException(
            detail="Send 'Authorization: Bearer <token>' with a token of scope 'scim'."
        )
    _user, token = result
    if token.scope != ApiToken.Scope.SCIM:
        raise ForbiddenException(
            detail=f"This token has scope '{token.scope}'; SCIM takes only a token of scope 'scim' "
            "(manage.py issue_scim_token)."
        )
    return token


def _read_body(request) -> bytes:
    try:
        return request.body
    except RequestDataTooBig:
        raise PayloadTooLargeException(detail="The request body is too large.")


def serve(request, scim_path: str = "") -> HttpResponse:
    scim = service()
    try:
        token = authenticate(request)
        scim_request = ScimRequest(
            method=request.method,
            base_url=request.build_absolute_uri(link("scim-root").rstrip("/")),
            path="/" + scim_path,
            query={key: request.GET[key] for key in request.GET},
            headers=dict(request.headers),
            body=_read_body(request),
            subject=token,
        )
        storage = StewardStorage(for_update=request.method in WRITES)
        response = ScimHandler(scim, storage).handle(scim_request)
    except SCIMException as refusal:
        logger.info("SCIM %s %s: %s %s", request.method, request.path, refusal.status, refusal)
        response = scim.error_response(refusal)
    except Exception as failure:  # a bug: a SCIM 500, logged with its traceback, never a page
        logger.exception("SCIM %s %s failed", request.method, request.path)
        response = scim.error_response(failure)
    headers = dict(response.headers)
    content_type = headers.pop("Content-Type")
    body = b"" if response.body is None else json.dumps(response.body).encode()
    answer = HttpResponse(body, status=response.status.value, content_type=content_type)
    for name, value in headers.items():
        answer[name] = value
    answer["Cache-Control"] = "no-store"
    return answer


class ScimView(View):
    """Every method goes to scim2-server's routing, which answers 405 (as SCIM) where it should."""

    http_method_names = ["get", "post", "put", "patch", "delete"]

    def dispatch(self, request, scim_path: str = ""):
        return serve(request, scim_path)

    # Listed for the URL conf's readers (the authorisation matrix); dispatch() serves them all.
    get = post = put = patch = delete = dispatch


scim_view = csrf_exempt(login_not_required(ScimView.as_view()))
