"""Connector runs: retries through a faulty network, a failing connector, resumption, one run at a
time, roles, configuration without secrets, fixed query counts, and a just-in-time grant's end."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from connectors import jobs
from connectors.kinds import aws_iam
from connectors.models import Connector, ConnectorRun, Enforcement
from connectors.services import create_connector, start_run
from connectors.sync import _reconcile_page, execute_run
from governance.findings.models import Finding
from inventory.expiry import expire_grants
from inventory.models import Grant, Identity
from tests.connectors.conftest import enforcing
from tests.connectors.fault_proxy import fault_proxy
from tests.connectors.moto_support import ACCOUNT

pytestmark = pytest.mark.django_db
ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"


def make_connector(iam, url: str, name: str = "aws-proxied", **config) -> Connector:
    return create_connector(
        iam,
        {"name": name, "kind": "aws_iam", "config": {"endpoint_url": url, **config}, "schedule": "manual"},
    )


def run_now(iam, connector: Connector) -> ConnectorRun:
    return execute_run(start_run(iam, connector, enqueue=False).pk)


def test_botocore_standard_retries_carry_a_run_through_throttling_and_503s(aws, moto_url, iam):
    aws.create_user(UserName="ci-bot")
    aws.create_access_key(UserName="ci-bot")
    with fault_proxy(moto_url, fail_first=3) as proxy:
        connector = make_connector(iam, proxy.url)

        run = run_now(iam, connector)

    assert (run.state, run.discovered, run.errors) == ("succeeded", 1, 0)
    assert proxy.faults == 3  # 503, Throttling, 503: each retried by botocore, none reached the run
    assert proxy.forwarded > 3
    assert Identity.objects.filter(source=connector.name, external_id__endswith=":user/ci-bot").exists()


def test_a_failing_connector_raises_connector_failing_until_a_run_succeeds(aws, moto_url, iam):
    aws.create_user(UserName="ci-bot")
    with fault_proxy(moto_url) as proxy:
        proxy.fail_all = True
        connector = make_connector(iam, proxy.url, max_attempts=2)

        failed = run_now(iam, connector)

        assert (failed.state, failed.errors) == ("failed", 1)
        error = failed.error_details[-1]["error"]
        assert "Throttling" in error or "ServiceUnavailable" in error
        connector.refresh_from_db()
        assert connector.failing and connector.failing_since is not None
        finding = Finding.objects.get(rule="connector_failing", status="open")
        assert finding.identity_id == connector.identity_id  # the connector's own identity
        assert not Identity.objects.filter(source=connector.name).exists()  # nothing half-reconciled vanished

        proxy.fail_all = False
        assert run_now(iam, connector).state == "succeeded"

    connector.refresh_from_db()
    assert not connector.failing
    finding.refresh_from_db()
    assert finding.status == "resolved"


def test_a_run_whose_worker_died_resumes_where_it_stopped(
    aws, moto_url, iam, django_capture_on_commit_callbacks
):
    for n in range(3):
        aws.create_role(RoleName=f"batch-{n}", AssumeRolePolicyDocument="{}")
    connector = make_connector(iam, moto_url, name="aws-resume", page_size=1)
    run = start_run(iam, connector, enqueue=False)
    # A worker reconciles the first page (one role), then dies: its lease lapses.
    first = next(aws_iam.AwsIam(connector).discover({}))
    _reconcile_page(run, connector, first)
    ConnectorRun.objects.filter(pk=run.pk).update(
        lease_until=timezone.now() - timedelta(minutes=1), started_at=timezone.now() - timedelta(minutes=30)
    )
    run.refresh_from_db()
    assert (run.cursor["phase"], run.cursor["done"], run.seen) == ("roles", 1, 1)
    assert run.cursor["marker"]

    with django_capture_on_commit_callbacks(execute=True):
        summary = jobs.recover(timezone.now())

    assert summary["runs_requeued"] == 1
    run.refresh_from_db()
    assert (run.state, run.seen, run.discovered, run.attempts) == ("succeeded", 3, 3, 1)
    assert Identity.objects.filter(source="aws-resume").count() == 3
    assert run.vanished == 0  # the first page, seen by the dead worker, counts as seen


def test_one_run_per_connector_at_a_time(aws, connector, iam, security, api_as):
    first = api_as(iam).post(f"/api/v1/connectors/{connector.pk}/sync/")
    second = api_as(security).post(f"/api/v1/connectors/{connector.pk}/sync/?dry_run=1")

    assert first.status_code == 202
    assert second.status_code == 409 and "already running" in second.json()["detail"]
    assert ConnectorRun.objects.filter(connector=connector).count() == 1


def test_a_duplicated_run_message_does_nothing(aws, connector, iam):
    aws.create_user(UserName="ci-bot")
    run = start_run(iam, connector, enqueue=False)
    assert execute_run(run.pk).state == "succeeded"
    assert execute_run(run.pk) is None  # already finished: a redelivered message finds nothing to do


def test_who_may_register_sync_and_read_connectors(owner, iam, security, auditor, api_as):
    body = {"name": "aws-prod", "kind": "aws_iam", "config": {"region": "eu-west-1"}}
    assert api_as(owner).post("/api/v1/connectors/", body, format="json").status_code == 403
    assert api_as(auditor).post("/api/v1/connectors/", body, format="json").status_code == 403
    created = api_as(security).post("/api/v1/connectors/", body, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    assert api_as(auditor).get(f"/api/v1/connectors/{pk}/").status_code == 200
    assert api_as(auditor).post(f"/api/v1/connectors/{pk}/sync/").status_code == 403
    assert api_as(owner).get("/api/v1/connector-runs/").status_code == 403
    patched = api_as(iam).patch(f"/api/v1/connectors/{pk}/", {"enforce": True}, format="json")
    assert patched.status_code == 200 and patched.json()["enforce"] is True
    # Its own credential is an identity in the inventory, owned by whoever registered it.
    own = Identity.objects.get(source="steward", external_id="connector:aws-prod")
    assert own.owner == security and created.json()["identity"] == own.pk


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"aws_secret_access_key": "abc"}, "aws_secret_access_key"),
        ({"session_token": "x"}, "session_token"),
        ({"region": "AKIAIOSFODNN7EXAMPLE"}, "region"),
        ({"page_size": 0}, "page_size"),
        ({"role": "arn:aws:iam::1:role/x"}, "role"),
    ],
)
def test_config_refuses_secrets_and_unknown_settings(config, field, iam, api_as):
    response = api_as(iam).post(
        "/api/v1/connectors/", {"name": "aws-prod", "kind": "aws_iam", "config": config}, format="json"
    )

    assert response.status_code == 400
    assert any(message.startswith(f"{field}: ") for message in response.json()["config"])


def test_names_kinds_and_fixed_fields_are_checked(iam, api_as):
    client = api_as(iam)
    bad = client.post("/api/v1/connectors/", {"name": "AWS Prod!", "kind": "nope"}, format="json")
    assert bad.status_code == 400 and {"name", "kind"} <= set(bad.json())
    missing = client.post("/api/v1/connectors/", {"name": "gh", "kind": "github_org"}, format="json")
    assert missing.status_code == 400 and missing.json()["config"][0].startswith("org: Required")
    created = client.post("/api/v1/connectors/", {"name": "aws-a", "kind": "aws_iam"}, format="json").json()
    renamed = client.patch(f"/api/v1/connectors/{created['id']}/", {"name": "aws-b"}, format="json")
    assert renamed.status_code == 400 and "fixed" in renamed.json()["name"][0]


def test_lists_run_a_fixed_number_of_queries(iam, api_as):
    client = api_as(iam)
    client.force_login(iam)  # the page too

    def populate(count: int) -> None:
        for n in range(count):
            connector = create_connector(
                iam, {"name": f"aws-{Connector.objects.count()}-{n}", "kind": "aws_iam"}
            )
            for _ in range(2):
                ConnectorRun.objects.create(connector=connector, state="succeeded", actor="iam")

    def count_queries(path: str) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    populate(2)
    small = {
        path: count_queries(path)
        for path in ("/api/v1/connectors/", "/api/v1/connector-runs/", "/connectors/")
    }
    populate(6)
    large = {path: count_queries(path) for path in small}
    assert large == small


def test_an_expired_just_in_time_grant_is_revoked_at_the_source(
    aws, connector, iam, django_capture_on_commit_callbacks
):
    aws.create_user(UserName="hotfix-bot")
    aws.attach_user_policy(UserName="hotfix-bot", PolicyArn=ADMIN)  # attached for the JIT window
    enforcing(connector)
    run_now(iam, connector)
    bot = Identity.objects.get(external_id=f"arn:aws:iam::{ACCOUNT}:user/hotfix-bot")
    now = timezone.now()
    Grant.objects.create(
        identity=bot,
        resource_kind="cloud_account",
        resource_name=f"aws:{ACCOUNT}",
        actions=["admin"],
        origin=Grant.Origin.JIT,
        expires_at=now - timedelta(minutes=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert expire_grants(now) == 1

    assert aws.list_attached_user_policies(UserName="hotfix-bot")["AttachedPolicies"] == []
    enforcement = Enforcement.objects.get(identity=bot)
    assert (enforcement.action, enforcement.state) == ("revoke", "applied")
    assert enforcement.details["removed_refs"] == [f"managed:{ADMIN}"]
    run_now(iam, connector)
    bot.refresh_from_db()
    assert bot.remediation == "confirmed"


def test_an_identity_the_inventory_refuses_is_an_error_of_the_run_not_its_failure(aws, connector, iam):
    aws.create_user(UserName="AKIAIOSFODNN7EXAMPLE")  # a user named like an access key id
    aws.create_user(UserName="ci-bot")

    run = run_now(iam, connector)

    assert (run.state, run.discovered, run.errors) == ("succeeded", 1, 1)
    assert "AKIAIOSFODNN7EXAMPLE" in run.error_details[0]["error"]
    assert Identity.objects.filter(source=connector.name).count() == 1


def test_a_connector_cannot_take_a_source_name_other_identities_carry(iam, api_as):
    from tests.factories import IdentityFactory

    IdentityFactory(source="cmdb-import", external_id="42")
    client = api_as(iam)
    for name in ("cmdb-import", "steward"):
        response = client.post("/api/v1/connectors/", {"name": name, "kind": "aws_iam"}, format="json")
        assert response.status_code == 400 and "already use" in response.json()["name"][0]


def test_the_sync_connector_command(aws, connector, capsys):
    import json

    from django.core.management import CommandError, call_command

    aws.create_user(UserName="ci-bot")
    call_command("sync_connector", "aws-test", "--dry-run")
    report = json.loads(capsys.readouterr().out)
    assert (report["state"], report["dry_run"], report["discovered"]) == ("succeeded", True, 1)
    assert report["report"] == [
        {"change": "would_discover", "external_id": f"arn:aws:iam::{ACCOUNT}:user/ci-bot"}
    ]
    assert not Identity.objects.filter(source="aws-test").exists()

    call_command("sync_connector", "aws-test")
    assert json.loads(capsys.readouterr().out)["discovered"] == 1
    run = ConnectorRun.objects.filter(dry_run=False).get()
    assert (run.trigger, run.actor) == ("command", "system:sync_connector")
    with pytest.raises(CommandError, match="No connector named 'nope'"):
        call_command("sync_connector", "nope")


def test_beats_scheduled_sync_runs_a_connector_and_skips_a_manual_or_busy_one(aws, connector):
    from connectors.tasks import scheduled_sync

    aws.create_user(UserName="ci-bot")
    assert scheduled_sync(connector.pk) == {"connector": connector.pk, "skipped": "no schedule"}
    Connector.objects.filter(pk=connector.pk).update(schedule=Connector.Schedule.HOURLY)

    result = scheduled_sync(connector.pk)

    run = ConnectorRun.objects.get(pk=result["run"])
    assert (result["state"], run.trigger, run.actor, run.discovered) == (
        "succeeded",
        "schedule",
        "system:connector-schedule",
        1,
    )
    ConnectorRun.objects.create(connector=connector, actor="iam")  # one is running
    assert scheduled_sync(connector.pk)["skipped"] == "already running"
