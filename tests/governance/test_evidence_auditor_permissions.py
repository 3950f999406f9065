"""The auditor role is read-only: every state-changing API route refuses it (403, or 405 where the
method does not exist). Routes are enumerated from the live router, so a new endpoint is covered the
day it is registered."""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern

from config.api import router
from governance.models import AuditEvent
from tests.approvals.conftest import answers
from tests.factories import IdentityFactory, request_merge_access

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("post", "put", "patch", "delete")
# Requesting an evidence pack is what auditors are for: it changes no governed state (it is audited).
AUDITOR_MAY = {("post", "evidence-exports/")}
# A well-formed body where an empty one would be refused as bad input before the role check.
BODIES = {
    "decisions/": lambda ids: {
        "identity": int(ids["identities"]),
        "action": "read_code",
        "resource": {"kind": "repository", "name": "org/repo"},
        "environment": "dev",
    },
    "access-requests/": lambda ids: {
        "identity": int(ids["identities"]),
        "action": "read_code",
        "resource": {"kind": "repository", "name": "org/repo"},
        "environment": "dev",
        "duration_minutes": 30,
        "reason": "audit probe",
    },
    "identities/(?P<pk>[^/.]+)/usage/": {"at": "2026-01-01T10:00:00Z", "action": "read_code"},
    "identities/": {"name": "probe", "kind": "bot", "owner": "owner", "reason": "probe"},
    "intake-requests/": {"name": "probe", "kind": "bot", "purpose": "probe"},
    "usage-events/": lambda ids: [{"identity": int(ids["identities"]), "at": "2026-01-01T10:00:00Z"}],
}


def _routes():
    """(path template, {method: action}) for every router URL, without format-suffix duplicates."""
    routes = []
    for pattern in router.urls:
        if not isinstance(pattern, URLPattern) or "format" in str(pattern.pattern):
            continue
        actions = getattr(pattern.callback, "actions", None) or {}
        template = str(pattern.pattern).lstrip("^").rstrip("$")
        if template == "":
            continue
        routes.append((template, actions))
    return routes


def pattern_methods(actions: dict, template: str) -> set[str]:
    """Methods the viewset really accepts on this route (http_method_names can drop PUT)."""
    prefix = template.split("/")[0]
    for registered, viewset, _basename in router.registry:
        if registered == prefix:
            return set(actions) & set(viewset.http_method_names)
    return set(actions)


def _path(template: str, ids: dict[str, str]) -> str:
    prefix = template.split("/")[0]
    return "/api/v1/" + re.sub(r"\(\?P<(\w+)>[^)]+\)", lambda m: ids.get(prefix, "1"), template)


@pytest.fixture
def ids(owner, team):
    """Real objects, so a detail route is refused for the role, not for a missing id."""
    identity = IdentityFactory(owner=owner)
    from approvals.services import intake as intake_services

    draft = intake_services.create_draft(owner, {**answers("high"), "team": team})
    intake = intake_services.submit(owner, draft)  # submitted: waiting for IAM, then Security
    agent = IdentityFactory(owner=owner, kind="ai_agent", environments=["prod"])
    access = request_merge_access(owner, agent)
    return {
        "identities": str(identity.pk),
        "intake-requests": str(intake.pk),
        "access-requests": str(access.pk),
    }


def test_the_router_exposes_write_routes_to_check():
    writes = [(t, a) for t, a in _routes() if any(m in a for m in WRITE_METHODS)]
    assert len(writes) >= 10


def test_auditor_is_refused_every_state_changing_api_route(api_as, auditor, ids):
    api = api_as(auditor)
    before = AuditEvent.objects.count()
    checked = []
    for template, actions in _routes():
        path = _path(template, ids)
        route = template.split("(")[0]
        for method in WRITE_METHODS:
            if (method, route) in AUDITOR_MAY:
                continue
            body = BODIES.get(template, {"comment": "probe", "reason": "probe", "risk_tier": "critical"})
            if callable(body):
                body = body(ids)
            response = getattr(api, method)(path, body, format="json")
            checked.append((method, path, response.status_code))
            allowed = method in actions and method in pattern_methods(actions, template)
            expected = (403,) if allowed else (403, 405)
            assert response.status_code in expected, (
                method,
                path,
                response.status_code,
                response.content[:300],
            )
    assert len(checked) > 40
    assert sum(1 for *_, code in checked if code == 403) >= 15
    assert AuditEvent.objects.count() == before
