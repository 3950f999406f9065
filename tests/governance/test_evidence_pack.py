"""Evidence packs: what is in them, that they verify, and that tampering is caught and named."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import struct
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from governance.errors import NotAllowed
from governance.evidence import rows, sections
from governance.evidence.models import EvidenceExport
from governance.evidence.services import request_export
from governance.evidence.verifier import verify_pack
from governance.models import AuditEvent
from tests.governance.evidence_support import export_now, small_estate

pytestmark = pytest.mark.django_db

PACK_FILES = {
    "manifest.json", "inventory.csv", "grants.csv", "credentials.csv", "approvals.csv", "exceptions.csv",
    "reviews.csv", "findings.csv", "audit_events.jsonl", "controls.csv", "summary.html",
    "manifest.sig", "VERIFY.md", "people.csv", "policy_versions.jsonl", "identity_origins.csv",
    "review_campaigns.csv", "review_population.jsonl", "threat_profiles.csv",
}  # fmt: skip


def _pack(export) -> Path:
    from django.conf import settings

    return Path(settings.MEDIA_ROOT) / export.file_path


def _csv_rows(zf, name):
    with zf.open(name) as fh:
        return list(csv.reader(io.TextIOWrapper(fh, encoding="utf-8", newline="")))


def _rewrite(src: Path, dst: Path, name: str, change):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, change(data) if item.filename == name else data)


def test_a_ready_pack_holds_every_contract_file_and_each_hashes_to_its_manifest(
    auditor, owner, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)

    assert export.state == EvidenceExport.State.READY, export.error
    with zipfile.ZipFile(_pack(export)) as zf:
        assert set(zf.namelist()) == PACK_FILES
        manifest = json.loads(zf.read("manifest.json"))
        for name, meta in manifest["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"], name
    assert manifest["requested_by"] == "auditor"
    assert manifest["period"]["start"] == export.period_start.isoformat()
    assert set(manifest["population"]) >= {"inventory.csv", "audit_events.jsonl"}
    assert manifest["files"]["credentials.csv"]["framework_references"]
    assert manifest["row_counts"]["controls.csv"] == 9
    assert verify_pack(_pack(export)).ok
    assert hashlib.sha256(_pack(export).read_bytes()).hexdigest() == export.sha256


def test_manifest_counts_equal_rows_in_files_and_in_the_database(
    auditor, owner, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    start, end = rows.period_bounds(export.period_start, export.period_end)
    expected = {
        "inventory.csv": sections.inventory_queryset(start, end).count(),
        "grants.csv": sections.grants_queryset(start, end).count(),
        "credentials.csv": sections.credentials_queryset(start, end).count(),
        "approvals.csv": sections.approvals_queryset(start, end).count(),
        "findings.csv": sections.findings_queryset(start, end).count(),
    }
    assert (
        expected["inventory.csv"] == 4 and expected["credentials.csv"] == 5 and expected["findings.csv"] == 1
    )
    with zipfile.ZipFile(_pack(export)) as zf:
        counts = json.loads(zf.read("manifest.json"))["row_counts"]
        for name, db_count in expected.items():
            assert counts[name] == db_count == len(_csv_rows(zf, name)) - 1, name
        events = zf.read("audit_events.jsonl").decode().splitlines()
        assert counts["audit_events.jsonl"] == len(events)
        # the export's own request is an audit event in the period, and so is in the pack
        assert json.loads(events[-1])["verb"] == "evidence.export_requested"
        in_period = AuditEvent.objects.filter(
            at__gte=start, at__lt=end, seq__lte=json.loads(events[-1])["seq"]
        )
        assert len(events) == in_period.count()
        assert {"hash", "prev_hash"} <= set(json.loads(events[0]))


def test_sections_without_rows_keep_their_header(auditor, django_capture_on_commit_callbacks):
    export = export_now(auditor, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(_pack(export)) as zf:
        reviews = _csv_rows(zf, "reviews.csv")
        assert reviews[0][:8] == [
            "id", "campaign", "identity", "identity_name", "reviewer", "decision", "reason", "decided_at"
        ]  # fmt: skip
        assert "remediation_confirmed_at" in reviews[0]
        assert len(_csv_rows(zf, "exceptions.csv")) == 1
        approvals = _csv_rows(zf, "approvals.csv")[0]
        assert {"requester", "approver", "decided_at"} <= set(approvals)


def test_csv_cells_are_neutralised_and_revocations_show_their_confirmation(
    auditor, owner, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(_pack(export)) as zf:
        inventory = _csv_rows(zf, "inventory.csv")
        assert "'=cmd|evil" in [row[1] for row in inventory]
        header, *rows = _csv_rows(zf, "credentials.csv")
        revoked = [dict(zip(header, row, strict=True)) for row in rows if row[header.index("revoked_at")]]
        assert len(revoked) == 1
        assert revoked[0]["revocation_confirmed_at"] and revoked[0]["remediation_lag_hours"] == "24.0"
        summary = zf.read("summary.html").decode()
        assert "Steward evidence pack" in summary and "http" not in summary
        assert "STW-08" in summary


def test_changing_one_byte_makes_verify_evidence_fail_naming_the_file(
    auditor, owner, tmp_path, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    call_command("verify_evidence", str(_pack(export)))  # intact: exits 0

    tampered = tmp_path / "tampered.zip"
    _rewrite(
        _pack(export), tampered, "grants.csv", lambda data: data[:-2] + bytes([data[-2] ^ 1]) + data[-1:]
    )
    with pytest.raises(CommandError) as failure:
        call_command("verify_evidence", str(tampered))
    assert failure.value.returncode == 1
    assert "grants.csv" in str(failure.value)


def test_flipping_a_raw_byte_inside_the_zip_is_reported_against_that_file(
    auditor, owner, tmp_path, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    data = bytearray(_pack(export).read_bytes())
    with zipfile.ZipFile(_pack(export)) as zf:
        info = zf.getinfo("inventory.csv")
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26 : info.header_offset + 30])
    offset = info.header_offset + 30 + name_len + extra_len + 5  # a byte inside the compressed data
    data[offset] ^= 0xFF
    broken = tmp_path / "flipped.zip"
    broken.write_bytes(bytes(data))
    result = verify_pack(broken)
    assert not result.ok
    assert any("inventory.csv" in problem for problem in result.problems)


def test_a_pack_whose_period_includes_an_edited_audit_row_is_reported(
    auditor, owner, django_capture_on_commit_callbacks
):
    small_estate(owner)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    victim = AuditEvent.objects.order_by("seq")[1]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # someone with superuser rights bypasses the trigger
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("UPDATE governance_auditevent SET reason = %s WHERE seq = %s", ["edited", victim.seq])
    result = verify_pack(_pack(export))
    assert not result.ok
    assert result.broken_seq == victim.seq
    assert f"audit event {victim.seq} was edited" in result.message


def test_requesting_a_pack_is_audited_and_its_completion_too(iam, django_capture_on_commit_callbacks):
    export = export_now(iam, django_capture_on_commit_callbacks)
    verbs = list(
        AuditEvent.objects.filter(subject_type="governance.evidenceexport", subject_id=str(export.pk))
        .order_by("seq")
        .values_list("verb", "actor")
    )
    assert verbs == [("evidence.export_requested", "iam"), ("evidence.export_ready", "system:evidence")]


@pytest.mark.parametrize(
    ("start", "end", "field"),
    [
        ("2026-13-01", "2026-01-02", "period_start"),
        ("2026-02-01", "2026-01-01", "period_end"),
        ("", "", "period_start"),
    ],
)
def test_a_bad_or_inverted_period_is_refused_without_writing(iam, start, end, field):
    with pytest.raises(ValidationError) as refused:
        request_export(iam, start, end)
    assert field in refused.value.message_dict
    assert not EvidenceExport.objects.exists()


def test_owners_cannot_export_evidence(owner):
    with pytest.raises(NotAllowed):
        request_export(owner, "2026-01-01", "2026-01-31")


def test_a_build_that_raises_is_failed_and_leaves_no_file(
    auditor, monkeypatch, django_capture_on_commit_callbacks
):
    from governance.evidence import builder

    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(builder, "render_summary", boom)
    export = export_now(auditor, django_capture_on_commit_callbacks)
    assert export.state == EvidenceExport.State.FAILED
    assert "disk on fire" in export.error
    assert not export.file_path
    assert not list((Path(builder.settings.MEDIA_ROOT) / "evidence").glob("*"))


def test_a_review_revoked_in_the_period_shows_its_remediation_time(
    auditor, iam, owner, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone

    from governance.reviews.services.decisions import confirm_remediation, decide
    from governance.reviews.services.launch import launch_campaign
    from tests.factories import CredentialFactory, IdentityFactory

    identity = IdentityFactory(owner=owner, name="revoked-in-review", risk_tier="low")
    CredentialFactory(identity=identity)
    campaign = launch_campaign(iam, "Q4 review", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=14))
    item = campaign.items.get(identity=identity)
    decide(owner, item, "revoke", reason="no longer used")
    confirm_remediation(iam, item, "key deleted, ticket SEC-42")
    export = export_now(auditor, django_capture_on_commit_callbacks)
    with zipfile.ZipFile(_pack(export)) as zf:
        header, *rows = _csv_rows(zf, "reviews.csv")
    row = next(
        dict(zip(header, r, strict=True)) for r in rows if r[header.index("identity_name")] == identity.name
    )
    assert row["decision"] == "revoke" and row["reason"] == "no longer used"
    assert row["decided_at"] and row["remediation_confirmed_at"]
    assert row["decided_by"] == "owner" and row["remediation_confirmed_by"] == "iam"
    identity.refresh_from_db()
    assert identity.status == "suspended"


def test_the_summary_counts_exceptions_opened_expired_and_revoked_and_reviews_by_decision(
    auditor, iam, owner, security, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    from governance.exceptions import services as exceptions
    from governance.reviews.services.decisions import decide
    from governance.reviews.services.launch import launch_campaign
    from tests.factories import IdentityFactory
    from tests.governance.exceptions_support import old_key_identity
    from tests.governance.exceptions_support import request as request_exception

    expiring = exceptions.approve(security, request_exception(owner, old_key_identity(owner), days=5))
    revoked = exceptions.approve(security, request_exception(owner, old_key_identity(owner)))
    exceptions.revoke_exception(security, revoked, "fixed at the source")
    request_exception(owner, old_key_identity(owner))  # still waiting for approval
    IdentityFactory(owner=owner, name="certified-bot", risk_tier="low")
    campaign = launch_campaign(iam, "Q1", {"risk_tiers": ["low"]}, timezone.now() + timedelta(days=14))
    items = list(campaign.items.order_by("pk"))
    decide(owner, items[0], "certify", reason="still needed")
    with time_machine.travel(timezone.now() + timedelta(days=6)):
        assert exceptions.expire_due(timezone.now()) == 1
        export = export_now(auditor, django_capture_on_commit_callbacks)
    expiring.refresh_from_db()
    assert expiring.state == "expired"

    with zipfile.ZipFile(_pack(export)) as zf:
        summary = zf.read("summary.html").decode()
        counts = json.loads(zf.read("manifest.json"))["row_counts"]
        assert counts["exceptions.csv"] == len(_csv_rows(zf, "exceptions.csv")) - 1 == 3
        assert counts["reviews.csv"] == len(_csv_rows(zf, "reviews.csv")) - 1 == len(items)
    for label, n in (
        ("Requested in the period", 3),
        ("Approved in the period", 2),
        ("Expired in the period", 1),
        ("Revoked in the period", 1),
        ("Active at the period&#x27;s end", 0),
    ):
        assert f"<tr><td>{label}</td><td>{n}</td></tr>" in summary, label
    assert "<tr><td>certify</td><td>1</td></tr>" in summary


def test_grants_and_findings_rows_load_only_their_columns_in_a_fixed_number_of_queries(owner, iam):
    """The two largest files read only the columns they write (`.only`): the same rows as from whole
    model instances, and no query a row for a column left out, however many rows there are."""
    from django.test.utils import CaptureQueriesContext

    from governance.evidence.services import default_period
    from governance.findings.models import Finding
    from tests.factories import GrantFactory

    start, end = rows.period_bounds(*default_period())
    identities = small_estate(owner)

    def files():
        chosen = {s.filename: s for s in sections.build_sections(start, end)}
        with CaptureQueriesContext(connection) as queries:
            rows = {name: list(chosen[name].rows()) for name in ("grants.csv", "findings.csv")}
        return rows, len(queries.captured_queries)

    few, few_queries = files()
    for identity in identities:
        GrantFactory(identity=identity)
        Finding.objects.create(rule="owner_inactive", identity=identity, severity="high", owner=iam)
    many, many_queries = files()
    assert len(many["grants.csv"]) == 2 * len(few["grants.csv"]) and len(many["findings.csv"]) == 5
    assert many_queries == few_queries
    assert many["grants.csv"] == [sections._grant_row(g, end) for g in sections.grants_queryset(start, end)]
    assert many["findings.csv"] == [
        sections._finding_row(f, end) for f in sections.findings_queryset(start, end)
    ]
    assert {row[12] for row in many["findings.csv"]} == {"", "iam"}  # the owner's username is there
