"""Connector pages: empty states, registration with per-field errors, settings, Sync now / Dry run
(a second start is refused with a message), the vanished confirmation, and who sees which buttons."""

from __future__ import annotations

import pytest

from connectors.models import Connector, ConnectorRun
from connectors.services import create_connector
from governance.models import AuditEvent
from inventory.models import Identity
from tests.factories import IdentityFactory

pytestmark = pytest.mark.django_db


def test_the_list_starts_empty_and_iam_registers_a_connector(client, iam):
    client.force_login(iam)
    page = client.get("/connectors/").content.decode()
    assert 'data-testid="connectors-empty"' in page and "Register connector" in page

    response = client.post(
        "/connectors/",
        {"name": "aws-prod", "kind": "aws_iam", "schedule": "hourly", "config_region": "eu-west-1"},
    )

    connector = Connector.objects.get(name="aws-prod")
    assert response.status_code == 302 and response["Location"] == f"/connectors/{connector.pk}/"
    assert (connector.config, connector.schedule, connector.enforce) == (
        {"region": "eu-west-1"},
        "hourly",
        False,
    )
    assert AuditEvent.objects.filter(verb="connector.created", subject_id=str(connector.pk)).exists()
    from django_celery_beat.models import PeriodicTask

    beat = PeriodicTask.objects.get(name="connector aws-prod")
    assert beat.task == "connectors.scheduled_sync" and beat.enabled and beat.interval.every == 3600
    detail = client.get(connector.get_absolute_url()).content.decode()
    assert 'data-testid="runs-empty"' in detail and "Sync now" in detail and "Dry run" in detail


@pytest.mark.parametrize(
    "form,messages",
    [
        pytest.param(
            {"name": "Bad Name", "kind": "aws_iam", "config_endpoint_url": "https://iam.evil.example.com"},
            ["Lower-case letters", 'data-testid="config-error"', "STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST"],
            id="bad-name-and-endpoint",
        ),
        pytest.param(
            {"name": "aws-prod", "kind": "aws_iam", "schedule": "weekly"},
            [
                '<div class="invalid-feedback">Choose one of manual, hourly',
                'name="schedule" id="schedule"',
                "form-select form-select-sm is-invalid",
            ],
            id="unknown-schedule",
        ),
    ],
)
def test_bad_registration_answers_400_with_messages_beside_the_fields(client, iam, settings, form, messages):
    settings.STEWARD_CONNECTOR_ENDPOINT_ALLOWLIST = []
    client.force_login(iam)

    response = client.post("/connectors/", form)

    assert response.status_code == 400
    page = response.content.decode()
    for message in messages:
        assert message in page, message
    assert not Connector.objects.exists()


def test_settings_are_changed_on_the_connector_page_and_audited(client, iam):
    connector = create_connector(iam, {"name": "aws-prod", "kind": "aws_iam"})
    client.force_login(iam)

    response = client.post(
        connector.get_absolute_url(), {"schedule": "manual", "enforce": "on", "config_page_size": "50"}
    )

    assert response.status_code == 302
    connector.refresh_from_db()
    assert (connector.schedule, connector.enforce, connector.config) == ("manual", True, {"page_size": 50})
    event = AuditEvent.objects.get(verb="connector.updated", subject_id=str(connector.pk))
    assert event.before["enforce"] is False and event.after["enforce"] is True
    bad = client.post(connector.get_absolute_url(), {"schedule": "manual", "config_page_size": "lots"})
    assert bad.status_code == 400 and "page_size: Must be a whole number." in bad.content.decode()


def test_sync_now_while_a_run_is_going_is_refused_with_a_message(client, iam):
    connector = create_connector(iam, {"name": "aws-prod", "kind": "aws_iam"})
    ConnectorRun.objects.create(connector=connector, actor="iam")
    client.force_login(iam)

    response = client.post(f"/connectors/{connector.pk}/sync/", {"dry_run": "1"}, follow=True)

    assert "already running" in response.content.decode()
    assert ConnectorRun.objects.filter(connector=connector).count() == 1


def test_the_auditor_reads_connectors_without_buttons(client, iam, auditor):
    connector = create_connector(iam, {"name": "aws-prod", "kind": "aws_iam"})
    client.force_login(auditor)
    page = client.get(connector.get_absolute_url()).content.decode()
    assert "aws-prod" in page and "Sync now" not in page and "Save settings" not in page
    assert "Register connector" not in client.get("/connectors/").content.decode()
    assert client.post(f"/connectors/{connector.pk}/sync/").status_code == 403


def test_owners_do_not_see_connectors(client, owner):
    client.force_login(owner)
    assert client.get("/connectors/").status_code == 403


def test_a_vanished_identity_is_confirmed_from_its_page(client, iam):
    connector = create_connector(iam, {"name": "aws-prod", "kind": "aws_iam"})
    gone = IdentityFactory(
        owner=iam, source="aws-prod", external_id="arn:aws:iam::1:user/x", vanished=True, status="suspended"
    )
    from connectors.models import SourceRecord

    SourceRecord.objects.create(
        connector=connector,
        external_id=gone.external_id,
        identity=gone,
        object_type="user",
        name="x",
        fingerprint="0",
    )
    client.force_login(iam)
    page = client.get(gone.get_absolute_url()).content.decode()
    assert 'data-testid="identity-vanished"' in page and "Confirm vanished" in page

    response = client.post(
        f"/connectors/{connector.pk}/vanished/{gone.pk}/confirm/", {"reason": "deleted in AWS"}
    )

    assert response.status_code == 302
    gone.refresh_from_db()
    assert gone.status == Identity.Status.DECOMMISSIONED and not gone.vanished
    assert AuditEvent.objects.filter(verb="identity.vanished_confirmed", subject_id=str(gone.pk)).exists()


def test_a_failing_connector_shows_on_the_dashboard(client, iam):
    from governance.findings.sweep import run_sweep

    connector = create_connector(iam, {"name": "aws-prod", "kind": "aws_iam"})
    Connector.objects.filter(pk=connector.pk).update(failing=True, last_error="IAM list_users: AccessDenied")
    run_sweep()
    client.force_login(iam)

    card = client.get("/dashboard/card/findings/").content.decode()

    assert "Connector failing" in card
    listed = client.get(f"/connectors/{connector.pk}/").content.decode()
    assert 'data-testid="connector-failing"' in listed and "AccessDenied" in listed
