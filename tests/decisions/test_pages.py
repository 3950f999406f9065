"""The pages: decisions log, policy page (read, try, edit), JIT request pages, the public JWKS."""

import pytest
from django.test import Client

from governance.decisions import jit, services
from governance.policy import cedar
from governance.policy.models import CedarPolicySet, PolicyTestCase, PolicyVersion
from governance.policy.services import current_policy
from tests.decisions.conftest import question
from tests.factories import GrantFactory, IdentityFactory, request_merge_access

pytestmark = pytest.mark.django_db


def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("who, status", [("iam", 200), ("security", 200), ("auditor", 200), ("owner", 403)])
def test_decisions_log_is_for_iam_security_and_auditors(role_users, who, status):
    assert browser(role_users[who]).get("/decisions/").status_code == status


def test_decisions_log_filters_and_shows_reasons(agent, owner, auditor):
    services.decide(
        owner, services.parse([question(agent), question(agent, action="merge", environment="prod")])[0]
    )
    page = browser(auditor).get("/decisions/", {"decision": "step_up"})
    html = page.content.decode()
    assert "prod_privileged_needs_jit" in html and "badge-decision-step_up" in html
    assert "in_scope:" not in html
    fragment = browser(auditor).get("/decisions/", {"environment": "dev"}, HTTP_HX_REQUEST="true")
    assert fragment.content.decode().lstrip().startswith('<div id="results"')


def test_decisions_log_runs_a_fixed_number_of_queries(owner, auditor, django_assert_max_num_queries):
    identities = [IdentityFactory(owner=owner) for _ in range(30)]
    for identity in identities:
        GrantFactory(identity=identity, resource_name="org/*", actions=["read_code"])
    asks = services.parse([question(i, name="org/x") for i in identities])[0]
    services.decide(owner, asks[:2], is_batch=True)
    client = browser(auditor)
    client.get("/decisions/")
    with django_assert_max_num_queries(8) as few:
        client.get("/decisions/")
    services.decide(owner, asks, is_batch=True)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get("/decisions/")


@pytest.mark.parametrize("who, status", [("iam", 200), ("security", 200), ("auditor", 200), ("owner", 403)])
def test_policy_page_is_readable_by_iam_security_and_auditors(role_users, who, status):
    response = browser(role_users[who]).get("/policy/")
    assert response.status_code == status
    if status == 200:
        assert "prod_privileged_needs_jit" in response.content.decode()


def test_only_security_sees_the_editors(security, auditor):
    assert "Edit policies (new version)" in browser(security).get("/policy/").content.decode()
    html = browser(auditor).get("/policy/").content.decode()
    assert "Edit policies (new version)" not in html and 'data-testid="document-json"' in html


@pytest.mark.parametrize(
    "path, data",
    [
        ("/policy/versions/new/", {"text": "x", "schema": "y", "note": "z"}),
        ("/policy/versions/1/activate/", {}),
        ("/policy/versions/1/activation/approve/", {}),
        ("/policy/test-cases/", {"name": "n", "request": "{}", "expected": "allow"}),
        ("/policy/document/", {"document": "{}", "note": "n"}),
        ("/policy/document/1/approve/", {"comment": "n"}),
    ],
)
def test_an_auditor_cannot_change_policies(auditor, path, data):
    before = (CedarPolicySet.objects.count(), PolicyTestCase.objects.count(), PolicyVersion.objects.count())
    assert browser(auditor).post(path, data).status_code == 403
    assert (
        CedarPolicySet.objects.count(),
        PolicyTestCase.objects.count(),
        PolicyVersion.objects.count(),
    ) == before


def test_an_auditor_cannot_change_policies_through_the_api_either(auditor, api_as):
    assert api_as(auditor).post("/api/v1/access-requests/", {}, format="json").status_code in (400, 403)
    assert api_as(auditor).post("/api/v1/decisions/", {}, format="json").status_code in (400, 403)


def test_try_a_request_answers_without_recording(agent, iam):
    response = browser(iam).post(
        "/policy/try/",
        {
            "identity": agent.pk,
            "action": "merge",
            "environment": "prod",
            "resource_kind": "repository",
            "resource_name": "platform/api",
        },
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200 and 'data-testid="try-decision">step_up<' in html
    assert "dry run, not recorded" in html
    assert not agent.decisions.exists()


def test_try_a_request_reports_bad_input(iam):
    response = browser(iam).post("/policy/try/", {"identity": "", "action": "merge"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 400 and "Check the request" in response.content.decode()


def test_security_saves_a_failing_version_and_activation_shows_the_failing_cases(security):
    client = browser(security)
    text = cedar.default_policy_text().replace('Steward::Action::"deploy", ', "")
    saved = client.post(
        "/policy/versions/new/",
        {"text": text, "schema": cedar.default_schema_text(), "note": "t", "based_on": "1"},
    )
    assert saved.status_code == 302 and saved["Location"] == "/policy/versions/2/"
    refused = client.post("/policy/versions/2/activate/")
    html = refused.content.decode()
    assert refused.status_code == 400 and "was not activated" in html
    assert "deploy in prod with a standing grant steps up" in html
    assert CedarPolicySet.objects.get(is_active=True).version == 1
    diff = client.get("/policy/versions/2/diff/").content.decode()
    assert 'class="diff-del"' in diff and 'class="diff-add"' in diff


def test_the_editor_refuses_a_version_without_a_note(security):
    response = browser(security).post(
        "/policy/versions/new/", {"text": "permit(principal, action, resource);", "schema": "x", "note": ""}
    )
    assert response.status_code == 400 and CedarPolicySet.objects.count() == 1


def test_security_proposes_the_governance_document_and_iam_puts_it_in_force(security, iam):
    doc = {
        "tiers": {
            t: {
                "steps": ["iam"],
                "review_days": 90,
                "rotation_days": 90,
                "stale_days": 30,
                "exception_max_days": 30,
            }
            for t in ("low", "medium", "high", "critical")
        }
    }
    import json

    response = browser(security).post("/policy/document/", {"document": json.dumps(doc), "note": "tighter"})
    proposal = PolicyVersion.objects.get(state="proposed")
    assert response.status_code == 302 and response["Location"] == f"/policy/document/{proposal.version}/"
    assert current_policy().document["tiers"]["low"]["review_days"] == 365  # not yet
    page = browser(iam).get("/policy/").content.decode()
    assert 'data-testid="policy-proposals"' in page and "tiers.low.review_days" in page
    approved = browser(iam).post(f"/policy/document/{proposal.version}/approve/", {"comment": "ok"})
    assert approved.status_code == 302
    assert PolicyVersion.objects.get(state="active").document["tiers"]["low"]["review_days"] == 90


def test_an_approver_decides_a_jit_request_on_its_page(agent, owner, iam):
    ar = request_merge_access(owner, agent, duration_minutes=15, reason="hotfix")
    page = browser(iam).get(f"/access-requests/{ar.pk}/").content.decode()
    assert 'data-testid="decide-form"' in page and 'data-testid="ar-deadline"' in page
    assert (
        'data-testid="decide-form"' not in browser(owner).get(f"/access-requests/{ar.pk}/").content.decode()
    )
    response = browser(iam).post(f"/access-requests/{ar.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 302
    ar.refresh_from_db()
    assert ar.state == "approved"
    assert browser(iam).post(f"/access-requests/{ar.pk}/decide/", {"decision": "approve"}).status_code == 409
    assert "End access now" in browser(owner).get(f"/access-requests/{ar.pk}/").content.decode()
    browser(owner).post(f"/access-requests/{ar.pk}/end/", {"reason": "done"})
    ar.refresh_from_db()
    assert ar.state == "ended"
    assert browser(IdentityFactory().owner).get(f"/access-requests/{ar.pk}/").status_code == 404


def test_jwks_is_public():
    response = Client().get("/.well-known/jwks.json")
    assert response.status_code == 200
    key = response.json()["keys"][0]
    assert key["kty"] == "EC" and key["alg"] == "ES256" and "d" not in key


@pytest.mark.parametrize("who, status", [("security", 202), ("iam", 403), ("auditor", 403)])
def test_the_policy_api_is_read_by_governors_and_auditors_and_changed_by_security(
    role_users, api_as, who, status
):
    client = api_as(role_users[who])
    current = client.get("/api/v1/policy/")
    assert current.status_code == 200 and "tiers" in current.json()["document"]
    document = {**current.json()["document"], "jit": {"deadline_minutes": 30, "steps": ["iam"]}}
    response = client.put(
        "/api/v1/policy/", {"document": document, "note": "shorter JIT deadline"}, format="json"
    )
    assert response.status_code == status
    if status == 202:
        version = response.json()["version"]
        assert response.json()["state"] == "proposed" and jit.jit_settings()["deadline_minutes"] == 60
        approved = api_as(role_users["iam"]).post(f"/api/v1/policy/versions/{version}/approve/")
        assert approved.status_code == 200 and approved.json()["state"] == "active"
        assert jit.jit_settings()["deadline_minutes"] == 30


def test_the_policy_api_refuses_bad_jit_settings(security, api_as):
    document = {**api_as(security).get("/api/v1/policy/").json()["document"], "jit": {"deadline_minutes": 0}}
    response = api_as(security).put("/api/v1/policy/", {"document": document}, format="json")
    assert response.status_code == 400 and "jit" in response.json()
