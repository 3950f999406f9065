"""summary.html says what made the pack and what it does not show (issue 19 item 14)."""

from __future__ import annotations

import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from governance.jobs.models import JobRun
from tests.governance.evidence_support import export_now, small_estate
from tests.governance.exceptions_support import old_key_identity
from tests.governance.exceptions_support import request as request_exception

pytestmark = pytest.mark.django_db


def _read(export, name) -> str:
    with zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path) as zf:
        return zf.read(name).decode()


def test_the_summary_names_system_instance_version_preparer_definitions_policy_and_exceptions(
    owner, security, auditor, django_capture_on_commit_callbacks
):
    from governance.exceptions import services as exceptions

    small_estate(owner)
    exceptions.approve(security, request_exception(owner, old_key_identity(owner, name="legacy-bot")))
    export = export_now(auditor, django_capture_on_commit_callbacks)
    summary = _read(export, "summary.html")
    manifest = json.loads(_read(export, "manifest.json"))

    assert manifest["steward_version"] and manifest["steward_version"] in summary
    assert "<td>Instance</td><td>127.0.0.1:8000</td>" in summary
    assert "<td>Prepared by</td><td>auditor" in summary
    assert manifest["signature"]["kid"] in summary and "VERIFY.md" in summary
    assert "What each file holds" in summary and "People who held the IAM" in summary
    assert (
        "Policy in force during the period" in summary and "<td>governance policy</td><td>1</td>" in summary
    )
    assert (
        "<td>legacy-bot</td><td>credential_rotation_overdue</td><td>active</td><td>security</td>" in summary
    )
    assert "No sweep ran" not in summary


def test_a_fresh_install_sweeps_before_its_first_pack(owner, auditor, django_capture_on_commit_callbacks):
    from tests.factories import IdentityFactory

    IdentityFactory(owner=owner, environments=["prod", "dev"])  # an environment_crossing finding to find
    assert not JobRun.objects.filter(name="sweep").exists()
    export = export_now(auditor, django_capture_on_commit_callbacks)
    assert JobRun.objects.get(name="sweep").trigger == "evidence"
    assert "environment_crossing" in _read(export, "findings.csv")
    assert "No sweep ran" not in _read(export, "summary.html")


def test_a_pack_of_a_period_without_a_sweep_says_so_instead_of_claiming_zero(
    owner, auditor, django_capture_on_commit_callbacks
):
    small_estate(owner)  # the sweep ran today, not in the period below
    today = timezone.localdate()
    export = export_now(
        auditor,
        django_capture_on_commit_callbacks,
        period=(today - timedelta(days=30), today - timedelta(days=1)),
    )
    summary = _read(export, "summary.html")
    assert "No sweep ran in this period" in summary and "<em>not checked</em>" in summary
