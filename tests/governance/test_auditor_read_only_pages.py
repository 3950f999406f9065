"""The auditor's browser view is read-only: no page offers a form that changes state, and every
state-changing page route refuses an auditor's POST (403, or 405 where the route takes no POST).
Routes are enumerated from the live URL resolver, so a new page is covered the day it is added.
The API has its own matrix in test_evidence_auditor_permissions.py."""

from __future__ import annotations

import io
import re

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

from governance.models import AuditEvent

pytestmark = pytest.mark.django_db

# Forms an auditor is offered on purpose: none of them changes governed state.
READ_ONLY_FORMS = {
    "/accounts/logout/",  # signing out
    "/evidence/",  # requesting an evidence pack (audited; what auditors are for)
    "/evidence/verify/",  # checking an uploaded pack
    "/policy/try/",  # "try a request": answers without recording
}
# An auditor's own list preferences (columns, saved filters on the lists they read): deliberately
# offered, they change only the auditor's own view of a page, never governed state (governance.lists).
OWN_PREFERENCE_FORMS = "/lists/"
# Page routes that take a POST without changing anything (checks, previews, signing in or out).
READ_ONLY_POSTS = {
    "evidence/", "evidence/verify/", "policy/try/", "intake/preview/", "intake/grant-row/",
    "lists/<slug:list_key>/columns/", "lists/<slug:list_key>/filters/",
    "lists/<slug:list_key>/filters/delete/",  # the auditor's own preferences (OWN_PREFERENCE_FORMS)
}  # fmt: skip
# Not pages: the API, the admin, sign-in, SCIM (bearer tokens of scope scim only), public keys and
# Slack's interactivity endpoint (Slack's signature only; tests/chat/).
SKIPPED_PREFIXES = (
    "api/", "admin/", "accounts/", "oidc/", "scim/", ".well-known/", "healthz",
    "integrations/slack/interactions/",
)  # fmt: skip

FORM_TAG = re.compile(r"<form\b[^>]*>", re.I)
HX_WRITE = re.compile(r'hx-(?:post|put|patch|delete)="([^"]*)"', re.I)
ACTION = re.compile(r'action="([^"]*)"', re.I)


def _page_routes() -> list[str]:
    routes: list[str] = []

    def walk(resolver, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            text = prefix + str(pattern.pattern)
            if text.startswith(SKIPPED_PREFIXES):
                continue
            if isinstance(pattern, URLResolver):
                walk(pattern, text)
            elif isinstance(pattern, URLPattern):
                routes.append(text)

    walk(get_resolver(), "")
    return sorted(set(routes))


@pytest.fixture
def demo(db):
    """The demo estate plus one live object of every kind a page acts on, made through the services,
    so each detail route is refused for the role rather than for a missing id."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from approvals.flows import scope
    from approvals.models import ApprovalRequest
    from approvals.services import intake as intake_services
    from governance.policy.models import CedarPolicySet, PolicyTestCase
    from governance.reviews.services.launch import launch_campaign
    from inventory import ownership
    from inventory.models import Credential, Identity
    from tests.approvals.conftest import answers
    from tests.factories import CredentialFactory, IdentityFactory, request_merge_access
    from tests.governance.exceptions_support import old_key_identity
    from tests.governance.exceptions_support import request as request_exception

    call_command("seed_demo", password="pw-for-tests-1", stdout=io.StringIO())
    users = {u.username: u for u in get_user_model().objects.all()}
    owner, owner2, iam = users["owner"], users["owner2"], users["iam"]
    identity = IdentityFactory(owner=owner, name="auditor-probe", risk_tier="low")
    credential = CredentialFactory(identity=identity)
    Credential.objects.filter(pk=credential.pk).update(revoked_at=timezone.now())
    draft = intake_services.create_draft(owner, {**answers("high"), "team": identity.team})
    intake = intake_services.submit(owner, draft)
    exception = request_exception(owner, old_key_identity(owner))
    campaign = launch_campaign(
        iam, "Auditor probe", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=14)
    )
    (transfer,) = ownership.propose_transfer(owner, [identity], owner2, "moving teams")
    change = scope.request_scope_change(
        owner,
        identity,
        add=[{"resource_kind": "ci_pipeline", "resource_name": "docs-release", "actions": ["run_ci"]}],
        reason="publish the docs",
    )
    agent = IdentityFactory(owner=owner, kind="ai_agent", environments=["prod"])
    access = request_merge_access(owner, agent)
    from connectors.models import ConnectorRun
    from connectors.services import create_connector

    connector = create_connector(iam, {"name": "probe-aws", "kind": "aws_iam", "config": {}})
    run = ConnectorRun.objects.create(connector=connector, state="succeeded", actor="iam")
    assert Identity.objects.count() > 10
    return {
        "connectors/runs/": str(run.pk),
        "connectors/": str(connector.pk),
        "inventory/credentials/": str(credential.pk),
        "inventory/transfers/": str(transfer.pk),
        "inventory/scope-changes/": str(change.pk),
        "inventory/": str(identity.pk),
        "intake/": str(intake.pk),
        "approvals/": str(ApprovalRequest.objects.order_by("pk").values_list("pk", flat=True).first()),
        "exceptions/": str(exception.pk),
        "reviews/items/": str(campaign.items.order_by("pk").first().pk),
        "reviews/campaigns/": str(campaign.pk),
        "access-requests/": str(access.pk),
        "policy/versions/": str(CedarPolicySet.objects.get(is_active=True).version),
        "policy/test-cases/": str(PolicyTestCase.objects.order_by("pk").first().pk),
    }


def _fill(route: str, ids: dict[str, str]) -> str:
    """The route with a real id of the object its prefix names (the longest matching prefix)."""
    value = next((pk for prefix, pk in ids.items() if route.startswith(prefix)), "1")
    return "/" + re.sub(r"<[^>]+>", value, route)


def _auditor(client):
    from django.contrib.auth import get_user_model

    client.force_login(get_user_model().objects.get(username="auditor"))


def test_no_page_offers_the_auditor_a_form_that_changes_state(client, demo):
    _auditor(client)
    opened = 0
    offending = []
    for route in _page_routes():
        if "<" in route and not route.endswith(("<int:pk>/", "<int:version>/")):
            continue  # action routes, not pages
        response = client.get(_fill(route, demo))
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        opened += 1
        body = response.content.decode()
        offered = {
            ACTION.search(tag)[1] if ACTION.search(tag) else route
            for tag in FORM_TAG.findall(body)
            if re.search(r'method="post"', tag, re.I)
        } | set(HX_WRITE.findall(body))
        offered = {action for action in offered if not action.startswith(OWN_PREFERENCE_FORMS)}
        if offered - READ_ONLY_FORMS:
            offending.append((route, sorted(offered - READ_ONLY_FORMS)))
    assert not offending, offending
    assert opened >= 20  # lists, detail pages, evidence, decisions and policy pages


def test_every_state_changing_page_route_refuses_an_auditors_post(client, demo):
    _auditor(client)
    before = AuditEvent.objects.count()
    refused = 0
    accepted = []
    for route in _page_routes():
        if route in READ_ONLY_POSTS:
            continue
        path = _fill(route, demo)
        response = client.post(
            path,
            {"decision": "approve", "comment": "probe", "reason": "probe", "note": "probe", "items": ["1"]},
        )
        if response.status_code not in (403, 405):
            accepted.append((path, response.status_code))
        refused += response.status_code == 403
    assert not accepted, accepted
    assert refused >= 25
    assert AuditEvent.objects.count() == before
