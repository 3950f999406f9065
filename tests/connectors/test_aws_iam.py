"""The aws_iam connector against moto's IAM in server mode: discovery, reconciliation, enforcement.

Each test builds its estate with boto3 against a real HTTP server on loopback (tests/connectors/
conftest.py) and syncs through the API, as IAM would; the Celery task runs eagerly after commit.
"""

from __future__ import annotations

import json

import pytest

from connectors.models import Connector, ConnectorRun, Enforcement, SourceRecord
from governance.findings.models import Finding
from governance.models import AuditEvent
from inventory import services as inventory
from inventory.models import Credential, Grant, Identity
from tests.connectors.conftest import assert_a_second_sync_changes_nothing, enforcing, sync
from tests.connectors.moto_support import ACCOUNT

pytestmark = pytest.mark.django_db

ADMIN = "arn:aws:iam::aws:policy/AdministratorAccess"
READ_ONLY = "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
CROSS_ACCOUNT_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::999999999999:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def user_with_two_keys(aws, name: str = "ci-deployer") -> list[str]:
    aws.create_user(UserName=name)
    return sorted(aws.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"] for _ in range(2))


def user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name}"


def test_a_user_with_two_keys_and_a_role_appear_with_the_contracts_source_and_external_id(
    aws, connector, iam, api_as, django_capture_on_commit_callbacks
):
    keys = user_with_two_keys(aws)
    aws.create_role(RoleName="release", AssumeRolePolicyDocument=json.dumps(CROSS_ACCOUNT_TRUST))

    run = sync(api_as(iam), connector, django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert (run.state, run.seen, run.discovered, run.changed, run.vanished, run.errors) == (
        "succeeded",
        2,
        2,
        0,
        0,
        0,
    )
    user = Identity.objects.get(source="aws-test", external_id=user_arn("ci-deployer"))
    role = Identity.objects.get(source="aws-test", external_id=f"arn:aws:iam::{ACCOUNT}:role/release")
    assert user.status == role.status == Identity.Status.DISCOVERED  # waiting in triage
    assert sorted(user.credentials.values_list("label", flat=True)) == keys
    assert set(user.credentials.values_list("kind", flat=True)) == {"static_key"}
    assert all(c.issued_at is not None for c in user.credentials.all())  # key ages feed rotation
    record = SourceRecord.objects.get(identity=role)
    assert record.details["trust"] == [
        {"type": "cross_account", "account": "999999999999", "principal": "arn:aws:iam::999999999999:root"}
    ]
    # Both wait for approval: unmanaged_identity findings, opened by the sweep that follows the run.
    assert set(
        Finding.objects.filter(rule="unmanaged_identity", status="open").values_list("identity_id", flat=True)
    ) == {user.pk, role.pk}
    body = api_as(iam).get(f"/api/v1/identities/{user.pk}/").json()
    assert (body["source"], body["external_id"], body["vanished"], body["remediation"]) == (
        "aws-test",
        user_arn("ci-deployer"),
        False,
        "",
    )


def test_a_second_sync_changes_nothing(aws, connector, iam, api_as, django_capture_on_commit_callbacks):
    user_with_two_keys(aws)
    aws.attach_user_policy(UserName="ci-deployer", PolicyArn=READ_ONLY)
    aws.create_role(RoleName="release", AssumeRolePolicyDocument=json.dumps(CROSS_ACCOUNT_TRUST))
    assert_a_second_sync_changes_nothing(api_as(iam), connector, django_capture_on_commit_callbacks, seen=2)


def test_a_deleted_user_is_flagged_vanished_until_iam_confirms(
    aws, connector, iam, api_as, django_capture_on_commit_callbacks
):
    keys = user_with_two_keys(aws, "old-batch-job")
    client = api_as(iam)
    sync(client, connector, django_capture_on_commit_callbacks)
    for key in keys:
        aws.delete_access_key(UserName="old-batch-job", AccessKeyId=key)
    aws.delete_user(UserName="old-batch-job")

    run = sync(client, connector, django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert (run.state, run.vanished) == ("succeeded", 1)
    identity = Identity.objects.get(external_id=user_arn("old-batch-job"))
    assert identity.vanished and identity.vanished_at is not None
    assert identity.status == Identity.Status.DISCOVERED  # a marker, not a status
    assert AuditEvent.objects.filter(verb="identity.vanished", subject_id=str(identity.pk)).count() == 1
    # A third sync does not flag it again.
    assert sync(client, connector, django_capture_on_commit_callbacks).vanished == 0

    response = client.post(
        f"/api/v1/connectors/{connector.pk}/confirm-vanished/",
        {"identity": identity.pk, "reason": "Deleted with the batch cluster"},
        format="json",
    )

    assert response.status_code == 200, response.content
    identity.refresh_from_db()
    assert identity.status == Identity.Status.DECOMMISSIONED and not identity.vanished
    assert not identity.credentials.filter(revocation_confirmed_at__isnull=True).exists()
    again = client.post(
        f"/api/v1/connectors/{connector.pk}/confirm-vanished/", {"identity": identity.pk}, format="json"
    )
    assert again.status_code == 409


def test_administrator_access_beyond_the_approved_grants_raises_unapproved_entitlement(
    aws, connector, iam, api_as, django_capture_on_commit_callbacks
):
    aws.create_user(UserName="report-bot")
    aws.attach_user_policy(UserName="report-bot", PolicyArn=READ_ONLY)
    client = api_as(iam)
    sync(client, connector, django_capture_on_commit_callbacks)
    bot = Identity.objects.get(external_id=user_arn("report-bot"))
    # Approved: read data in this account. AmazonS3ReadOnlyAccess stays within it.
    Grant.objects.create(
        identity=bot, resource_kind="cloud_account", resource_name=f"aws:{ACCOUNT}", actions=["read_data"]
    )
    sync(client, connector, django_capture_on_commit_callbacks)
    assert not Finding.objects.filter(rule="unapproved_entitlement", identity=bot, status="open").exists()

    aws.attach_user_policy(UserName="report-bot", PolicyArn=ADMIN)
    run = sync(client, connector, django_capture_on_commit_callbacks)

    assert run.changed == 1
    finding = Finding.objects.get(rule="unapproved_entitlement", identity=bot, status="open")
    assert finding.severity == "high"
    assert finding.evidence["difference"] == [
        {
            "resource_kind": "cloud_account",
            "resource_name": f"aws:{ACCOUNT}",
            "actions": ["admin"],
            "via": ["AdministratorAccess"],
        }
    ]
    assert "admin (via AdministratorAccess)" in finding.evidence["summary"]


def test_with_enforce_on_suspending_disables_the_keys_and_the_next_sync_confirms(
    aws, connector, iam, api_as, django_capture_on_commit_callbacks
):
    keys = user_with_two_keys(aws)
    client = api_as(iam)
    assert (
        client.patch(f"/api/v1/connectors/{connector.pk}/", {"enforce": True}, format="json").status_code
        == 200
    )
    sync(client, connector, django_capture_on_commit_callbacks)
    identity = Identity.objects.get(external_id=user_arn("ci-deployer"))

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/identities/{identity.pk}/suspend/", {"reason": "Leaked in a CI log"}, format="json"
        )
    assert response.status_code == 200, response.content

    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in aws.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]
    }
    assert statuses == {key: "Inactive" for key in keys}
    identity.refresh_from_db()
    assert identity.remediation == "pending"
    enforcement = Enforcement.objects.get(identity=identity)
    assert (enforcement.state, sorted(enforcement.details["access_keys_deactivated"])) == ("applied", keys)

    sync(client, connector, django_capture_on_commit_callbacks)

    identity.refresh_from_db()
    assert identity.remediation == "confirmed" and identity.remediation_confirmed_at is not None
    event = AuditEvent.objects.get(verb="identity.remediation_confirmed", subject_id=str(identity.pk))
    assert event.actor == "system:connector:aws-test"
    assert client.get(f"/api/v1/identities/{identity.pk}/").json()["remediation"] == "confirmed"


def test_decommissioning_a_role_attaches_a_deny_all_policy_and_is_confirmed(
    aws, connector, iam, django_capture_on_commit_callbacks, api_as
):
    aws.create_role(RoleName="release", AssumeRolePolicyDocument=json.dumps(CROSS_ACCOUNT_TRUST))
    enforcing(connector)
    client = api_as(iam)
    sync(client, connector, django_capture_on_commit_callbacks)
    role = Identity.objects.get(external_id=f"arn:aws:iam::{ACCOUNT}:role/release")

    with django_capture_on_commit_callbacks(execute=True):
        inventory.decommission(iam, role, "Release pipeline retired")

    assert aws.list_role_policies(RoleName="release")["PolicyNames"] == ["StewardDenyAll"]
    document = aws.get_role_policy(RoleName="release", PolicyName="StewardDenyAll")["PolicyDocument"]
    assert document["Statement"][0] == {
        "Sid": "StewardDenyAll",
        "Effect": "Deny",
        "Action": "*",
        "Resource": "*",
    }
    sync(client, connector, django_capture_on_commit_callbacks)
    role.refresh_from_db()
    assert role.remediation == "confirmed"


def test_an_enforcement_the_source_refuses_is_failed_with_its_error(
    aws, connector, iam, django_capture_on_commit_callbacks, api_as
):
    user_with_two_keys(aws)
    enforcing(connector)
    sync(api_as(iam), connector, django_capture_on_commit_callbacks)
    identity = Identity.objects.get(external_id=user_arn("ci-deployer"))
    for key in aws.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]:
        aws.delete_access_key(UserName="ci-deployer", AccessKeyId=key["AccessKeyId"])
    aws.delete_user(UserName="ci-deployer")  # gone behind Steward's back: the source refuses

    with django_capture_on_commit_callbacks(execute=True):
        inventory.suspend(iam, identity, "Owner left")

    identity.refresh_from_db()
    assert identity.remediation == "failed"
    assert "NoSuchEntity" in identity.remediation_error
    assert AuditEvent.objects.filter(verb="identity.remediation_failed", subject_id=str(identity.pk)).exists()


def test_without_enforce_a_suspension_stays_in_steward(
    aws, connector, iam, django_capture_on_commit_callbacks, api_as
):
    user_with_two_keys(aws)
    sync(api_as(iam), connector, django_capture_on_commit_callbacks)
    identity = Identity.objects.get(external_id=user_arn("ci-deployer"))

    with django_capture_on_commit_callbacks(execute=True):
        inventory.suspend(iam, identity, "Paused")

    statuses = {k["Status"] for k in aws.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]}
    assert statuses == {"Active"}
    identity.refresh_from_db()
    assert identity.remediation == "" and not Enforcement.objects.exists()


def _footprint() -> dict:
    """What a sync may write: identities (and their versions), credentials, grants, source records,
    findings and identity events."""
    return {
        "identities": list(Identity.objects.order_by("pk").values_list("pk", "version")),
        "credentials": Credential.objects.count(),
        "grants": Grant.objects.count(),
        "records": SourceRecord.objects.count(),
        "findings": Finding.objects.count(),
        "identity_events": AuditEvent.objects.filter(subject_type="inventory.identity").count(),
    }


def test_a_dry_run_writes_nothing(aws, connector, iam, api_as, django_capture_on_commit_callbacks):
    user_with_two_keys(aws)
    aws.attach_user_policy(UserName="ci-deployer", PolicyArn=ADMIN)
    aws.create_role(RoleName="release", AssumeRolePolicyDocument=json.dumps(CROSS_ACCOUNT_TRUST))
    before = _footprint()

    run = sync(api_as(iam), connector, django_capture_on_commit_callbacks, dry_run=True)

    run.refresh_from_db()
    assert (run.state, run.dry_run, run.seen, run.discovered, run.changed) == ("succeeded", True, 2, 2, 0)
    assert {r["change"] for r in run.report} == {"would_discover"}
    after = _footprint()
    assert after == before


def _register(client, name: str, endpoint_url: str):
    """Register an AWS IAM connector through the API, pointed at `endpoint_url`."""
    config = {"endpoint_url": endpoint_url}
    return client.post(
        "/api/v1/connectors/", {"name": name, "kind": "aws_iam", "config": config}, format="json"
    )


@pytest.mark.parametrize(
    "endpoint",
    ["https://iam.evil.example.com", "http://169.254.169.254/latest", "https://user:pw@127.0.0.1:4566"],
)
def test_an_endpoint_outside_the_allowlist_is_refused_with_400(endpoint, iam, api_as, settings):
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = ["iam.internal.example.com"]

    response = _register(api_as(iam), "aws-prod", endpoint)

    assert response.status_code == 400
    assert response.json()["config"][0].startswith("endpoint_url: ")
    assert not Connector.objects.exists()


def test_allowlisted_and_loopback_endpoints_are_accepted_but_loopback_not_in_production(
    iam, api_as, settings
):
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = [".internal.example.com"]
    client = api_as(iam)
    ok = _register(client, "aws-a", "https://iam.internal.example.com")
    local = _register(client, "aws-b", "http://127.0.0.1:4566")
    assert (ok.status_code, local.status_code) == (201, 201)
    settings.PRODUCTION = True
    refused = _register(client, "aws-c", "http://127.0.0.1:4566")
    assert (
        refused.status_code == 400 and "STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST" in refused.json()["config"][0]
    )


def test_a_run_refuses_an_endpoint_the_allowlist_no_longer_names(iam, api_as, settings):
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = ["iam.internal.example.com"]
    client = api_as(iam)
    created = _register(client, "aws-a", "https://iam.internal.example.com")
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = []

    response = client.post(f"/api/v1/connectors/{created.json()['id']}/sync/")

    assert response.status_code == 400 and "endpoint_url" in response.json()["config"][0]
    assert not ConnectorRun.objects.exists()


def test_a_reviews_revoke_is_enforced_and_the_sync_confirms_the_review_item(
    aws, connector, iam, owner, django_capture_on_commit_callbacks, api_as
):
    from datetime import timedelta

    from django.utils import timezone

    from governance.reviews.models import ReviewItem
    from governance.reviews.services import decide
    from governance.reviews.services.launch import launch_campaign

    keys = user_with_two_keys(aws)
    enforcing(connector)
    client = api_as(iam)
    sync(client, connector, django_capture_on_commit_callbacks)
    identity = Identity.objects.get(external_id=user_arn("ci-deployer"))
    inventory.activate(iam, identity, "Platform's deploy user", owner=owner)  # triaged: owner's now
    identity.refresh_from_db()
    campaign = launch_campaign(
        iam, "AWS users", {"risk_tiers": [identity.risk_tier]}, timezone.now() + timedelta(days=14)
    )
    item = campaign.items.get(identity=identity)

    with django_capture_on_commit_callbacks(execute=True):
        decide(owner, item, "revoke", "No longer deploys anything")

    statuses = {
        k["AccessKeyId"]: k["Status"]
        for k in aws.list_access_keys(UserName="ci-deployer")["AccessKeyMetadata"]
    }
    assert statuses == {key: "Inactive" for key in keys}
    assert Enforcement.objects.filter(identity=identity).count() == 1  # suspend and revoke: one request
    item.refresh_from_db()
    assert item.remediation_state == ReviewItem.Remediation.PENDING

    sync(client, connector, django_capture_on_commit_callbacks)

    item.refresh_from_db()
    identity.refresh_from_db()
    assert identity.remediation == "confirmed"
    assert item.remediation_state == ReviewItem.Remediation.CONFIRMED


def test_the_sources_last_use_feeds_last_used_at_with_service_and_region(
    aws, connector, iam, moto_url, api_as, django_capture_on_commit_callbacks
):
    import boto3

    aws.create_user(UserName="ci-deployer")
    created = aws.create_access_key(UserName="ci-deployer")["AccessKey"]
    client = api_as(iam)
    sync(client, connector, django_capture_on_commit_callbacks)
    identity = Identity.objects.get(external_id=user_arn("ci-deployer"))
    assert identity.last_used_at is None  # never used yet
    # The key is used (moto records the last use of a key that signs a request).
    boto3.client(
        "sts",
        endpoint_url=moto_url,
        region_name="eu-west-1",
        aws_access_key_id=created["AccessKeyId"],
        aws_secret_access_key=created["SecretAccessKey"],
    ).get_caller_identity()

    run = sync(client, connector, django_capture_on_commit_callbacks)

    run.refresh_from_db()
    assert run.changed == 1
    identity.refresh_from_db()
    assert identity.last_used_at is not None
    (key,) = SourceRecord.objects.get(identity=identity).details["access_keys"]
    assert (key["service"], key["region"]) == ("sts", "eu-west-1")
    event = AuditEvent.objects.filter(verb="identity.changed_at_source", subject_id=str(identity.pk)).get()
    assert event.after["last_used_at"]


@pytest.mark.django_db(transaction=True)
def test_a_dry_run_in_autocommit_as_the_worker_runs_it(aws, connector, iam):
    """Outside a test's transaction (as a worker runs), a dry run's page has no transaction of its own:
    moving the run's counts must open one (PostgreSQL refuses SELECT … FOR UPDATE without)."""
    from connectors.services import start_run

    user_with_two_keys(aws)
    run = start_run(iam, connector, dry_run=True)
    run.refresh_from_db()
    assert (run.state, run.dry_run, run.discovered) == ("succeeded", True, 1), run.error_details
