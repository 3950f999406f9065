"""Finding SLAs (issue 19 item 11): a due date by severity from the governance policy (finding_sla_days,
validated, with defaults), an owner, a resolution reason (fixed, suppressed by exception N, identity
suspended or decommissioned) and the suppressing exception's id, shown in the API, the findings page and
findings.csv."""

from __future__ import annotations

import copy
import csv
import io
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from governance.exceptions import services as exceptions
from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from governance.models import AuditEvent
from governance.policy.services import DEFAULT_POLICY, approve_policy, current_policy, propose_policy
from inventory import services as inventory
from inventory.ownership import reassign_owner
from tests.governance.evidence_support import export_now
from tests.governance.exceptions_support import RULE, old_key_identity, request
from tests.governance.jobs_support import START, clock  # noqa: F401

pytestmark = pytest.mark.django_db


def _only(rule, identity) -> Finding:
    return Finding.objects.filter(rule=rule, identity=identity).order_by("-id").first()


def _with_sla(**sla) -> dict:
    document = copy.deepcopy(current_policy().document)
    document["finding_sla_days"] = {**DEFAULT_POLICY["finding_sla_days"], **sla}
    return document


def test_a_new_finding_is_due_after_the_policys_sla_for_its_severity_and_owned(clock, owner):  # noqa: F811
    identity = old_key_identity(owner)
    run_sweep()
    finding = _only(RULE, identity)
    days = DEFAULT_POLICY["finding_sla_days"][finding.severity]
    assert finding.due_at == START + timedelta(days=days)
    assert finding.owner == owner and finding.resolution == "" and finding.exception_id is None
    opened = AuditEvent.objects.get(verb="finding.opened", subject_id=str(finding.pk))
    assert opened.after["due_at"] == finding.due_at.isoformat()


def test_the_sla_comes_from_the_policy_in_force_and_the_owner_follows_the_identity(
    clock,  # noqa: F811
    owner,
    owner2,
    security,
    iam,
):
    approve_policy(
        iam, propose_policy(security, _with_sla(critical=1, high=3, medium=5, low=10), note="tighter").version
    )
    identity = old_key_identity(owner)
    run_sweep()
    finding = _only(RULE, identity)
    assert finding.due_at == START + timedelta(days={"high": 3, "medium": 5, "low": 10}[finding.severity])
    reassign_owner(iam, [identity], owner2, "reorganisation")
    run_sweep()
    finding.refresh_from_db()
    assert finding.owner == owner2


@pytest.mark.parametrize(
    "sla,message",
    [
        ({"low": 10}, "exactly these severities"),
        ({"low": 10, "medium": 5, "high": 3, "critical": 0}, "1 to 3650"),
        ({"low": 10, "medium": 5, "high": "3", "critical": 1}, "whole number"),
        ({"low": 10, "medium": 5, "high": 30, "critical": 1}, "may not have longer"),
    ],
)
def test_a_bad_sla_is_refused_per_field(security, sla, message):
    document = copy.deepcopy(DEFAULT_POLICY)
    document["finding_sla_days"] = sla
    with pytest.raises(ValidationError) as caught:
        propose_policy(security, document, note="bad")
    assert message in " ".join(caught.value.message_dict["finding_sla_days"])


def test_a_document_without_an_sla_gets_the_defaults(security, iam):
    document = copy.deepcopy(DEFAULT_POLICY)
    del document["finding_sla_days"]
    approve_policy(iam, propose_policy(security, document, note="older document").version)
    assert current_policy().finding_sla_days("critical") == DEFAULT_POLICY["finding_sla_days"]["critical"]


def test_resolution_reasons_fixed_suppressed_by_exception_and_identity_decommissioned(
    clock,  # noqa: F811
    owner,
    security,
    iam,
):
    fixed, covered, gone = (old_key_identity(owner, name=name) for name in ("fixed", "covered", "gone"))
    run_sweep()
    fixed.credentials.update(last_rotated_at=timezone.now())
    exception = exceptions.approve(security, request(owner, covered, days=30))
    inventory.decommission(iam, gone, "replaced")
    clock.shift(timedelta(hours=1))
    run_sweep()

    assert _only(RULE, fixed).resolution == "fixed"
    suppressed = _only(RULE, covered)
    assert suppressed.status == "suppressed" and suppressed.resolution == "suppressed_by_exception"
    assert suppressed.exception_id == exception.pk
    event = AuditEvent.objects.get(verb="finding.suppressed")
    assert event.after["exception"] == exception.pk
    finding = _only(RULE, gone)
    assert finding.status == "resolved" and finding.resolution == "identity_decommissioned"
    assert AuditEvent.objects.filter(
        verb="finding.resolved", reason="The identity was decommissioned."
    ).exists()


def test_the_api_and_the_findings_page_show_the_due_date_and_an_overdue_badge(
    clock,  # noqa: F811
    owner,
    iam,
    api_as,
    client,
):
    identity = old_key_identity(owner)
    run_sweep()
    finding = _only(RULE, identity)
    body = api_as(iam).get(f"/api/v1/findings/{finding.pk}/").json()
    assert body["due_at"] and body["overdue"] is False and body["owner"] == "owner"
    assert body["resolution"] == "" and body["exception"] is None
    clock.move_to(finding.due_at + timedelta(days=1))
    assert api_as(iam).get(f"/api/v1/findings/{finding.pk}/").json()["overdue"] is True
    client.force_login(iam)
    page = client.get("/findings/").content.decode()
    assert 'data-testid="finding-due"' in page and 'data-testid="overdue"' in page
    assert finding.due_at.strftime("%Y-%m-%d") in page


def test_findings_csv_carries_due_date_owner_overdue_resolution_and_exception(
    owner, security, auditor, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    open_one, covered = old_key_identity(owner, name="open-one"), old_key_identity(owner, name="covered")
    run_sweep()
    exception = exceptions.approve(security, request(owner, covered, days=30))
    run_sweep()
    Finding.objects.filter(identity=open_one).update(due_at=timezone.now() - timedelta(days=2))
    export = export_now(auditor, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(Path(django_settings.MEDIA_ROOT) / export.file_path) as zf:
        rows = list(csv.DictReader(io.TextIOWrapper(zf.open("findings.csv"), encoding="utf-8", newline="")))
    by_name = {r["identity_name"]: r for r in rows if r["rule"] == RULE}
    assert by_name["open-one"]["overdue_at_period_end"] == "True" and by_name["open-one"]["owner"] == "owner"
    assert by_name["open-one"]["due_at"]
    assert by_name["covered"]["resolution"] == "suppressed_by_exception"
    assert by_name["covered"]["exception"] == str(exception.pk)
    assert by_name["covered"]["overdue_at_period_end"] == "False"


def test_a_finding_that_clears_because_its_identity_was_suspended_says_so(clock, owner, iam):  # noqa: F811
    from tests.factories import IdentityFactory

    overdue = IdentityFactory(
        owner=owner, name="unreviewed", next_review_due=START.date() - timedelta(days=3)
    )
    run_sweep()
    assert _only("review_overdue", overdue).status == "open"
    inventory.suspend(iam, overdue, "incident")
    run_sweep()
    finding = _only("review_overdue", overdue)
    assert finding.status == "resolved" and finding.resolution == "identity_suspended"


def test_the_api_filters_overdue_findings(clock, owner, iam, api_as):  # noqa: F811
    late = old_key_identity(owner, name="late")
    old_key_identity(owner, name="fresh")
    run_sweep()
    Finding.objects.filter(identity=late).update(due_at=timezone.now() - timedelta(hours=1))
    client = api_as(iam)
    overdue = client.get("/api/v1/findings/", {"overdue": "true"}).json()["results"]
    assert {f["identity_name"] for f in overdue} == {"late"} and all(f["overdue"] for f in overdue)
    on_time = client.get("/api/v1/findings/", {"overdue": "false"}).json()["results"]
    assert "late" not in {f["identity_name"] for f in on_time} and "fresh" in {
        f["identity_name"] for f in on_time
    }


def test_the_findings_page_filters_overdue_ones(clock, owner, iam, client):  # noqa: F811
    late = old_key_identity(owner, name="late")
    old_key_identity(owner, name="fresh")
    run_sweep()
    Finding.objects.filter(identity=late).update(due_at=timezone.now() - timedelta(hours=1))
    client.force_login(iam)
    page = client.get("/findings/", {"overdue": "true"}).content.decode()
    assert '<option value="true" selected>Overdue</option>' in page
    assert ">late<" in page and ">fresh<" not in page
