"""The register, the request form, an exception's page, the identity panel and the API."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.exceptions import services
from governance.exceptions.models import PolicyException
from tests.factories import IdentityFactory
from tests.governance.exceptions_support import RULE, old_key_identity, request

pytestmark = pytest.mark.django_db
State = PolicyException.State


def login(client, user):
    client.force_login(user)
    return client


def test_register_lists_with_filters_and_fixed_queries(
    client, owner, security, django_assert_max_num_queries
):
    login(client, security)
    identity = old_key_identity(owner)
    first = services.approve(security, request(owner, identity, days=10))
    request(owner, old_key_identity(owner), days=100, rule="stale_unused")
    with django_assert_max_num_queries(12) as few:
        response = client.get("/exceptions/")
    assert response.status_code == 200
    for _ in range(30):
        request(owner, old_key_identity(owner), days=50)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/exceptions/")
    body = client.get("/exceptions/?state=active&expiring_within=14").content.decode()
    assert f"/exceptions/{first.pk}/" in body and body.count('data-testid="exception-link"') == 1
    body = client.get("/exceptions/?rule=stale_unused").content.decode()
    assert body.count('data-testid="exception-link"') == 1
    assert client.get("/exceptions/?team=platform", HTTP_HX_REQUEST="true").status_code == 200


def test_owner_sees_only_their_identities_exceptions(client, owner, owner2, security):
    mine = request(owner, old_key_identity(owner))
    theirs = request(owner2, old_key_identity(owner2))
    body = login(client, owner).get("/exceptions/").content.decode()
    assert f"/exceptions/{mine.pk}/" in body and f"/exceptions/{theirs.pk}/" not in body
    assert client.get(f"/exceptions/{theirs.pk}/").status_code == 404


def test_request_form_preselects_identity_and_rule_and_shows_field_errors(client, owner):
    identity = old_key_identity(owner)
    login(client, owner)
    page = client.get(f"/exceptions/new/?identity={identity.pk}&rule={RULE}").content.decode()
    assert f'value="{identity.pk}" selected' in page and f'value="{RULE}" selected' in page
    too_late = (timezone.now() + timedelta(days=500)).date().isoformat()
    response = client.post(
        "/exceptions/new/",
        {"identity": identity.pk, "rule": RULE, "justification": "", "expires_at": too_late},
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert "Explain why" in text and "at most 365 days" in text
    assert not PolicyException.objects.exists()


def test_request_form_creates_and_security_decides_on_the_exception_page(client, owner, security):
    identity = old_key_identity(owner)
    expires = (timezone.now() + timedelta(days=30)).date().isoformat()
    login(client, owner)
    response = client.post(
        "/exceptions/new/",
        {"identity": identity.pk, "rule": RULE, "justification": "Vendor limitation", "expires_at": expires},
    )
    exc = PolicyException.objects.get()
    assert response.status_code == 302 and response.url == f"/exceptions/{exc.pk}/"
    page = client.get(response.url).content.decode()
    assert 'data-testid="decide-form"' not in page and "cannot decide your own request" in page
    login(client, security)
    assert 'data-testid="decide-form"' in client.get(response.url).content.decode()
    client.post(f"/exceptions/{exc.pk}/decide/", {"decision": "approve"})
    exc.refresh_from_db()
    assert exc.state == State.ACTIVE
    client.post(f"/exceptions/{exc.pk}/revoke/", {"reason": "done"})
    exc.refresh_from_db()
    assert exc.state == State.REVOKED


def test_identity_page_shows_active_and_soon_expiring_exceptions(client, owner, security):
    identity = old_key_identity(owner)
    services.approve(security, request(owner, identity, days=5))
    page = login(client, owner).get(identity.get_absolute_url()).content.decode()
    assert 'data-testid="identity-exceptions"' in page and "days left" in page


def test_identity_api_lists_active_exceptions(owner, security, api_as):
    identity = old_key_identity(owner)
    exc = services.approve(security, request(owner, identity))
    body = api_as(owner).get(f"/api/v1/identities/{identity.pk}/").json()
    assert [e["id"] for e in body["exceptions"]] == [exc.pk]


def test_api_create_approve_revoke_and_errors(owner, security, api_as):
    identity = old_key_identity(owner)
    expires = (timezone.now() + timedelta(days=30)).isoformat()
    payload = {"identity": identity.pk, "rule": RULE, "justification": "x", "expires_at": expires}
    bad = api_as(owner).post("/api/v1/exceptions/", {**payload, "justification": ""}, format="json")
    assert bad.status_code == 400 and "justification" in bad.json()
    created = api_as(owner).post("/api/v1/exceptions/", payload, format="json")
    assert created.status_code == 201 and created.json()["state"] == "requested"
    pk = created.json()["id"]
    assert created.json()["requested_by"] == "owner"
    assert api_as(owner).post(f"/api/v1/exceptions/{pk}/approve/", {}, format="json").status_code == 403
    approved = api_as(security).post(f"/api/v1/exceptions/{pk}/approve/", {}, format="json")
    assert approved.status_code == 200 and approved.json()["state"] == "active"
    assert (
        api_as(security)
        .post(f"/api/v1/exceptions/{pk}/reject/", {"comment": "no"}, format="json")
        .status_code
        == 409
    )
    revoked = api_as(security).post(f"/api/v1/exceptions/{pk}/revoke/", {"reason": "done"}, format="json")
    assert revoked.json()["state"] == "revoked"
    listing = api_as(owner).get("/api/v1/exceptions/?state=revoked").json()
    assert listing["count"] == 1


def test_api_list_has_fixed_queries(owner, security, api_as, django_assert_max_num_queries):
    client = api_as(security)
    request(owner, old_key_identity(owner))
    with django_assert_max_num_queries(10) as few:
        client.get("/api/v1/exceptions/")
    for _ in range(20):
        request(owner, IdentityFactory(owner=owner))
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert client.get("/api/v1/exceptions/").json()["count"] == 21


def test_dashboard_shows_soon_expiring_exceptions(client, owner, security):
    soon = services.approve(security, request(owner, old_key_identity(owner), days=5))
    later = services.approve(security, request(owner, old_key_identity(owner), days=60))
    page = login(client, owner).get("/dashboard/card/my-work/", HTTP_HX_REQUEST="true").content.decode()
    assert f"/exceptions/{soon.pk}/" in page and f"/exceptions/{later.pk}/" not in page
    assert "2 active" in page


@pytest.mark.parametrize(
    "change, field",
    [
        ({"expires_at": 400}, "expires_at"),  # past the low tier's 365-day maximum
        ({"expires_at": -1}, "expires_at"),  # in the past
        ({"justification": ""}, "justification"),
        ({"justification": None}, "justification"),  # missing altogether
    ],
)
def test_api_refuses_bad_requests_with_400_and_writes_nothing(owner, api_as, change, field):
    from approvals.models import ApprovalRequest
    from governance.models import AuditEvent

    identity = old_key_identity(owner)
    payload = {
        "identity": identity.pk,
        "rule": RULE,
        "justification": "Legacy bot cannot use OIDC yet.",
        "expires_at": (timezone.now() + timedelta(days=30)).isoformat(),
    }
    if "expires_at" in change:
        payload["expires_at"] = (timezone.now() + timedelta(days=change["expires_at"])).isoformat()
    elif change["justification"] is None:
        del payload["justification"]
    else:
        payload["justification"] = change["justification"]
    audit_before = AuditEvent.objects.count()

    response = api_as(owner).post("/api/v1/exceptions/", payload, format="json")

    assert response.status_code == 400 and field in response.json()
    assert not PolicyException.objects.exists() and not ApprovalRequest.objects.exists()
    assert AuditEvent.objects.count() == audit_before
