"""inventory.csv, grants.csv and credentials.csv as at the period's end (issue 19 item 5): changes before,
during and after the period, made at their real times; a pack ending days ago never shows what happened
since (a suspension, an ended grant, a revoked credential, a new owner or tier)."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from inventory import services as inventory
from inventory.models import Identity
from inventory.ownership import reassign_owner
from tests.governance.evidence_support import export_now

pytestmark = pytest.mark.django_db


def _rows(export, name) -> dict[str, dict]:
    with zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path) as zf:
        reader = csv.DictReader(io.TextIOWrapper(zf.open(name), encoding="utf-8", newline=""))
        return {row["id"]: row for row in reader}


def _at(now, days):
    return time_machine.travel(now - timedelta(days=days), tick=False)


def _create(iam, owner, name):
    return inventory.create_identity(
        iam,
        data={"name": name, "kind": "service_account", "owner": owner, "environments": ["dev"]},
        grants=[{"resource_kind": "repository", "resource_name": f"org/{name}", "actions": ["read_code"]}],
        credentials=[{"kind": "static_key", "label": f"{name}-key", "issued_at": timezone.now()}],
        reason="registered",
    )


def test_the_pack_shows_the_estate_at_the_period_end_not_today(
    iam, owner, owner2, auditor, now, django_capture_on_commit_callbacks
):
    with _at(now, 30):
        steady = _create(iam, owner, "steady")
        paused = _create(iam, owner, "paused-in-period")
        retired = _create(iam, owner, "retired-before")
    with _at(now, 25):
        inventory.decommission(iam, retired, "no longer needed")
    with _at(now, 15):  # in the period
        inventory.update_identity(iam, steady, {"risk_tier": "medium"}, reason="handles customer data")
    with _at(now, 10):
        inventory.suspend(iam, paused, "investigating")
    with _at(now, 2):  # after the period: none of this may show
        inventory.update_identity(iam, steady, {"risk_tier": "high"}, reason="now deploys")
        reassign_owner(iam, [steady], owner2, "reorganisation")
        inventory.end_grants(iam, steady, [g.pk for g in steady.grants.all()], reason="access review")
        inventory.revoke_credentials(iam, steady, reason="rotation")
        inventory.suspend(iam, steady, "incident after the period")
    with _at(now, 1):
        inventory.reactivate(iam, paused, "investigation closed")

    today = timezone.localdate(now)
    export = export_now(
        auditor, django_capture_on_commit_callbacks, period=(today - timedelta(20), today - timedelta(5))
    )
    identities = _rows(export, "inventory.csv")

    row = identities[str(steady.pk)]
    assert row["status"] == "active" and row["status_now"] == "suspended"
    assert row["risk_tier"] == "medium"  # raised in the period, not yet to high
    assert row["owner"] == "owner" and row["suspended_at"] == ""
    row = identities[str(paused.pk)]
    assert row["status"] == "suspended" and row["status_now"] == "active"
    assert row["suspended_at"] == (now - timedelta(days=10)).isoformat()
    row = identities[str(retired.pk)]
    assert (
        row["status"] == "decommissioned"
        and row["decommissioned_at"] == (now - timedelta(days=25)).isoformat()
    )
    assert row["as_at"].startswith((today - timedelta(4)).isoformat())

    grant = steady.grants.get()
    row = _rows(export, "grants.csv")[str(grant.pk)]
    assert grant.ended_at is not None
    assert row["ended_at"] == "" and row["end_reason"] == "" and row["in_force_at_period_end"] == "True"

    credential = steady.credentials.get()
    row = _rows(export, "credentials.csv")[str(credential.pk)]
    assert credential.revoked_at is not None
    assert row["revoked_at"] == "" and row["live_at_period_end"] == "True"

    summary = (
        zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path).read("summary.html").decode()
    )
    assert "Identity status at the period&#x27;s end" in summary  # counted from inventory.csv's rows
    verify = zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path).read("VERIFY.md").decode()
    assert "How the population is reconstructed" in verify
    assert "as at the period's end" in export.manifest["population"]["inventory.csv"]


def test_a_rotation_after_the_period_is_undone_in_credentials_csv(
    iam, owner, auditor, now, django_capture_on_commit_callbacks
):
    with _at(now, 30):
        identity = _create(iam, owner, "rotating")
        credential = identity.credentials.get()
        first_expiry = timezone.now() + timedelta(days=60)
        inventory.record_rotation(
            iam, credential, rotated_at=timezone.now(), expires_at=first_expiry.isoformat()
        )
    with _at(now, 2):
        credential.refresh_from_db()
        inventory.record_rotation(
            iam,
            credential,
            rotated_at=timezone.now(),
            expires_at=(timezone.now() + timedelta(days=90)).isoformat(),
        )
    today = timezone.localdate(now)
    export = export_now(
        auditor, django_capture_on_commit_callbacks, period=(today - timedelta(20), today - timedelta(5))
    )
    row = _rows(export, "credentials.csv")[str(credential.pk)]
    assert row["last_rotated_at"] == (now - timedelta(days=30)).isoformat()
    assert row["expires_at"] == first_expiry.isoformat()


def test_an_identity_created_after_the_period_is_not_in_it(
    iam, owner, auditor, now, django_capture_on_commit_callbacks
):
    with _at(now, 2):
        later = _create(iam, owner, "too-late")
    today = timezone.localdate(now)
    export = export_now(
        auditor, django_capture_on_commit_callbacks, period=(today - timedelta(20), today - timedelta(5))
    )
    assert str(later.pk) not in _rows(export, "inventory.csv")
    assert Identity.objects.filter(pk=later.pk).exists()
