# ruff: noqa: F811  (pytest fixtures imported from support modules)
"""Findings where people meet them: the identity page's panel, the identity API, and the exception
that covers a suppressed finding linked beside it (identity page and /findings/)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.exceptions import services
from governance.findings.models import Finding
from tests.factories import IdentityFactory
from tests.governance.exceptions_support import RULE, old_key_identity, request
from tests.governance.jobs_support import sweep

pytestmark = pytest.mark.django_db


def identity_page(client, user, identity) -> str:
    client.force_login(user)
    response = client.get(f"/inventory/{identity.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_identity_page_lists_open_findings_with_a_request_exception_link(client, owner):
    identity = old_key_identity(owner)
    sweep()
    finding = Finding.objects.get(identity=identity, rule=RULE)

    page = identity_page(client, owner, identity)

    assert 'data-testid="identity-findings"' in page
    assert f'data-rule="{RULE}"' in page and "Credential rotation overdue" in page
    assert "static credential(s) not rotated" in page  # the evidence summary
    assert f'href="/exceptions/new/?identity={identity.pk}&amp;rule={RULE}"' in page
    assert finding.exception_request_url == f"/exceptions/new/?identity={identity.pk}&rule={RULE}"
    assert f'href="/findings/?identity={identity.pk}&amp;status="' in page


def test_identity_page_empty_state_when_nothing_is_open(client, owner):
    identity = IdentityFactory(owner=owner)
    page = identity_page(client, owner, identity)
    assert 'data-testid="empty-findings"' in page and "No open findings for this identity." in page


def test_only_people_who_may_request_get_the_link(client, owner, owner2, auditor, security):
    identity = old_key_identity(owner)
    sweep()
    for user, offered in ((owner, True), (security, True), (owner2, False), (auditor, False)):
        page = identity_page(client, user, identity)
        assert f'data-rule="{RULE}"' in page  # everyone who reads the inventory sees the finding
        assert ('data-testid="request-exception"' in page) is offered, user.username


def test_a_suppressed_finding_links_the_exception_that_covers_it(client, owner, security):
    identity = old_key_identity(owner)
    sweep()
    exc = services.approve(security, request(owner, identity, days=20))
    sweep()
    assert Finding.objects.get(identity=identity, rule=RULE).status == Finding.Status.SUPPRESSED

    page = identity_page(client, owner, identity)
    assert 'data-testid="identity-finding-status">suppressed<' in page
    assert (
        f'href="/exceptions/{exc.pk}/" data-testid="covering-exception">covered by exception #{exc.pk}<'
        in page
    )
    assert f'&amp;rule={RULE}"' not in page  # covered: no "Request exception" for this one

    listed = client.get("/findings/?status=suppressed").content.decode()
    assert f'href="/exceptions/{exc.pk}/" data-testid="covering-exception"' in listed


def test_identity_api_lists_unresolved_findings_with_their_exception(owner, security, api_as):
    identity = old_key_identity(owner)
    IdentityFactory(owner=owner)  # findings of others are not listed
    sweep()
    exc = services.approve(security, request(owner, identity, days=20))
    sweep()
    body = api_as(owner).get(f"/api/v1/identities/{identity.pk}/").json()
    rows = {row["rule"]: row for row in body["findings"]}
    assert rows[RULE]["status"] == "suppressed" and rows[RULE]["exception"] == exc.pk
    assert rows[RULE]["exception_request_url"].endswith(f"rule={RULE}")
    assert all(row["status"] in ("open", "suppressed") for row in rows.values())


def test_the_panel_runs_a_fixed_number_of_queries(client, owner, security):
    def measure(identity) -> int:
        client.force_login(owner)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/inventory/{identity.pk}/").status_code == 200
        return len(ctx.captured_queries)

    few = old_key_identity(owner)
    many = old_key_identity(owner, environments=["prod", "dev"], vendor="Unknown Co", kind="ai_agent")
    sweep()
    for identity in (few, many):
        services.approve(security, request(owner, identity, days=20))
    services.approve(security, request(owner, many, days=20, rule="environment_crossing"))
    sweep()
    unresolved = Finding.objects.unresolved()
    assert unresolved.filter(identity=many).count() >= unresolved.filter(identity=few).count() + 2
    assert unresolved.filter(identity=many, status="suppressed").count() == 2
    measure(few)  # warm caches (policy, roles)
    assert measure(many) == measure(few)
