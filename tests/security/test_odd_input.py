"""Odd input that reached a 500 (issue 18, items 6 and 7): each test sends the shape that broke.

6. Deeply nested JSON: `'[' * 5000 + ']' * 5000` (10 KB) was a RecursionError on every JSON endpoint.
   Now a 400 `{"detail": ...}` that says why, from the REST API's parser and from every place that
   parses a body or an upload itself (the JSON import, a Cedar test case, the governance policy form).
7. Integers out of range (10**30, 2**63) as ids were an OverflowError. Now a 400 naming the field,
   and -1 too.
"""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from governance.actors import system
from governance.policy.models import PolicyTestCase, PolicyVersion
from governance.reviews.services import launch_campaign
from governance.safe_json import MAX_DEPTH, check_depth, loads
from inventory.models import Identity, OwnershipTransfer, UsageEvent
from inventory.tokens import issue_token
from tests.factories import GrantFactory, IdentityFactory

DEEP = "[" * 5000 + "]" * 5000
OUT_OF_RANGE = [10**30, 2**63, -1]
QUESTION = {"action": "read_code", "resource": {"kind": "repository", "name": "org/x"}, "environment": "dev"}


def bearer(user, scope: str) -> APIClient:
    _token, value = issue_token(system("test"), user, scope=scope, days=1)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    return client


def _says(response, *words: str) -> bool:
    text = response.content.decode()
    return all(word in text for word in words)


# ---------------------------------------------------------------- 6. deep nesting


@pytest.mark.django_db
def test_deeply_nested_json_to_the_policy_as_iam_is_a_400_with_a_detail(iam):
    response = bearer(iam, "write").put("/api/v1/policy/", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert "nests deeper than 64" in response.json()["detail"]
    assert not PolicyVersion.objects.filter(state=PolicyVersion.State.PROPOSED).exists()


@pytest.mark.django_db
def test_deeply_nested_json_to_decisions_with_a_read_token_is_a_400(owner):
    response = bearer(owner, "read").post("/api/v1/decisions/", DEEP, content_type="application/json")
    assert response.status_code == 400
    assert "nests deeper than 64" in response.json()["detail"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method,path",
    [
        ("post", "/api/v1/usage-events/"),
        ("post", "/api/v1/ownership-transfers/"),
        ("post", "/api/v1/identities/"),
        ("post", "/api/v1/intake-requests/"),
        ("post", "/api/v1/exceptions/"),
        ("post", "/api/v1/review-campaigns/"),
        ("post", "/api/v1/access-requests/"),
        ("post", "/api/v1/identities/import/?dry_run=1"),
    ],
)
def test_deeply_nested_json_is_a_400_on_other_json_endpoints(iam, method, path):
    response = getattr(bearer(iam, "write"), method)(path, DEEP, content_type="application/json")
    assert response.status_code == 400, response.content
    assert "nests deeper than 64" in response.content.decode()


@pytest.mark.django_db
def test_an_object_nested_deeply_and_a_number_out_of_float_range_are_refused(iam):
    client = bearer(iam, "write")
    nested = '{"document":' + '{"a":' * 100 + "1" + "}" * 100 + "}"
    assert client.put("/api/v1/policy/", nested, content_type="application/json").status_code == 400
    huge = client.post(
        "/api/v1/decisions/", '{"identity": 1e400, "action": "read_code"}', content_type="application/json"
    )
    assert huge.status_code == 400 and "out of range" in huge.json()["detail"]


@pytest.mark.django_db
def test_a_deeply_nested_json_import_is_refused_with_a_clear_message(client, api_as, iam):
    upload = SimpleUploadedFile("estate.json", DEEP.encode(), content_type="application/json")
    response = api_as(iam).post("/api/v1/identities/import/?dry_run=1", {"file": upload})
    assert response.status_code == 400
    assert "nests deeper than 64" in response.json()["errors"][0]["message"]
    client.force_login(iam)
    page = client.post(
        "/inventory/import/", {"file": SimpleUploadedFile("estate.json", DEEP.encode())}, follow=True
    )
    assert page.status_code < 500 and _says(page, "nests deeper than 64")
    assert not Identity.objects.exists()


@pytest.mark.django_db
def test_deeply_nested_json_in_the_browsers_policy_forms_is_refused(client, security):
    client.force_login(security)
    case = client.post(
        "/policy/test-cases/", {"name": "deep", "request": DEEP, "expected": "allow"}, follow=True
    )
    assert case.status_code == 200 and _says(case, "nests deeper than 64")
    assert not PolicyTestCase.objects.filter(name="deep").exists()
    document = client.post("/policy/document/", {"document": DEEP}, follow=True)
    assert document.status_code == 200 and _says(document, "nests deeper than 64")


def test_the_depth_check_counts_brackets_in_strings_and_escapes_correctly():
    inside_strings = json.dumps({"a": "[" * 500, "b": ['\\"[[[[' * 100]})
    check_depth(inside_strings)  # brackets in strings are text, not nesting
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    for deep in (
        "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
        '["\\\\"' + ",[" * 70 + "]" * 71,  # an escaped backslash ends the string before the brackets
        '{"a":' * 65 + "1" + "}" * 65,
    ):
        with pytest.raises(ValueError, match="nests deeper"):
            loads(deep)


# ---------------------------------------------------------------- 7. integers out of range


@pytest.fixture
def estate(owner, owner2, iam):
    identity = IdentityFactory(owner=owner, name="deploy-agent", risk_tier="high")
    GrantFactory(identity=identity, resource_name="org/api", actions=["deploy"])
    IdentityFactory(owner=owner, name="low-helper", risk_tier="low")
    campaign = launch_campaign(iam, "Q1", {}, "2099-01-31")
    return identity, campaign


def _names_the_field(response, field: str) -> bool:
    body = response.json()
    return field in body or field in json.dumps(body)


@pytest.mark.django_db
@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_an_out_of_range_identity_in_a_decision_question_is_a_400_naming_it(owner, number):
    for client in (bearer(owner, "read"), bearer(owner, "write")):
        one = client.post("/api/v1/decisions/", {"identity": number, **QUESTION}, format="json")
        batch = client.post("/api/v1/decisions/", [{"identity": number, **QUESTION}], format="json")
        for response in (one, batch):
            assert response.status_code == 400 and _names_the_field(response, "identity"), response.content
        listing = client.get(f"/api/v1/decisions/?identity={number}")
        assert listing.status_code in (400, 403)


@pytest.mark.django_db
@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_an_out_of_range_identity_in_usage_events_is_a_400_naming_it(api_as, iam, number):
    response = api_as(iam).post(
        "/api/v1/usage-events/", [{"identity": number, "at": "2026-01-01T10:00:00Z"}], format="json"
    )
    assert response.status_code == 400 and "identity" in response.content.decode(), response.content
    assert not UsageEvent.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_an_out_of_range_identity_in_an_ownership_transfer_is_a_400_naming_it(api_as, owner, owner2, number):
    client = api_as(owner)
    many = client.post(
        "/api/v1/ownership-transfers/", {"identities": [number], "to_owner": "owner2"}, format="json"
    )
    one = client.post(
        "/api/v1/ownership-transfers/", {"identity": number, "to_owner": "owner2"}, format="json"
    )
    for response in (many, one):
        assert response.status_code == 400 and _names_the_field(response, "identities"), response.content
    assert client.get(f"/api/v1/ownership-transfers/{number}/").status_code == 404
    assert not OwnershipTransfer.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_out_of_range_grants_in_a_review_decision_are_a_400_naming_them(api_as, client, iam, estate, number):
    identity, campaign = estate
    item = campaign.items.get(identity=identity)
    body = {"decision": "modify", "reason": "least privilege", "grants": [number]}
    response = api_as(iam).post(f"/api/v1/review-items/{item.pk}/decide/", body, format="json")
    assert response.status_code == 400 and _names_the_field(response, "grants"), response.content
    client.force_login(iam)
    page = client.post(f"/reviews/items/{item.pk}/decide/", {**body, "grants": [str(number)]})
    assert page.status_code == 400 and "is not an id" in page.content.decode()
    item.refresh_from_db()
    assert item.is_pending


@pytest.mark.django_db
@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_out_of_range_items_in_the_browsers_bulk_certify_are_refused_naming_them(
    client, owner, estate, number
):
    client.force_login(owner)
    response = client.post("/reviews/bulk-certify/", {"items": [str(number)], "reason": "x"}, follow=True)
    assert response.status_code == 200
    assert _says(response, "items: &#x27;", "is not an id")


@pytest.mark.django_db
@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_an_out_of_range_identity_or_version_in_policy_try_is_a_400(client, security, owner, number):
    identity = IdentityFactory(owner=owner)
    client.force_login(security)
    form = {
        "action": "read_code",
        "resource_kind": "repository",
        "resource_name": "org/x",
        "environment": "dev",
    }
    bad_identity = client.post("/policy/try/", {**form, "identity": str(number)})
    assert bad_identity.status_code == 400 and _says(bad_identity, "is not an id")
    bad_version = client.post("/policy/try/", {**form, "identity": str(identity.pk), "version": str(number)})
    assert bad_version.status_code < 500


@pytest.mark.django_db
@pytest.mark.parametrize("number", OUT_OF_RANGE)
def test_an_out_of_range_campaign_filter_is_a_400_naming_it(api_as, client, iam, estate, number):
    api = api_as(iam).get(f"/api/v1/review-items/?campaign={number}")
    assert api.status_code == 400 and "campaign" in api.json()
    client.force_login(iam)
    page = client.get(f"/reviews/?campaign={number}")
    assert page.status_code == 400 and _says(page, "Campaign: &#x27;")


@pytest.mark.django_db
@pytest.mark.parametrize("text", ["²", "١٢", "１２", "12abc", " ", "1" * 25])
def test_confusable_digits_are_not_ids(client, api_as, iam, owner, estate, text):
    """str.isdigit() takes "²" (int() then fails) and other scripts' digits: ids are ASCII digits."""
    question = api_as(iam).post("/api/v1/decisions/", {"identity": text, **QUESTION}, format="json")
    assert question.status_code == 400
    client.force_login(iam)
    assert client.get(f"/reviews/?campaign={text}").status_code == 400
    follow = client.post("/reviews/bulk-certify/", {"items": [text]}, follow=True)
    assert follow.status_code == 200 and _says(follow, "is not an id")


@pytest.mark.django_db
def test_a_nul_in_json_text_is_a_400_not_a_database_error(api_as, iam):
    """PostgreSQL text cannot hold NUL: it was a DataError (a 500) wherever a string was stored."""
    response = api_as(iam).post(
        "/api/v1/identities/", '{"name": "bot\\u0000", "kind": "bot"}', content_type="application/json"
    )
    assert response.status_code == 400 and "NUL" in response.json()["detail"]
    assert loads('["a\\\\u0000"]') == ["a\\u0000"]  # an escaped backslash, then the text u0000
    with pytest.raises(ValueError, match="NUL"):
        loads('["a\\\\\\u0000"]')


@pytest.mark.django_db
@pytest.mark.parametrize(
    "method, path, data",
    [
        ("get", "/inventory/?q=a%00b", None),
        ("get", "/approvals/?kind=%00", None),
        ("post", "/inventory/reassign/", {"identities": "1", "to_owner": "x\x00y", "reason": "r"}),
        ("get", "/api/v1/intake-requests/%00/", None),
        ("get", "/api/v1/identities/?search=%00", None),
    ],
)
def test_nul_in_a_path_query_or_form_field_is_a_400_before_any_view(client, iam, method, path, data):
    client.force_login(iam)
    before = Identity.objects.count()
    response = getattr(client, method)(path, data) if data else getattr(client, method)(path)
    assert response.status_code == 400
    assert b"NUL" in response.content
    assert Identity.objects.count() == before
