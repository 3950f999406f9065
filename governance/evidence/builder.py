"""Build an evidence pack: a zip streamed to a temporary file, hashed as it is written, then renamed.

A pack is never half-written and `ready`: the zip is written to `<name>.<attempt>.part`, renamed when
complete, and only then is the export marked ready (conditionally, in a transaction with its audit
event). Any exception marks it failed and removes the partial file.

A worker killed mid-build (SIGKILL, OOM, a lost node) can do neither: its pack stays `pending` with a
stale claim. The `evidence_recovery` scheduled job rebuilds such packs, and fails one whose builds
were interrupted `MAX_BUILD_ATTEMPTS` times, removing the partial files either way.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from governance import audit, links, signing
from governance.actors import system
from governance.checkpoints import sign_checkpoint
from governance.csv_safety import safe_row
from governance.evidence.catalogue import CONTROLS_BY_CODE, ensure_loaded, references_for_file
from governance.evidence.models import EvidenceExport
from governance.evidence.origins import ORIGIN_HEADER, origins_section
from governance.evidence.people_policy import (
    POLICY_VERSIONS_POPULATION,
    people_section,
    policy_version_records,
)
from governance.evidence.review_records import (
    POPULATION_DEFINITION,
    campaigns_queryset,
    population_records,
    remediation_figures,
)
from governance.evidence.rows import CHUNK, period_bounds
from governance.evidence.sections import INVENTORY_HEADER, build_sections
from governance.evidence.status import control_statuses
from governance.evidence.summary import render_summary
from governance.evidence.verify_doc import render_verify_doc
from governance.models import AuditChainHead, AuditEvent

log = logging.getLogger(__name__)

GENERATOR = "steward-evidence/1"
SIGNATURE_FILE = "manifest.sig"
EVIDENCE_DIR = "evidence"
# A claim older than this belongs to a worker that died; generous, as a large estate builds in minutes.
BUILD_LEASE = timedelta(minutes=getattr(settings, "STEWARD_EVIDENCE_BUILD_LEASE_MINUTES", 30))
MAX_BUILD_ATTEMPTS = 3
# A pack no worker ever claimed (its message was lost, or the broker was down) waits this long.
QUEUE_GRACE = timedelta(minutes=5)
CONTROL_HEADER = [
    "code", "name", "description", "framework_references", "finding_rules", "live_status",
    "mapping_rationale",
]  # fmt: skip


class HashingWriter(io.RawIOBase):
    """Passes bytes to the zip entry while hashing and counting them."""

    def __init__(self, target):
        self.target = target
        self.digest = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        data = bytes(data)
        self.digest.update(data)
        self.size += len(data)
        self.target.write(data)
        return len(data)


def _cell(value):
    """Times and dates in ISO 8601 in every file, whatever a row function handed over."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _json_value(value):
    return value.isoformat() if isinstance(value, (datetime, date)) else str(value)


class PackWriter:
    def __init__(self, zf: zipfile.ZipFile, on_file=None):
        self.zf = zf
        self.files: dict[str, dict] = {}
        self.on_file = on_file  # called with the number of files written after each one

    def _entry(self, name: str, write) -> int:
        with self.zf.open(name, "w", force_zip64=True) as raw:
            hashing = HashingWriter(raw)
            text = io.TextIOWrapper(hashing, encoding="utf-8", newline="", write_through=True)
            rows = write(text)
            text.flush()
            text.detach()
        self.files[name] = {
            "sha256": hashing.digest.hexdigest(),
            "bytes": hashing.size,
            "rows": rows,
            "framework_references": references_for_file(name),
        }
        if self.on_file is not None:
            self.on_file(len(self.files))
        return rows

    def csv(self, name: str, header: list[str], rows) -> int:
        def write(text):
            writer = csv.writer(text)
            writer.writerow(header)
            count = 0
            for row in rows:
                writer.writerow(safe_row([_cell(value) for value in row]))
                count += 1
            return count

        return self._entry(name, write)

    def text(self, name: str, content: str, rows: int = 0) -> int:
        def write(text):
            text.write(content)
            return rows

        return self._entry(name, write)

    def jsonl(self, name: str, records) -> int:
        def write(text):
            count = 0
            for record in records:
                text.write(json.dumps(record, sort_keys=True, ensure_ascii=False, default=_json_value))
                text.write("\n")
                count += 1
            return count

        return self._entry(name, write)


class OriginTally:
    """Counts identity_origins.csv's rows as they stream into the pack, for summary.html."""

    def __init__(self):
        self.figures = {"rows": 0, "approved": 0, "awaiting": 0, "missing": 0, "unapproved_ids": []}

    def count(self, rows):
        status = ORIGIN_HEADER.index("approval_status")
        for row in rows:
            self.figures["rows"] += 1
            self.figures[row[status]] = self.figures.get(row[status], 0) + 1
            if row[status] == "missing" and len(self.figures["unapproved_ids"]) < 50:
                self.figures["unapproved_ids"].append(f"#{row[0]} {row[1]}")
            yield row


class EstateTally:
    """Identities by status as at the period's end, counted from inventory.csv's rows as they stream
    (the file is the population as it was, governance.evidence.period_end)."""

    def __init__(self, period_end):
        self.last_day = period_end.isoformat()
        self.figures = {"by_status": {}, "active": 0, "reviewed_on_time": 0}

    def count(self, rows):
        status, due = INVENTORY_HEADER.index("status"), INVENTORY_HEADER.index("next_review_due")
        by_status = self.figures["by_status"]
        for row in rows:
            by_status[row[status]] = by_status.get(row[status], 0) + 1
            if row[status] == "active":
                self.figures["active"] += 1
                self.figures["reviewed_on_time"] += bool(row[due]) and row[due] >= self.last_day
            yield row


def audit_record(event: AuditEvent) -> dict:
    record = event.hashed_fields()
    record["hash"] = event.hash
    return record


def pack_path(export: EvidenceExport) -> Path:
    return Path(settings.MEDIA_ROOT) / EVIDENCE_DIR / export.filename


# Files written besides the row sections: review_population, policy_versions, audit_events, controls,
# summary.html, VERIFY.md; and the manifest with its signature, counted as one last step.
FIXED_FILES = 7


def pack_steps(sections) -> int:
    """The steps of a build: every section's file, origins and people, then FIXED_FILES."""
    return len(sections) + 2 + FIXED_FILES


def write_pack(export: EvidenceExport, target: Path, progress=None) -> dict:
    """Write the whole pack to `target`; return the manifest. `progress(done, total)` hears of each
    file written (the build records it on the export)."""
    start, end = period_bounds(export.period_start, export.period_end)
    _sweep_if_never_run()
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, audit.GENESIS_HASH)
    # The head at export is signed with the checkpoint key, and the head at the period's end stated:
    # a pack whose period has no events still binds to the chain (issue 19 item 3).
    checkpoint = sign_checkpoint(f"evidence export #{export.pk}", seq=head_seq, head_hash=head_hash)
    chain = {
        "head_seq": head_seq,
        "head_hash": head_hash,
        "checkpoint": checkpoint.jws,
        "at_period_end": _head_at(end, head_seq),
    }
    evidence_key = signing.signing_key("evidence")  # fail before the build if it cannot be signed
    generated_at = timezone.now()
    statuses = control_statuses()
    sections = build_sections(start, end)
    total = pack_steps(sections)
    report = (lambda done: progress(done, total)) if progress is not None else None
    if report is not None:
        report(0)
    population = {}
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        pack = PackWriter(zf, on_file=report)
        origins, estate = OriginTally(), EstateTally(export.period_end)
        for section in [*sections, origins_section(start, end), people_section(start, end)]:
            rows = section.rows()
            if section.filename == "identity_origins.csv":
                rows = origins.count(rows)
            elif section.filename == "inventory.csv":
                rows = estate.count(rows)
            pack.csv(section.filename, section.header, rows)
            population[section.filename] = section.selection
        pack.jsonl("review_population.jsonl", population_records(start, end))
        population["review_population.jsonl"] = POPULATION_DEFINITION
        pack.jsonl("policy_versions.jsonl", policy_version_records(start, end))
        population["policy_versions.jsonl"] = POLICY_VERSIONS_POPULATION
        events = AuditEvent.objects.filter(at__gte=start, at__lt=end, seq__lte=head_seq).order_by("seq")
        pack.jsonl("audit_events.jsonl", (audit_record(e) for e in events.iterator(chunk_size=CHUNK)))
        population["audit_events.jsonl"] = (
            "Every audit event in the period up to the chain head at export time, with its hash and the "
            "previous event's hash."
        )
        controls = list(ensure_loaded())
        pack.csv(
            "controls.csv",
            CONTROL_HEADER,
            (
                [
                    c.code,
                    c.name,
                    c.description,
                    "; ".join(c.reference_list()),
                    ";".join(c.rules),
                    statuses[c.code].text if c.code in statuses else "",
                    " | ".join(CONTROLS_BY_CODE[c.code].rationale_list())
                    if c.code in CONTROLS_BY_CODE
                    else "",
                ]  # fmt: skip
                for c in controls
            ),
        )
        population["controls.csv"] = (
            "Steward's control catalogue with each control's live status at export time."
        )
        counts = {name: meta["rows"] for name, meta in pack.files.items()}
        pack.text(
            "summary.html",
            render_summary(
                export,
                start,
                end,
                counts,
                controls,
                statuses,
                {
                    **_summary_figures(start, end),
                    "origins": origins.figures,
                    **estate.figures,
                    **_summary_context(export, start, end, population, generated_at, evidence_key),
                },
            ),
        )
        pack.text("VERIFY.md", render_verify_doc(evidence_key, chain))
        manifest = {
            "generator": GENERATOR,
            "steward_version": steward_version(),
            "instance": settings.STEWARD_BASE_URL,
            "export_id": export.pk,
            "requested_by": export.requested_by.username,
            "generated_at": generated_at.isoformat(),
            "period": {
                "start": export.period_start.isoformat(),
                "end": export.period_end.isoformat(),
                "from": start.isoformat(),
                "until": end.isoformat(),
                "time_zone": str(timezone.get_current_timezone()),
            },
            "population": population,
            "row_counts": {name: meta["rows"] for name, meta in pack.files.items() if name not in UNCOUNTED},
            "files": pack.files,
            "audit_chain": chain,
            "signature": {
                "file": SIGNATURE_FILE,
                "kid": evidence_key.kid,
                "alg": evidence_key.algorithm,
                "typ": signing.PURPOSES["evidence"].typ,
                "jwks_uri": links.absolute(links.link("jwks")),
            },
        }
        manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode("utf-8")
        with zf.open("manifest.json", "w") as raw:
            raw.write(manifest_bytes)
        # A JWS with a detached payload over the exact bytes of manifest.json (CONTRACT).
        with zf.open(SIGNATURE_FILE, "w") as raw:
            raw.write(signing.sign_detached("evidence", manifest_bytes).encode("ascii"))
    return manifest


# Files with no rows to count: prose, not populations.
UNCOUNTED = {"summary.html", "VERIFY.md"}


def _head_at(moment: datetime, head_seq: int) -> dict:
    """The chain's last event before `moment` (the period's end), and the newest checkpoint signed
    before it, if any: what the chain looked like when the period closed."""
    from governance.models import AuditCheckpoint

    last = (
        AuditEvent.objects.filter(at__lt=moment, seq__lte=head_seq)
        .order_by("-seq")
        .values_list("seq", "hash")
        .first()
    )
    seq, head_hash = last or (0, audit.GENESIS_HASH)
    signed = AuditCheckpoint.objects.filter(signed_at__lt=moment).order_by("-signed_at", "-id").first()
    return {"seq": seq, "hash": head_hash, "checkpoint": signed.jws if signed else None}


def _sweep_if_never_run() -> None:
    """A fresh install sweeps before its first pack, so the findings in it were looked for at least
    once (a pack whose period saw no sweep says so in summary.html)."""
    from governance.jobs.models import JobRun
    from governance.jobs.runner import run_job

    if not JobRun.objects.filter(name="sweep", ok=True).exists():
        run_job("sweep", trigger="evidence")


def steward_version() -> str:
    """The release that made the pack: STEWARD_VERSION when the deployment sets it, else the installed
    package's version; never empty (an auditor asked which software produced the files)."""
    configured = getattr(settings, "STEWARD_VERSION", "")
    if configured:
        return configured
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("steward")
    except PackageNotFoundError:
        return "unknown (not installed as a package)"


def _summary_context(export, start, end, population, generated_at, evidence_key) -> dict:
    """What summary.html states besides the figures: who and what made it, the definitions, the
    policy in force, the exceptions, and whether the sweep ran at all in the period."""
    from governance.evidence.people_policy import policy_version_records
    from governance.evidence.sections import exceptions_queryset
    from governance.jobs.models import JobRun

    exceptions = exceptions_queryset(start, end)
    return {
        "instance": settings.STEWARD_BASE_URL,
        "steward_version": steward_version(),
        "generated_at": generated_at,
        "preparer": export.requested_by,
        "population": dict(population),
        "policies": list(policy_version_records(start, end)),
        "exception_rows": list(exceptions[:200]),
        "sweeps_in_period": JobRun.objects.filter(
            name="sweep", ok=True, started_at__gte=start, started_at__lt=end
        ).count(),
        "evidence_kid": evidence_key.kid,
        "campaigns": list(campaigns_queryset(start, end)[:50]),
    }


def _summary_figures(start, end) -> dict:
    from governance.findings.models import Finding
    from inventory.models import Credential

    revoked = list(
        Credential.objects.filter(revoked_at__gte=start, revoked_at__lt=end).values_list(
            "revoked_at", "revocation_confirmed_at"
        )[:100_000]
    )
    lags = [(done - at).total_seconds() / 3600 for at, done in revoked if done]
    findings = dict(
        Finding.objects.filter(first_seen_at__gte=start, first_seen_at__lt=end)
        .values_list("rule")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {
        "exceptions": _exception_figures(start, end),
        "review_decisions": _review_decisions(start, end),
        "remediation": remediation_figures(start, end),
        "revocations": len(revoked),
        "revocations_confirmed": len(lags),
        "median_lag_hours": sorted(lags)[len(lags) // 2] if lags else None,
        "max_lag_hours": max(lags) if lags else None,
        "findings_by_rule": findings,
    }


def _exception_figures(start, end) -> dict[str, int] | None:
    """Exceptions requested, approved, expired and revoked in the period (one aggregate query)."""
    from governance.exceptions.models import PolicyException

    in_period = {"gte": start, "lt": end}
    state = PolicyException.State

    def during(field: str, **extra) -> Q:
        return Q(**{f"{field}__{op}": at for op, at in in_period.items()}, **extra)

    return PolicyException.objects.aggregate(
        opened=Count("id", filter=during("created_at")),
        approved=Count("id", filter=during("approved_at")),
        expired=Count("id", filter=during("ended_at", state=state.EXPIRED)),
        revoked=Count("id", filter=during("ended_at", state=state.REVOKED)),
        active_at_end=Count(
            "id",
            filter=Q(approved_at__lt=end, expires_at__gte=end)
            & (Q(ended_at__isnull=True) | Q(ended_at__gte=end)),
        ),
    )


def _review_decisions(start, end) -> dict[str, int]:
    """Review items decided in the period, by decision (one grouped query)."""
    from governance.reviews.models import ReviewItem

    return dict(
        ReviewItem.objects.filter(decided_at__gte=start, decided_at__lt=end)
        .values_list("decision")
        .annotate(n=Count("id"))
        .order_by()
    )


def _claim(export_id: int, now: datetime) -> int | None:
    """Take the build with a compare-and-set; the attempt number, or None if someone else holds it."""
    fresh = Q(started_at__isnull=True) | Q(started_at__lt=now - BUILD_LEASE)
    claimed = (
        EvidenceExport.objects.filter(fresh, pk=export_id, state=EvidenceExport.State.PENDING)
        .filter(attempts__lt=MAX_BUILD_ATTEMPTS)
        .update(started_at=now, attempts=F("attempts") + 1, progress_done=0, progress_total=None)
    )
    if not claimed:
        return None
    return EvidenceExport.objects.values_list("attempts", flat=True).get(pk=export_id)


def _ours(export: EvidenceExport, claimed_at: datetime):
    """The export row, still pending under our claim (locked until the transaction ends), or None."""
    return (
        EvidenceExport.objects.select_for_update()
        .filter(pk=export.pk, state=EvidenceExport.State.PENDING, started_at=claimed_at)
        .first()
    )


def partial_files(export: EvidenceExport) -> list[Path]:
    final = pack_path(export)
    return sorted(final.parent.glob(final.name + ".*part"))


def build_pack(export_id: int, now: datetime | None = None) -> EvidenceExport | None:
    export = EvidenceExport.objects.select_related("requested_by").filter(pk=export_id).first()
    if export is None or export.state != EvidenceExport.State.PENDING:
        return export
    claimed_at = now or timezone.now()
    attempt = _claim(export.pk, claimed_at)
    if attempt is None:
        export.refresh_from_db()
        return export  # another worker is building it, or it ran out of attempts
    final = pack_path(export)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f"{final.name}.{attempt}.part")

    def record_progress(done: int, total: int) -> None:
        # A plain update outside any transaction, under our claim only: the page sees it at once.
        EvidenceExport.objects.filter(
            pk=export.pk, state=EvidenceExport.State.PENDING, started_at=claimed_at
        ).update(progress_done=min(done, total), progress_total=total)

    try:
        manifest = write_pack(export, partial, progress=record_progress)
        digest = hashlib.sha256()
        with open(partial, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        size = partial.stat().st_size
        with transaction.atomic():
            if _ours(export, claimed_at) is None:
                # Our claim lapsed and another build took over: leave the pack to it.
                partial.unlink(missing_ok=True)
            else:
                os.replace(partial, final)
                EvidenceExport.objects.filter(pk=export.pk).update(
                    state=EvidenceExport.State.READY,
                    file_path=f"{EVIDENCE_DIR}/{final.name}",
                    sha256=digest.hexdigest(),
                    size=size,
                    manifest=manifest,
                    finished_at=timezone.now(),
                    progress_done=F("progress_total"),
                )
                audit.record(
                    system("evidence"),
                    "evidence.export_ready",
                    export,
                    after={"sha256": digest.hexdigest(), "row_counts": manifest["row_counts"]},
                )
    except Exception as exc:  # noqa: BLE001 - any failure marks the export failed, never half-ready
        log.exception("evidence export %s failed", export.pk)
        partial.unlink(missing_ok=True)
        with transaction.atomic():
            if EvidenceExport.objects.filter(
                pk=export.pk, state=EvidenceExport.State.PENDING, started_at=claimed_at
            ).update(state=EvidenceExport.State.FAILED, error=str(exc)[:2000], finished_at=timezone.now()):
                audit.record(system("evidence"), "evidence.export_failed", export, reason=str(exc)[:500])
    export.refresh_from_db()
    return export


def recover_stuck_exports(now: datetime | None = None) -> dict:
    """The scheduled job: rebuild packs whose worker died (or whose build was never queued), and fail
    those interrupted too often. Never touches a pack whose build is still within its lease."""
    now = now or timezone.now()
    stuck = list(
        EvidenceExport.objects.filter(state=EvidenceExport.State.PENDING)
        .filter(
            Q(started_at__lt=now - BUILD_LEASE) | Q(started_at__isnull=True, created_at__lt=now - QUEUE_GRACE)
        )
        .order_by("created_at", "id")
    )
    rebuilt = failed = 0
    for export in stuck:
        for leftover in partial_files(export):
            leftover.unlink(missing_ok=True)
        if export.attempts < MAX_BUILD_ATTEMPTS:
            rebuilt += build_pack(export.pk, now).state == EvidenceExport.State.READY
            continue
        reason = f"The build was interrupted {export.attempts} times (the worker was lost); request it again."
        with transaction.atomic():
            if EvidenceExport.objects.filter(
                pk=export.pk, state=EvidenceExport.State.PENDING, started_at=export.started_at
            ).update(state=EvidenceExport.State.FAILED, error=reason, finished_at=now):
                audit.record(system("evidence"), "evidence.export_failed", export, reason=reason)
                failed += 1
    return {"stuck": len(stuck), "rebuilt": rebuilt, "failed": failed}
