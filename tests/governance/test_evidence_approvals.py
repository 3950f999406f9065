"""approvals.csv names the identity each request is about (issue 19 item 6)."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from approvals.models import IntakeRequest
from approvals.services import intake as intake_services
from tests.approvals.conftest import answers
from tests.governance.evidence_support import export_now

pytestmark = pytest.mark.django_db


def test_approvals_csv_names_the_identity_an_approved_intake_created(
    owner, team, auditor, django_capture_on_commit_callbacks
):
    approved = intake_services.submit(
        owner, intake_services.create_draft(owner, {**answers("auto"), "team": team})
    )
    pending = intake_services.submit(
        owner, intake_services.create_draft(owner, {**answers("high"), "team": team})
    )
    approved.refresh_from_db()
    assert approved.state == IntakeRequest.State.APPROVED and approved.identity_id

    export = export_now(auditor, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path) as zf:
        rows = list(csv.DictReader(io.TextIOWrapper(zf.open("approvals.csv"), encoding="utf-8", newline="")))
    by_request: dict[str, set[str]] = {}
    for row in rows:
        by_request.setdefault(row["request"], set()).add(row["identity"])
    assert by_request[_request_id(approved)] == {str(approved.identity_id)}
    assert by_request[_request_id(pending)] == {""}  # no identity until it is approved


def _request_id(intake) -> str:
    from django.contrib.contenttypes.models import ContentType

    from approvals.models import ApprovalRequest

    kind = ContentType.objects.get_for_model(IntakeRequest)
    return str(ApprovalRequest.objects.get(content_type=kind, object_id=intake.pk).pk)


def test_exceptions_csv_names_identity_tier_finding_who_ended_it_and_why_in_iso_times(
    owner, security, auditor, django_capture_on_commit_callbacks
):
    from governance.exceptions import services as exceptions
    from governance.findings.models import Finding
    from tests.governance.exceptions_support import RULE, old_key_identity
    from tests.governance.exceptions_support import request as request_exception

    identity = old_key_identity(owner, name="legacy-bot", risk_tier="high")
    finding = Finding.objects.create(rule=RULE, identity=identity, severity="high")
    revoked = exceptions.approve(security, request_exception(owner, identity))
    exceptions.revoke_exception(security, revoked, "fixed at the source")

    export = export_now(auditor, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path) as zf:
        (row,) = csv.DictReader(io.TextIOWrapper(zf.open("exceptions.csv"), encoding="utf-8", newline=""))
    assert (row["identity"], row["identity_name"], row["tier"]) == (str(identity.pk), "legacy-bot", "high")
    assert row["linked_finding"] == str(finding.pk)
    assert (row["ended_by"], row["state"]) == ("security", "revoked")
    assert row["end_reason"] == "fixed at the source"
    for column in ("requested_at", "approved_at", "expires_at", "ended_at"):
        assert "T" in row[column] and row[column].endswith("+00:00"), column  # ISO 8601 with a zone
