"""people.csv and policy_versions.jsonl (issue 19 item 7): the auditor's "who held the roles" and
"which policy was in force, approved by whom" answered by a file in the pack, as at the period."""

from __future__ import annotations

import copy
import csv
import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from governance.evidence.verifier import verify_pack
from governance.people.models import Role
from governance.people.services import set_roles
from governance.policy.models import PolicyVersion
from governance.policy.services import approve_policy, current_policy, propose_policy
from tests.factories import UserFactory
from tests.governance.evidence_support import export_now

pytestmark = pytest.mark.django_db
IAM, SECURITY = Role.IAM.value, Role.SECURITY.value


def _period(now):
    today = timezone.localdate(now)
    return today - timedelta(days=20), today - timedelta(days=5)


def _pack_file(export, name):
    path = Path(django_settings.MEDIA_ROOT) / export.file_path
    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode()


def test_people_csv_names_who_held_each_role_in_the_period_and_every_change(
    team, auditor, now, django_capture_on_commit_callbacks
):
    with time_machine.travel(now - timedelta(days=30), tick=False):
        admin = UserFactory(username="admin", roles=[], team=team)
        alice = UserFactory(username="alice", roles=[Role.IAM], team=team)
        bob = UserFactory(username="bob", roles=[Role.SECURITY], team=team)
        UserFactory(username="carol", roles=[Role.AUDITOR], team=team)
        dave = UserFactory(username="dave", roles=[], team=team)
    with time_machine.travel(now - timedelta(days=15), tick=False):
        set_roles(admin, alice, set())
        set_roles(admin, dave, {Role.IAM})
    with time_machine.travel(now - timedelta(days=2), tick=False):
        set_roles(admin, bob, set())  # after the period: bob held Security all through it
    with time_machine.travel(now - timedelta(days=1), tick=False):
        UserFactory(username="erin", roles=[Role.SECURITY], team=team)  # joined after the period

    export = export_now(auditor, django_capture_on_commit_callbacks, period=_period(now))
    rows = list(csv.DictReader(io.StringIO(_pack_file(export, "people.csv"))))
    held = {(r["username"], r["role"]): r for r in rows if r["record"] == "held"}
    assert set(held) == {("alice", IAM), ("bob", SECURITY), ("carol", Role.AUDITOR.value), ("dave", IAM)}
    changed = (now - timedelta(days=15)).isoformat()
    assert held[("alice", IAM)]["held_until"] == changed
    assert held[("alice", IAM)]["since_source"] == "held before the period"
    assert held[("bob", SECURITY)]["held_until"] == ""  # still held at the period's end
    assert held[("dave", IAM)]["held_from"] == changed
    changes = {
        (r["record"], r["username"], r["role"], r["changed_by"]) for r in rows if r["record"] != "held"
    }
    assert changes == {("removed", "alice", IAM, "admin"), ("granted", "dave", IAM, "admin")}
    assert all(r["at"] == changed for r in rows if r["record"] != "held")
    manifest = json.loads(_pack_file(export, "manifest.json"))
    assert manifest["row_counts"]["people.csv"] == 6
    assert "people.csv" in manifest["population"]
    assert verify_pack(Path(django_settings.MEDIA_ROOT) / export.file_path).ok


def test_policy_versions_jsonl_holds_each_version_in_force_with_its_proposer_and_approver(
    security, iam, auditor, now, django_capture_on_commit_callbacks
):
    PolicyVersion.objects.filter(version=1).update(activated_at=now - timedelta(days=90))
    document = copy.deepcopy(current_policy().document)
    document["tiers"]["low"]["review_days"] = 90
    with time_machine.travel(now - timedelta(days=12), tick=False):
        proposal = propose_policy(security, document, note="quarterly reviews for low")
        approve_policy(iam, proposal.version, comment="agreed")
    with time_machine.travel(now - timedelta(days=1), tick=False):  # after the period: not in the pack
        later = copy.deepcopy(document)
        later["tiers"]["low"]["review_days"] = 60
        approve_policy(iam, propose_policy(security, later).version)

    export = export_now(auditor, django_capture_on_commit_callbacks, period=_period(now))
    records = [json.loads(line) for line in _pack_file(export, "policy_versions.jsonl").splitlines()]
    governance = [r for r in records if r["kind"] == "governance_policy"]
    assert [r["version"] for r in governance] == [1, proposal.version]
    first, second = governance
    switched = (now - timedelta(days=12)).isoformat()
    assert first["in_force_until"] == switched and second["in_force_from"] == switched
    assert second["in_force_until"] == (now - timedelta(days=1)).isoformat()
    assert (second["proposed_by"], second["approved_by"], second["two_people"]) == ("security", "iam", True)
    assert second["document"]["tiers"]["low"]["review_days"] == 90 and second["document_sha256"]
    assert second["note"] == "quarterly reviews for low" and second["approval_comment"] == "agreed"
