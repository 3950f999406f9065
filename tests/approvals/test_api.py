"""The API path of the intake journey, per the contract."""

import pytest

from tests.approvals.conftest import answers
from tests.factories import UserFactory


def _body(team, **overrides):
    data = answers("high", name="claude-code-platform-api", **overrides)
    data.update({"owner": "owner", "backup_owner": "owner2", "team": team.slug})
    return data


@pytest.mark.django_db
def test_api_journey_draft_submit_iam_security_identity(owner, owner2, iam, security, team, api_as):
    client = api_as(owner)
    created = client.post("/api/v1/intake-requests/", _body(team), format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["state"] == "draft" and body["owner"] == "owner" and body["backup_owner"] == "owner2"
    assert body["team"] == "platform" and body["requester"] == "owner"
    assert body["risk_tier"] == "high" and body["risk_reasons"] and body["steps"] == []
    assert body["identity"] is None
    pk = body["id"]

    submitted = client.post(f"/api/v1/intake-requests/{pk}/submit/", {}, format="json").json()
    assert submitted["state"] == "submitted"
    assert [(s["role"], s["state"]) for s in submitted["steps"]] == [
        ("iam", "pending"),
        ("security", "pending"),
    ]

    inbox = api_as(iam).get("/api/v1/approvals/?state=pending").json()
    assert inbox["count"] == 1
    item = inbox["results"][0]
    assert item["kind"] == "intake" and item["subject_id"] == pk and item["awaiting_you"] is True
    assert item["current_step"]["role"] == "iam" and item["requester"] == "owner"
    assert api_as(security).get("/api/v1/approvals/?state=pending").json()["count"] == 0

    first = api_as(iam).post(f"/api/v1/intake-requests/{pk}/approve/", {"comment": "ok"}, format="json")
    assert first.status_code == 200, first.content
    assert first.json()["steps"][0]["decided_by"] == "iam"
    assert api_as(security).get("/api/v1/approvals/?state=pending").json()["count"] == 1
    # iam still sees it (decided by them) but it no longer waits for them.
    mine = api_as(iam).get("/api/v1/approvals/").json()["results"]
    assert [(r["subject_id"], r["awaiting_you"]) for r in mine] == [(pk, False)]

    final = (
        api_as(security).post(f"/api/v1/intake-requests/{pk}/approve/", {"comment": ""}, format="json").json()
    )
    assert final["state"] == "approved" and final["identity"]
    identity = client.get(f"/api/v1/intake-requests/{pk}/").json()["identity"]
    from inventory.models import Identity

    created_identity = Identity.objects.get(pk=identity)
    assert created_identity.status == "active" and created_identity.owner == owner


@pytest.mark.django_db
def test_api_bad_input_is_400_per_field_and_writes_nothing(owner, api_as):
    from approvals.models import IntakeRequest

    response = api_as(owner).post(
        "/api/v1/intake-requests/",
        {"name": "x", "kind": "toaster", "environments": ["moon"], "owner": "nobody", "autonomous": "maybe"},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert {"owner", "autonomous"} <= set(errors)
    response = api_as(owner).post(
        "/api/v1/intake-requests/", {"name": "x", "kind": "toaster", "environments": ["moon"]}, format="json"
    )
    assert response.status_code == 400 and {"kind", "environments"} <= set(response.json())
    assert not IntakeRequest.objects.exists()


@pytest.mark.django_db
def test_api_submit_incomplete_is_400_per_field(owner, api_as):
    pk = api_as(owner).post("/api/v1/intake-requests/", {"name": "half"}, format="json").json()["id"]
    response = api_as(owner).post(f"/api/v1/intake-requests/{pk}/submit/", {}, format="json")
    assert response.status_code == 400
    assert {"kind", "purpose", "grants", "environments"} <= set(response.json())


@pytest.mark.django_db
def test_api_send_back_edit_resubmit(owner, iam, team, api_as, make_intake):
    intake = make_intake(owner, "medium")
    url = f"/api/v1/intake-requests/{intake.pk}/"
    no_comment = api_as(iam).post(url + "request-changes/", {}, format="json")
    assert no_comment.status_code == 400 and "comment" in no_comment.json()
    sent_back = api_as(iam).post(url + "request-changes/", {"comment": "which repo?"}, format="json").json()
    assert sent_back["state"] == "changes_requested"
    patched = api_as(owner).patch(
        url, {"purpose": "Reviews pull requests in org/app only, nothing else."}, format="json"
    )
    assert patched.status_code == 200, patched.content
    again = api_as(owner).post(url + "submit/", {"comment": "narrowed"}, format="json").json()
    assert again["state"] == "submitted"
    rounds = sorted({s["round"] for s in again["steps"]})
    assert rounds == [1, 2]


@pytest.mark.django_db
def test_api_transition_conflicts_are_409(owner, iam, api_as, make_intake):
    intake = make_intake(owner, "medium")
    url = f"/api/v1/intake-requests/{intake.pk}/"
    assert api_as(iam).post(url + "reject/", {"comment": "no"}, format="json").status_code == 200
    assert api_as(iam).post(url + "approve/", {}, format="json").status_code == 409
    assert api_as(owner).post(url + "withdraw/", {}, format="json").status_code == 409
    assert api_as(owner).patch(url, {"purpose": "too late to change this"}, format="json").status_code == 409


@pytest.mark.django_db
def test_api_lists_what_each_role_may_see(owner, owner2, iam, auditor, api_as, make_intake):
    mine = make_intake(owner, "medium")
    theirs = make_intake(owner2, "medium")
    assert [r["id"] for r in api_as(owner).get("/api/v1/intake-requests/").json()["results"]] == [mine.pk]
    assert api_as(owner).get(f"/api/v1/intake-requests/{theirs.pk}/").status_code == 404
    assert api_as(iam).get("/api/v1/intake-requests/").json()["count"] == 2
    assert api_as(auditor).get("/api/v1/intake-requests/").json()["count"] == 2
    assert api_as(auditor).post("/api/v1/intake-requests/", {"name": "a"}, format="json").status_code == 403
    filtered = api_as(iam).get("/api/v1/intake-requests/?requester=owner2").json()["results"]
    assert [r["id"] for r in filtered] == [theirs.pk]
    assert api_as(auditor).get("/api/v1/approvals/?scope=all").json()["count"] == 2
    assert api_as(auditor).get("/api/v1/approvals/").json()["count"] == 0


@pytest.mark.django_db
def test_api_auto_approval_shows_system_policy(owner, api_as, make_intake):
    intake = make_intake(owner, "auto")
    body = api_as(owner).get(f"/api/v1/intake-requests/{intake.pk}/").json()
    assert body["state"] == "approved"
    assert body["steps"][0]["decided_by"] == "system:policy" and "auto_approve" in body["steps"][0]["rule"]


@pytest.mark.django_db
def test_api_token_acts_for_its_person(owner, iam, make_intake):
    from rest_framework.test import APIClient

    from inventory.tokens import issue_token

    intake = make_intake(owner, "medium")
    _, value = issue_token(iam, iam, scope="write")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
    response = client.post(f"/api/v1/intake-requests/{intake.pk}/approve/", {}, format="json")
    assert response.status_code == 200, response.content
    _, read_only = issue_token(iam, iam, scope="read")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {read_only}")
    assert client.post(f"/api/v1/intake-requests/{intake.pk}/withdraw/", {}, format="json").status_code == 403


def _queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)  # warm up per-user caches (roles) so both sizes are measured alike
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.json()["count"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/approvals/?state=pending", "/api/v1/intake-requests/"])
def test_api_lists_run_the_same_number_of_queries_for_few_and_many_rows(iam, make_intake, api_as, url):
    client = api_as(iam)
    for _ in range(2):
        make_intake(UserFactory(roles=["Tool owner"]), "high")
    few, few_rows = _queries(client, url)
    for _ in range(13):
        make_intake(UserFactory(roles=["Tool owner"]), "high")
    many, many_rows = _queries(client, url)
    assert (few_rows, many_rows) == (2, 15)
    assert few == many
