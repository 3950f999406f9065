"""The endpoint_scan connector: what tools/steward-scan finds on a laptop, posted with a report token,
becomes discovered identities (one per extension or MCP server across every endpoint, installations
counted), owner proposals to the reporting person, and findings; a report is checked whole, bounded,
and idempotent per host and day.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from connectors.models import Connector, ConnectorRun, SourceRecord
from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from governance.models import AuditEvent
from governance.people.models import Role
from inventory import ownership
from inventory.models import Identity, OwnershipTransfer
from inventory.tokens import issue_token
from tests.conftest import bearer
from tests.connectors.test_steward_scan import LEAK_MARK, home, scan  # noqa: F401 - `home` is a fixture
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXPECTED_IDS = {
    "ide_plugin:github.copilot",
    "ide_plugin:ms-python.python",
    "ide_plugin:shadyai.autocoder",
    "ide_plugin:anysphere.cursorpyright",
    "ide_plugin:com.intellij.ml.llm",
    "ide_plugin:com.github.copilot",
    "mcp_server:filesystem:npx",
    "mcp_server:github:docker",
    "mcp_server:linear:https://mcp.linear.app/sse",
    "mcp_server:postgres:npx",
    "mcp_server:my-weather:http://localhost:3001/sse",
    "mcp_server:Perplexity:npx",
    "mcp_server:fetch:https://api.githubcopilot.com/mcp/",
}


@pytest.fixture
def alice(db, team):
    return UserFactory(username="alice", roles=[Role.OWNER], team=team)


@pytest.fixture
def endpoints(iam, api_as) -> Connector:
    response = api_as(iam).post(
        "/api/v1/connectors/", {"name": "laptops", "kind": "endpoint_scan"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["schedule"] == "manual"
    return Connector.objects.get(name="laptops")


@pytest.fixture
def reporter(iam) -> APIClient:
    """The endpoint-management tool: a service user without a role, holding a report token from IAM."""
    machine = UserFactory(username="endpoint-mgmt", roles=[])
    _, value = issue_token(iam, machine, scope="report", name="endpoint management")
    return bearer(value)


@pytest.fixture
def report(home) -> dict:  # noqa: F811 - the scanner test's fixture home
    """What the scanner prints for the fixture home, as alice on her laptop."""
    result = scan("--home", str(home), "--dry-run")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    data.update(host="alice-laptop.example.com", user="alice")
    return data


def post(client, connector, body, capture=None):
    url = f"/api/v1/connectors/{connector.pk}/reports/"
    if capture is None:
        return client.post(url, body, format="json")
    with capture(execute=True):
        return client.post(url, body, format="json")


def state() -> dict:
    """Everything a report may write, to show that a repeat writes nothing."""
    return {
        "identities": sorted(Identity.objects.values_list("pk", "version", "owner_id", "vanished")),
        "records": sorted(SourceRecord.objects.values_list("external_id", "fingerprint", "gone_at")),
        "transfers": OwnershipTransfer.objects.count(),
        "runs": ConnectorRun.objects.count(),
        "audit": AuditEvent.objects.count(),
        "findings": sorted(Finding.objects.values_list("pk", "status")),
    }


def test_posting_the_scanners_report_makes_identities_owner_proposals_and_findings(
    endpoints, reporter, report, alice, django_capture_on_commit_callbacks
):
    response = post(reporter, endpoints, report, django_capture_on_commit_callbacks)

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["discovered"], body["changed"], body["unchanged"], body["proposed"]) == (13, 0, 0, 13)
    assert body["person"] == "alice" and body["host"] == "alice-laptop.example.com"
    found = Identity.objects.filter(source="laptops")
    assert set(found.values_list("external_id", flat=True)) == EXPECTED_IDS
    assert set(found.values_list("status", flat=True)) == {Identity.Status.DISCOVERED}
    copilot = found.get(external_id="ide_plugin:github.copilot")
    assert (copilot.kind, copilot.vendor, copilot.owner_id) == ("ai_assistant", "GitHub", None)
    assert found.get(external_id="ide_plugin:ms-python.python").kind == "ide_plugin"
    assert found.get(external_id="mcp_server:github:docker").kind == "mcp_server"
    # VS Code and Cursor on one laptop: one identity, one installation, both IDEs and versions kept.
    record = SourceRecord.objects.get(external_id="ide_plugin:github.copilot")
    assert record.details["installations"] == 1
    sighting = record.details["hosts"]["alice-laptop.example.com"]
    assert (sighting["ides"], sighting["versions"], sighting["user"]) == (
        ["cursor", "vscode"],
        ["1.249.0", "1.250.0"],
        "alice",
    )
    # Proposed to the reporting person, who accepts (or declines) as with any transfer.
    transfers = OwnershipTransfer.objects.filter(to_owner=alice, state="proposed")
    assert transfers.count() == 13
    ownership.accept_transfer(alice, transfers.get(identity=copilot))
    copilot.refresh_from_db()
    assert copilot.owner == alice
    # Findings: the unapproved publisher, and MCP servers given secret-looking variables.
    open_findings = Finding.objects.unresolved()
    vendor = {f.identity.external_id for f in open_findings.filter(rule="unapproved_vendor")}
    assert "ide_plugin:shadyai.autocoder" in vendor and "ide_plugin:github.copilot" not in vendor
    secrets = {
        f.identity.external_id: f.evidence["env_names"]
        for f in open_findings.filter(rule="static_secret_in_mcp_config")
    }
    assert secrets == {
        "mcp_server:github:docker": ["GITHUB_PERSONAL_ACCESS_TOKEN"],
        "mcp_server:postgres:npx": ["DATABASE_PASSWORD"],
        "mcp_server:Perplexity:npx": ["PERPLEXITY_API_KEY"],
    }
    assert open_findings.get(rule="static_secret_in_mcp_config", identity__name__contains="github").evidence[
        "hosts"
    ] == ["alice-laptop.example.com"]
    # The run shows on the connector; the audit names the token; no value was ever stored.
    run = ConnectorRun.objects.get(connector=endpoints)
    assert (run.trigger, run.state, run.discovered) == ("report", "succeeded", 13)
    event = AuditEvent.objects.get(verb="connector.report_received")
    assert event.actor.startswith("token:")
    stored = json.dumps(list(SourceRecord.objects.values("details"))) + json.dumps(
        list(AuditEvent.objects.values("before", "after", "reason"))
    )
    assert LEAK_MARK not in stored


def test_the_same_report_twice_changes_nothing(endpoints, reporter, report, alice):
    first = post(reporter, endpoints, report)
    assert first.status_code == 200
    run_sweep()
    before = state()

    second = post(reporter, endpoints, report)

    assert second.status_code == 200, second.content
    body = second.json()
    assert (body["discovered"], body["changed"], body["unchanged"], body["proposed"], body["run"]) == (
        0,
        0,
        13,
        0,
        None,
    )
    assert state() == before
    # A declined proposal is not asked again by the next report either.
    transfer = OwnershipTransfer.objects.filter(to_owner=alice).first()
    ownership.decline_transfer(alice, transfer)
    third = post(reporter, endpoints, report)
    assert third.json()["proposed"] == 0
    assert not OwnershipTransfer.objects.filter(identity=transfer.identity, state="proposed").exists()


def test_the_same_extension_on_many_endpoints_is_one_identity_with_installations_counted(
    endpoints, reporter, report, alice
):
    bob = UserFactory(username="bob", roles=[Role.OWNER])
    post(reporter, endpoints, report)
    other = {**report, "host": "bob-desktop", "user": "bob", "mcp_servers": []}

    response = post(reporter, endpoints, other)

    assert response.status_code == 200
    assert response.json()["discovered"] == 0 and response.json()["changed"] == 6
    assert Identity.objects.filter(source="laptops", external_id="ide_plugin:github.copilot").count() == 1
    record = SourceRecord.objects.get(external_id="ide_plugin:github.copilot")
    assert record.details["installations"] == 2
    assert sorted(record.details["hosts"]) == ["alice-laptop.example.com", "bob-desktop"]
    # alice's proposal is still open: bob is not asked as well.
    assert not OwnershipTransfer.objects.filter(to_owner=bob).exists()


def test_a_later_report_replaces_the_hosts_sightings_and_an_older_one_is_ignored(
    endpoints, reporter, report, alice
):
    post(reporter, endpoints, report)
    scanned = timezone.now().replace(microsecond=0)
    later = {
        **report,
        "scanned_at": scanned.isoformat(),
        "extensions": [e for e in report["extensions"] if e["id"] != "shadyai.autocoder"],
    }
    response = post(reporter, endpoints, later)
    assert response.json()["removed"] == 1
    shady = Identity.objects.get(external_id="ide_plugin:shadyai.autocoder")
    assert shady.vanished  # on no endpoint any more: flagged until IAM confirms
    assert SourceRecord.objects.get(identity=shady).gone_at is not None

    older = {**report, "scanned_at": (scanned - timedelta(days=3)).isoformat()}
    before = state()
    response = post(reporter, endpoints, older)
    assert response.json()["stale"] == 13 and response.json()["run"] is None
    assert state() == before

    again = {
        **later,
        "extensions": report["extensions"],
        "scanned_at": (scanned + timedelta(minutes=1)).isoformat(),
    }
    post(reporter, endpoints, again)
    shady.refresh_from_db()
    assert not shady.vanished


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        (lambda r: r.pop("host"), "host", "host name"),
        (lambda r: r.update(scanned_at="yesterday"), "scanned_at", "ISO 8601"),
        (lambda r: r.update(extensions={"id": "x"}), "extensions", "A list"),
        (lambda r: r["extensions"][1].pop("id"), "extensions", "extensions[1].id"),
        (lambda r: r["mcp_servers"][1].update(env={"GITHUB_TOKEN": "value"}), "mcp_servers", "names only"),
        (lambda r: r["mcp_servers"][0].update(transport="carrier-pigeon"), "mcp_servers", "transport"),
        (lambda r: r["mcp_servers"][2].update(url="https://x.example/sse?token=abc"), "mcp_servers", "query"),
        (lambda r: r["mcp_servers"][0].update(url="https://x.example/"), "mcp_servers", "not both"),
        (lambda r: r.update(extra=1), "extra", "Unknown field"),
    ],
)
def test_a_malformed_report_is_a_400_naming_the_problem_and_writes_nothing(
    endpoints, reporter, report, change, field, words
):
    change(report)
    before = state()

    response = post(reporter, endpoints, report)

    assert response.status_code == 400, response.content
    assert words in " ".join(response.json()[field])
    assert state() == before


def test_an_oversized_report_is_a_400(endpoints, reporter, report):
    many = {**report, "extensions": [{"id": f"pub.ext{i}", "ide": "vscode"} for i in range(2001)]}
    response = post(reporter, endpoints, many)
    assert response.status_code == 400
    assert "2,000" in response.json()["report"][0]

    server = {"name": "n", "transport": "stdio", "command": "npx", "env": ["A" * 100] * 100}
    huge = {**report, "extensions": [], "mcp_servers": [server] * 120}
    response = post(reporter, endpoints, huge)
    assert response.status_code == 400
    assert "larger than 1024 KiB" in response.json()["report"][0]
    assert not Identity.objects.filter(source="laptops").exists()


def test_who_may_post_reports(endpoints, report, api_as, owner, auditor, security, iam, alice):
    url = f"/api/v1/connectors/{endpoints.pk}/reports/"
    assert APIClient().post(url, report, format="json").status_code == 401
    assert api_as(owner).post(url, report, format="json").status_code == 403
    assert api_as(auditor).post(url, report, format="json").status_code == 403
    _, read_value = issue_token("system:test", iam, scope="read")
    reader = APIClient()
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {read_value}")
    assert reader.post(url, report, format="json").status_code == 403
    assert api_as(security).post(url, report, format="json").status_code == 200


def test_a_report_token_does_nothing_else_and_endpoint_scan_is_not_synced(
    endpoints, reporter, report, iam, api_as
):
    assert reporter.get("/api/v1/connectors/").status_code == 403
    assert reporter.post(f"/api/v1/connectors/{endpoints.pk}/sync/").status_code == 403
    response = api_as(iam).post(f"/api/v1/connectors/{endpoints.pk}/sync/")
    assert response.status_code == 409
    assert "reports" in response.json()["detail"]
    response = api_as(iam).patch(
        f"/api/v1/connectors/{endpoints.pk}/", {"schedule": "daily", "enforce": True}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) >= {"schedule", "enforce"}


def test_reports_go_to_endpoint_scan_connectors_only(iam, api_as, reporter, report, settings):
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = []
    other = Connector.objects.create(name="aws-x", kind="aws_iam", schedule="manual")
    response = post(reporter, other, report)
    assert response.status_code == 400
    assert "endpoint_scan" in response.json()["connector"][0]


def test_iam_registers_an_endpoint_scan_connector_on_the_page_and_sees_how_endpoints_post(client, iam):
    client.force_login(iam)
    response = client.post("/connectors/", {"name": "laptops", "kind": "endpoint_scan", "schedule": "daily"})

    connector = Connector.objects.get(name="laptops")
    assert response.status_code == 302
    assert (connector.schedule, connector.enforce) == ("manual", False)  # never synced, never acts
    page = client.get(connector.get_absolute_url()).content.decode()
    assert 'data-testid="endpoint-reports"' in page
    assert f"/api/v1/connectors/{connector.pk}/reports/" in page and "steward-scan --dry-run" in page
    assert "Sync now" not in page


def test_a_repeated_report_costs_the_same_queries_whatever_its_size(endpoints, reporter, report, alice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def repeat_cost(body) -> int:
        assert post(reporter, endpoints, body).status_code == 200
        with CaptureQueriesContext(connection) as queries:
            assert (
                post(reporter, endpoints, body).json()["unchanged"]
                == len(body["extensions"]) + len(body["mcp_servers"]) - 1
            )  # github.copilot is in two IDEs: one identity
        return len(queries)

    small = repeat_cost(report)
    big = {
        **report,
        "host": "build-agent-7",
        "extensions": report["extensions"] + [{"id": f"pub.ext{i}", "ide": "vscode"} for i in range(60)],
    }
    assert repeat_cost(big) == small
