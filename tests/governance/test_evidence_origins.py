"""identity_origins.csv and STW-01 (issue 19 item 6): every identity created or activated in the period
links to how it came to be, and one with no approval record is flagged, whatever its approved_at says."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import transaction

from approvals.models import IntakeRequest
from approvals.services import intake as intake_services
from governance import audit
from governance.actors import system
from governance.evidence.status import control_statuses
from inventory import services as inventory
from inventory.models import Identity
from inventory.tokens import issue_token
from tests.approvals.conftest import answers
from tests.factories import IdentityFactory
from tests.governance.evidence_support import export_now

pytestmark = pytest.mark.django_db


def _origins(export) -> list[dict]:
    with zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path) as zf:
        return list(
            csv.DictReader(io.TextIOWrapper(zf.open("identity_origins.csv"), encoding="utf-8", newline=""))
        )


def _by(rows, identity, event="created") -> dict:
    (row,) = [r for r in rows if r["identity"] == str(identity.pk) and r["event"] == event]
    return row


def _seeded(name: str) -> Identity:
    """What a seed script or a stray write does: active, approved_at filled, no approval anywhere."""
    identity = IdentityFactory(name=name)
    with transaction.atomic():
        audit.record(system("seed"), "identity.created", identity, after={"status": "active"})
    return identity


def test_every_identity_created_or_activated_links_to_its_approval_and_the_rest_are_flagged(
    owner, iam, team, auditor, django_capture_on_commit_callbacks
):
    intake = intake_services.submit(
        owner, intake_services.create_draft(owner, {**answers("auto"), "team": team})
    )
    intake.refresh_from_db()
    assert intake.state == IntakeRequest.State.APPROVED
    token, _value = issue_token(system("issue_api_token"), owner, scope="read")
    scim, _value = issue_token(system("issue_scim_token"), iam, scope="scim")
    seeded = _seeded("seeded-bot")
    discovered = inventory.create_identity(
        system("import"),
        data={"name": "found-bot", "kind": "service_account", "source": "aws-prod", "external_id": "arn:1"},
        status=Identity.Status.DISCOVERED,
        check_role=False,
    )
    inventory.activate(iam, discovered, "Adopted after triage", owner=owner)

    export = export_now(auditor, django_capture_on_commit_callbacks)
    rows = _origins(export)

    row = _by(rows, intake.identity)
    assert row["origin"] == "intake" and row["origin_ref"] == f"intake #{intake.pk}"
    assert row["approval_request"] == str(intake.approval_id) and row["approval_state"] == "approved"
    assert row["approved_by"] and row["approval_status"] == "approved" and row["unapproved"] == "no"

    row = _by(rows, token.identity)
    assert row["origin"] == "api_token" and row["approved_by"] == "system:issue_api_token"
    assert row["approval_record"].startswith("audit event #") and row["unapproved"] == "no"
    assert _by(rows, scim.identity)["origin"] == "scim_token"

    row = _by(rows, seeded)
    assert row["origin"] == "system" and row["origin_ref"] == "system:seed"
    assert row["approval_status"] == "missing" and row["unapproved"] == "yes"

    created, activated = _by(rows, discovered), _by(rows, discovered, "activated")
    assert created["origin"] == "discovered" and created["source"] == "aws-prod"
    assert created["approval_status"] == "awaiting" and created["unapproved"] == "no"
    assert activated["origin"] == "triage" and activated["approved_by"] == "iam"
    assert activated["approval_status"] == "approved"

    summary = (
        zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path).read("summary.html").decode()
    )
    assert "without any approval" in summary and f"#{seeded.pk} seeded-bot" in summary
    assert export.manifest["row_counts"]["identity_origins.csv"] == len(rows)
    assert "identity_origins.csv" in export.manifest["population"]


def test_a_routed_activation_names_its_activation_request_and_approval(
    owner, iam, iam2, security, team, auditor, django_capture_on_commit_callbacks
):
    from approvals.models import ApprovalRequest
    from approvals.services.decisions import approve
    from inventory.models import ActivationRequest

    identity = inventory.create_identity(
        system("import"),
        data={"name": "deployer", "kind": "service_account", "environments": ["prod"], "source": "gh"},
        grants=[{"resource_kind": "ci_pipeline", "resource_name": "deploy", "actions": ["deploy"]}],
        status=Identity.Status.DISCOVERED,
        check_role=False,
    )
    inventory.activate(iam, identity, "Runs the deploys", owner=owner)
    activation = ActivationRequest.objects.get(identity=identity)
    request = ApprovalRequest.objects.get(kind="activation", object_id=activation.pk)
    for approver in (iam2, security):
        request.refresh_from_db()
        approve(approver, request)
    identity.refresh_from_db()
    assert identity.status == Identity.Status.ACTIVE

    row = _by(_origins(export_now(auditor, django_capture_on_commit_callbacks)), identity, "activated")
    assert row["origin"] == "activation" and f"#{activation.pk}" in row["origin_ref"]
    assert row["approval_request"] == str(request.pk) and "iam:iam2" in row["approved_by"]
    assert row["unapproved"] == "no"


def test_stw01_counts_approval_records_not_a_filled_approved_at(owner, iam, team):
    intake = intake_services.submit(
        owner, intake_services.create_draft(owner, {**answers("auto"), "team": team})
    )
    intake.refresh_from_db()
    issue_token(system("issue_api_token"), owner, scope="read")
    seeded = _seeded("seeded-bot")
    assert seeded.approved_at is not None

    status = control_statuses()["STW-01"]
    active = Identity.objects.filter(status=Identity.Status.ACTIVE).count()
    assert active == 3
    assert status.percent == round(100 * 2 / 3) and not status.healthy
    assert "1 without" in status.text


def test_origin_rows_are_read_in_batches_with_a_fixed_number_of_queries(owner, team, monkeypatch):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from governance.evidence import origins
    from governance.evidence.rows import period_bounds

    def rows_and_queries():
        today = timezone.localdate()
        start, end = period_bounds(today, today)
        with CaptureQueriesContext(connection) as ctx:
            rows = list(origins.origin_rows(start, end))
        return rows, len(ctx.captured_queries)

    for n in range(3):
        issue_token(system("issue_api_token"), owner, scope="read", name=f"t{n}")
        _seeded(f"seeded-{n}")
    few_rows, few = rows_and_queries()
    for n in range(3, 9):
        issue_token(system("issue_api_token"), owner, scope="read", name=f"t{n}")
        _seeded(f"seeded-{n}")
    many_rows, many = rows_and_queries()
    assert len(many_rows) == 18 and few == many  # one batch: the same queries for 6 rows or 18
    monkeypatch.setattr(origins, "CHUNK", 4)
    batched, queries = rows_and_queries()
    assert batched == many_rows and queries > many  # 5 batches of 4, same rows in the same order
