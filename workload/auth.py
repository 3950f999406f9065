"""`Authorization: Bearer <Steward access token>`: a workload calling with the JWT it got from a token
exchange. Accepted only by the views that say so (`workload_token_actions`: decisions, usage events,
access requests) and by introspection; everywhere else it is refused before the view runs.

The caller is the token's identity, not a person: `request.user` is an unsaved, role-less account
named after it (nothing is written in its name), and `request.auth` the token's claims, from which
`governance.actors.from_request` builds the actor and its chain.

A revoked token (the identity was suspended, its JIT grant ended, a sweep saw it drift) still reaches
the decision endpoint, which answers `deny` and logs it; every other endpoint answers 401.
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from governance.people.models import User
from workload import tokens

REFUSED_HERE = (
    "A Steward access token from a token exchange works on decisions/, usage-events/ and "
    "access-requests/ only."
)


def accepts(view) -> bool:
    if view is None:
        return False
    actions = getattr(view, "workload_token_actions", ())
    return actions == "__all__" or getattr(view, "action", None) in actions


def caller(claims) -> User:
    user = User(username=f"workload:{claims.get('identity')}", is_active=True)
    user.__dict__["roles"] = frozenset()
    return user


class WorkloadTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if len(header) != 2 or header[0].lower() != b"bearer":
            return None
        try:
            value = header[1].decode("ascii")
        except UnicodeError:
            return None
        if not tokens.looks_like_jwt(value):
            return None  # a static token (`stw_...`): BearerTokenAuthentication's
        view = (getattr(request, "parser_context", None) or {}).get("view")
        if not accepts(view):
            raise exceptions.PermissionDenied(REFUSED_HERE)
        try:
            claims = tokens.verify(value, tokens.ACCESS, tokens.AUDIENCE)
        except tokens.TokenInvalid as exc:
            raise exceptions.AuthenticationFailed(_("Invalid access token: %(why)s.") % {"why": exc})
        state = tokens.state_of(claims["jti"])
        if state is None:
            raise exceptions.AuthenticationFailed(_("Invalid access token: Steward has no record of it."))
        reason = ""
        if state.revoked_at is not None:
            reason = f"the access token was revoked: {state.revoke_reason}"
        elif state.identity_status in ("suspended", "decommissioned"):
            reason = f"the token's identity is {state.identity_status}"
        if reason and not getattr(view, "workload_revoked_answers", False):
            raise exceptions.AuthenticationFailed(_("Invalid access token: %(why)s.") % {"why": reason})
        credential = tokens.WorkloadCredential(
            claims=claims, revoked_reason=reason, chain=claims.get("chain") or []
        )
        return caller(claims), credential

    def authenticate_header(self, request):
        return self.keyword


class WorkloadTokenScheme(OpenApiAuthenticationExtension):
    target_class = WorkloadTokenAuthentication
    name = "workloadAccessToken"

    def get_security_requirement(self, auto_schema):
        """Listed only on the operations that accept it."""
        view = auto_schema.view
        if accepts(view) or getattr(view, "workload_token_actions", ()) == "__all__":
            return {self.name: []}
        return None

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "A Steward access token (at most 15 minutes) from `POST /api/v1/token/` "
            "(RFC 8693 token exchange). Accepted by decisions/, usage-events/ and access-requests/.",
        }
