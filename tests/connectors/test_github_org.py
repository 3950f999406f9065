"""The github_org connector against a loopback GitHub (tests/connectors/github_server.py) whose every
request and answer is checked against GitHub's OpenAPI description (npm @octokit/openapi): discovery,
reconciliation, enforcement, pagination and secondary rate limits. The `github` fixture fails a test
whose exchanges drift from the description.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from connectors.models import Connector, ConnectorRun, Enforcement, SourceRecord
from governance.findings.models import Finding
from governance.models import AuditEvent
from inventory import services as inventory
from inventory.models import Credential, Grant, Identity
from tests.connectors.conftest import assert_a_second_sync_changes_nothing, enforcing, sync
from tests.connectors.github_server import STEWARD_INSTALLATION

pytestmark = pytest.mark.django_db

OIDC_WORKFLOW = """name: deploy
on: push
permissions:
  id-token: write   # for the cloud's OIDC trust
  contents: read
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps: [{uses: actions/checkout@v4}]
"""
PLAIN_WORKFLOW = "name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps: []\n"
THREE = ["payments", "ledger", "billing"]


def estate(github) -> dict[str, int]:
    """A PAT grant with contents: write on three repositories, an app, a write deploy key, a
    read-only one, a workflow asking for an OIDC token and a pending PAT request."""
    ids = {
        "pat": github.add_pat_grant(
            "release-assistant",
            "alice",
            {"contents": "write", "metadata": "read"},
            THREE,
            expires_at=timezone.now() + timedelta(days=60),
            last_used_at=timezone.now() - timedelta(days=2),
        ),
        "app": github.add_installation("code-review-bot", {"contents": "read", "pull_requests": "write"}),
        "write_key": github.add_deploy_key("web", "ci deploy", read_only=False),
        "read_key": github.add_deploy_key("docs", "mirror", read_only=True),
        "request": github.add_pat_request("triage-bot", "bob", {"issues": "write"}, ["web"]),
    }
    github.add_workflow("infra", ".github/workflows/deploy.yml", OIDC_WORKFLOW)
    github.add_workflow("web", ".github/workflows/ci.yml", PLAIN_WORKFLOW)
    return ids


def ext(identity_kind: str, rest) -> str:
    return f"github:{identity_kind}/{rest}"


def test_a_pat_grant_on_three_repos_an_app_installation_and_a_write_deploy_key_are_discovered(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks
):
    ids = estate(github)

    run = sync(api_as(iam), github_connector, django_capture_on_commit_callbacks)

    assert (run.state, run.errors, run.vanished) == ("succeeded", 0, 0), run.error_details
    found = set(Identity.objects.filter(source="gh-test").values_list("external_id", flat=True))
    assert found == {
        ext("installation", STEWARD_INSTALLATION),
        ext("installation", ids["app"]),
        ext("pat", ids["pat"]),
        ext("pat_request", ids["request"]),
        ext("deploy_key", f"acme/web/{ids['write_key']}"),
        ext("deploy_key", f"acme/docs/{ids['read_key']}"),
        "github:actions_oidc/acme/infra",
    }
    assert run.discovered == run.seen == 7
    pat = Identity.objects.get(external_id=ext("pat", ids["pat"]))
    assert (pat.status, pat.kind, pat.last_used_at is not None) == ("discovered", "api_key", True)
    record = SourceRecord.objects.get(identity=pat)
    assert sorted((e["resource_name"], tuple(e["actions"])) for e in record.entitlements) == [
        (f"acme/{repo}", ("read_code", "write_code")) for repo in sorted(THREE)
    ]
    assert record.details["repositories"] == sorted(f"acme/{r}" for r in THREE)
    (token,) = pat.credentials.all()
    assert token.kind == "pat" and token.expires_at is not None  # the token's expiry, from GitHub
    key = Identity.objects.get(external_id=ext("deploy_key", f"acme/web/{ids['write_key']}"))
    key_record = SourceRecord.objects.get(identity=key)
    assert key_record.entitlements[0]["actions"] == ["read_code", "write_code"]
    assert key_record.details["read_only"] is False
    (ssh,) = key.credentials.all()
    assert ssh.kind == "ssh_key" and ssh.label.startswith("SHA256:") and ssh.expires_at is None
    app = SourceRecord.objects.get(external_id=ext("installation", ids["app"]))
    assert app.details["app_slug"] == "code-review-bot" and app.details["repository_selection"] == "all"
    assert {tuple(e["actions"]) for e in app.entitlements} == {("open_pr", "read_code")}
    oidc = SourceRecord.objects.get(external_id="github:actions_oidc/acme/infra")
    assert oidc.details["workflows"] == [".github/workflows/deploy.yml"]
    assert oidc.details["suggested_trust_binding"] == {
        "issuer": "https://token.actions.githubusercontent.com",
        "claims": {"sub": "repo:acme/infra:ref:refs/heads/main"},
    }
    request = SourceRecord.objects.get(external_id=ext("pat_request", ids["request"]))
    assert request.entitlements == [] and request.details["permissions"]["repository"] == {"issues": "write"}
    # Listings were followed through their Link headers (two items a page).
    assert any(e["path"] == "/orgs/acme/repos" and e["query"].get("page") == ["3"] for e in github.exchanges)
    # A deploy key never expires: the existing rule says so.
    assert Finding.objects.filter(rule="credential_no_expiry", identity=key, status="open").exists()
    assert not Finding.objects.filter(rule="credential_no_expiry", identity=pat, status="open").exists()


def test_a_second_sync_changes_nothing(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks
):
    estate(github)
    assert_a_second_sync_changes_nothing(
        api_as(iam), github_connector, django_capture_on_commit_callbacks, seen=7
    )


def test_the_pats_write_permission_beyond_the_approved_grant_raises_unapproved_entitlement(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks
):
    pid = github.add_pat_grant("release-assistant", "alice", {"contents": "read"}, THREE)
    client = api_as(iam)
    sync(client, github_connector, django_capture_on_commit_callbacks)
    pat = Identity.objects.get(external_id=ext("pat", pid))
    for repo in THREE:  # approved: reading the code of the three repositories
        Grant.objects.create(
            identity=pat, resource_kind="repository", resource_name=f"acme/{repo}", actions=["read_code"]
        )
    sync(client, github_connector, django_capture_on_commit_callbacks)
    assert not Finding.objects.filter(rule="unapproved_entitlement", identity=pat, status="open").exists()
    # At GitHub, the token's owner asks for, and an org owner grants, contents: write.
    github.pat_grants[pid]["permissions"]["repository"]["contents"] = "write"

    run = sync(client, github_connector, django_capture_on_commit_callbacks)

    assert run.changed == 1
    finding = Finding.objects.get(rule="unapproved_entitlement", identity=pat, status="open")
    assert sorted((d["resource_name"], d["actions"]) for d in finding.evidence["difference"]) == [
        (f"acme/{repo}", ["write_code"]) for repo in sorted(THREE)
    ]
    assert "fine-grained PAT release-assistant of alice" in finding.evidence["summary"]
    # Approving the write too clears it at the next sweep.
    Grant.objects.filter(identity=pat).update(actions=["read_code", "write_code"])
    sync(client, github_connector, django_capture_on_commit_callbacks)
    assert not Finding.objects.filter(rule="unapproved_entitlement", identity=pat, status="open").exists()


def test_with_enforce_on_suspending_the_pat_revokes_the_grant_and_the_next_sync_confirms(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks
):
    pid = github.add_pat_grant("release-assistant", "alice", {"contents": "write"}, THREE)
    client = api_as(iam)
    assert (
        client.patch(
            f"/api/v1/connectors/{github_connector.pk}/", {"enforce": True}, format="json"
        ).status_code
        == 200
    )
    sync(client, github_connector, django_capture_on_commit_callbacks)
    pat = Identity.objects.get(external_id=ext("pat", pid))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/identities/{pat.pk}/suspend/", {"reason": "Token pasted in a chat"}, format="json"
        )
    assert response.status_code == 200, response.content

    assert pid not in github.pat_grants  # revoked at the source
    revoke = [e for e in github.exchanges if e["method"] == "POST" and e["path"].endswith(f"/{pid}")]
    assert [(e["body"], e["status"]) for e in revoke] == [(b'{"action":"revoke"}', 204)]
    pat.refresh_from_db()
    assert pat.remediation == "pending"
    enforcement = Enforcement.objects.get(identity=pat)
    assert (enforcement.state, enforcement.details["pat_grant_revoked"]) == ("applied", pid)

    run = sync(client, github_connector, django_capture_on_commit_callbacks)

    pat.refresh_from_db()
    assert run.state == "succeeded"
    assert pat.remediation == "confirmed" and pat.remediation_confirmed_at is not None
    event = AuditEvent.objects.get(verb="identity.remediation_confirmed", subject_id=str(pat.pk))
    assert event.actor == "system:connector:gh-test" and event.after["gone_from_source"] is True
    assert client.get(f"/api/v1/identities/{pat.pk}/").json()["remediation"] == "confirmed"


def test_every_request_and_answer_agrees_with_githubs_openapi_description(
    github, github_connector, github_description, iam, api_as, django_capture_on_commit_callbacks
):
    ids = estate(github)
    enforcing(github_connector)
    client = api_as(iam)
    sync(client, github_connector, django_capture_on_commit_callbacks)
    key = Identity.objects.get(external_id=ext("deploy_key", f"acme/web/{ids['write_key']}"))
    with django_capture_on_commit_callbacks(execute=True):
        inventory.decommission(iam, key, "The CI moved to OIDC")
    sync(client, github_connector, django_capture_on_commit_callbacks)

    checked = [e for e in github.exchanges if "status" in e]
    assert len(checked) >= 30
    assert {e["status"] for e in checked} >= {200, 201, 204}
    templates = {github_description.find(e["method"], e["path"])[0].template for e in checked}
    assert templates >= {
        "/orgs/{org}/installation",
        "/app/installations/{installation_id}/access_tokens",
        "/orgs/{org}/installations",
        "/orgs/{org}/personal-access-tokens",
        "/orgs/{org}/personal-access-tokens/{pat_id}/repositories",
        "/orgs/{org}/personal-access-token-requests",
        "/orgs/{org}/personal-access-token-requests/{pat_request_id}/repositories",
        "/orgs/{org}/repos",
        "/repos/{owner}/{repo}/keys",
        "/repos/{owner}/{repo}/keys/{key_id}",
        "/repos/{owner}/{repo}/actions/workflows",
        "/repos/{owner}/{repo}/contents/{path}",
    }
    assert github.problems() == []
    key.refresh_from_db()
    assert key.remediation == "confirmed" and ids["write_key"] not in github.deploy_keys["web"]


def test_a_fake_whose_answers_drift_from_the_description_is_caught(github, github_description):
    """The check is real: a deploy key without `read_only` (required by GitHub's schema) is named."""
    import json

    github.add_deploy_key("web", "ci", read_only=False)
    github.drift = True
    operation, problems = github_description.check_request("GET", "/repos/acme/web/keys", {}, b"")
    body = json.dumps([github.key_json("web", k, v) for k, v in github.deploy_keys["web"].items()])
    problems += github_description.check_response(
        operation, 200, {"Content-Type": "application/json"}, body.encode()
    )
    assert problems == ["GET /repos/{owner}/{repo}/keys → 200: 0: 'read_only' is a required property"]
    _, bad = github_description.check_request("GET", "/orgs/acme/repos", {"sort": ["size"]}, b"")
    assert bad and "sort" in bad[0]
    _, unknown = github_description.check_request("GET", "/orgs/acme/secret-things", {}, b"")
    assert unknown == ["GET /orgs/acme/secret-things: no such operation in GitHub's description"]
    github.drift = False


def test_a_secondary_rate_limit_is_waited_out(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks
):
    github.add_pat_grant("release-assistant", "alice", {"contents": "write"}, THREE)
    github.throttle["/orgs/acme/personal-access-tokens"] = 1

    run = sync(api_as(iam), github_connector, django_capture_on_commit_callbacks)

    assert (run.state, run.errors) == ("succeeded", 0), run.error_details
    limited = [e for e in github.exchanges if e.get("status") == 403]
    assert len(limited) == 1 and limited[0]["response_headers"]["retry-after"] == "1"
    assert b"secondary rate limit" in limited[0]["response"]
    assert Identity.objects.filter(source="gh-test", external_id__startswith="github:pat/").count() == 1


def test_a_rate_limit_that_outlasts_the_retries_fails_the_run_with_the_reason(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks
):
    github_connector.config = {**github_connector.config, "retries": 1}
    github_connector.save()
    github.throttle["/orgs/acme/personal-access-token-requests"] = 5

    run = sync(api_as(iam), github_connector, django_capture_on_commit_callbacks)

    assert run.state == "failed"
    assert "orgs/list-pat-grant-requests: HTTP 403" in run.error_details[-1]["error"]
    github_connector.refresh_from_db()
    assert github_connector.failing


def test_another_apps_installation_cannot_be_suspended_and_says_how(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks
):
    iid = github.add_installation("code-review-bot", {"contents": "write"})
    enforcing(github_connector)
    sync(api_as(iam), github_connector, django_capture_on_commit_callbacks)
    app = Identity.objects.get(external_id=ext("installation", iid))

    with django_capture_on_commit_callbacks(execute=True):
        inventory.suspend(iam, app, "Unreviewed app")

    app.refresh_from_db()
    assert app.remediation == "failed"
    assert "suspend" in app.remediation_error and "code-review-bot" in app.remediation_error
    assert github.installations[iid]["suspended_at"] is None


def test_a_second_sync_costs_the_same_queries_for_few_and_many_tokens(github, github_connector):
    from connectors.services import start_run
    from governance.actors import system

    github_connector.config = {**github_connector.config, "per_page": 100}
    github_connector.save()

    def second_sync_queries(count: int) -> int:
        github.reset()
        SourceRecord.objects.all().delete()
        Identity.objects.filter(source="gh-test").delete()
        for n in range(count):
            github.add_pat_grant(f"token-{n}", f"user{n}", {"contents": "read"}, None)
        start_run(system("test"), github_connector, enqueue=False)
        from connectors.sync import execute_run

        execute_run(ConnectorRun.objects.filter(connector=github_connector).latest("pk").pk)
        run = start_run(system("test"), github_connector, enqueue=False)
        with CaptureQueriesContext(connection) as queries:
            execute_run(run.pk)
        run.refresh_from_db()
        assert (run.state, run.seen, run.changed) == ("succeeded", count + 1, 0), run.error_details
        return len(queries)

    few, many = second_sync_queries(3), second_sync_queries(40)
    assert few == many, (few, many)


def test_without_the_apps_credentials_the_run_fails_naming_the_variables(
    github, github_connector, iam, api_as, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.delenv("STEWARD_GITHUB_APP_PRIVATE_KEY_PATH")

    run = sync(api_as(iam), github_connector, django_capture_on_commit_callbacks)

    assert run.state == "failed"
    assert "STEWARD_GITHUB_APP_PRIVATE_KEY_PATH" in run.error_details[-1]["error"]
    assert Finding.objects.filter(rule="connector_failing", identity=github_connector.identity).exists()


@pytest.mark.parametrize(
    ("config", "field", "message"),
    [
        ({}, "org", "org: Required for github_org"),
        ({"org": "acme", "base_url": "https://github.evil.example.com"}, "base_url", "ALLOWLIST"),
        ({"org": "acme", "private_key": "x"}, "private_key", "Secrets never go"),
        ({"org": "not an org!"}, "org", "organisation's login"),
        ({"org": "acme", "per_page": 500}, "per_page", "Between 1 and 100"),
        ({"org": "acme", "scan_workflows": "yes"}, "scan_workflows", "true or false"),
    ],
)
def test_bad_configuration_is_a_400_naming_the_setting(config, field, message, iam, api_as, settings):
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = []

    response = api_as(iam).post(
        "/api/v1/connectors/", {"name": "gh-prod", "kind": "github_org", "config": config}, format="json"
    )

    assert response.status_code == 400, response.content
    (error,) = response.json()["config"]
    assert error.startswith(f"{field}: ") and message in error
    assert not Connector.objects.exists()


def test_a_dry_run_writes_nothing(github, github_connector, iam, api_as, django_capture_on_commit_callbacks):
    estate(github)
    before = (Identity.objects.count(), SourceRecord.objects.count(), Credential.objects.count())

    run = sync(api_as(iam), github_connector, django_capture_on_commit_callbacks, dry_run=True)

    assert (run.state, run.discovered) == ("succeeded", 7), run.error_details
    assert (Identity.objects.count(), SourceRecord.objects.count(), Credential.objects.count()) == before


def test_the_connector_form_offers_github_and_registers_one(client, iam, settings):
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = ["github.internal.example.com"]
    client.force_login(iam)
    page = client.get("/connectors/").content.decode()
    assert '<option value="github_org"' in page and 'name="config_org"' in page
    assert 'name="config_region"' in page  # aws_iam's settings stay beside it

    bad = client.post("/connectors/", {"name": "gh-prod", "kind": "github_org", "config_org": ""})
    assert bad.status_code == 400 and "org: Required for github_org" in bad.content.decode()

    response = client.post(
        "/connectors/",
        {
            "name": "gh-prod",
            "kind": "github_org",
            "schedule": "daily",
            "config_org": "acme",
            "config_base_url": "https://github.internal.example.com/api/v3",
            "config_scan_workflows": "false",
            "config_region": "eu-west-1",  # another kind's setting: ignored
        },
    )

    connector = Connector.objects.get(name="gh-prod")
    assert response.status_code == 302
    assert connector.config == {
        "org": "acme",
        "base_url": "https://github.internal.example.com/api/v3",
        "scan_workflows": False,
    }
    detail = client.get(connector.get_absolute_url()).content.decode()
    assert "Personal access tokens read" in detail  # the least permissions the app needs


@pytest.mark.parametrize(
    ("permissions", "repository", "organization"),
    [
        ({"contents": "write", "metadata": "read"}, {"read_code", "write_code"}, set()),
        ({"pull_requests": "write", "issues": "read"}, {"open_pr", "read_tickets"}, set()),
        ({"secrets": "read", "workflows": "write"}, {"read_secrets", "write_code", "run_ci"}, set()),
        ({"administration": "write", "organization_secrets": "read"}, {"admin"}, {"read_secrets"}),
        ({"members": "write", "code_scanning_alerts": "read"}, {"read_data"}, {"admin"}),
    ],
)
def test_github_permissions_become_the_grants_words(permissions, repository, organization):
    from connectors.kinds.github_org import split_app_permissions, summarise

    repo_part, org_part = split_app_permissions(permissions)

    assert summarise(repo_part) == repository
    assert summarise(org_part, organization=True) == organization
