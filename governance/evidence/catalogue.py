"""Steward's own controls and where they sit in the public frameworks.

The catalogue is data: migration 0008 loads it into the `Control` table (browsable at
/evidence/controls/) and `sync_controls` refreshes it. A control that is enforced through finding
rules names them in `rules`; those rules' framework references (governance/findings/catalogue.py)
are merged into the control's, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from governance.findings.catalogue import ASI, CIS, CSF, ISO, NHI, RULES, SOC2

AI_RMF = "NIST AI RMF"


@dataclass(frozen=True)
class ControlInfo:
    code: str
    name: str
    description: str
    references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[str, ...] = ()
    evidence_files: tuple[str, ...] = ()

    def merged_references(self) -> dict[str, list[str]]:
        merged: dict[str, list[str]] = {}
        sources = [self.references] + [dict(RULES[code].references) for code in self.rules if code in RULES]
        for source in sources:
            for framework, refs in source.items():
                bucket = merged.setdefault(framework, [])
                bucket.extend(ref for ref in refs if ref not in bucket)
        return merged


CONTROLS: list[ControlInfo] = [
    ControlInfo(
        "STW-01",
        "Intake approval",
        "Every non-human identity is approved through intake (risk-tiered steps) before it becomes active.",
        {
            NHI: ("NHI5 Overprivileged NHI", "NHI9 NHI Reuse", "NHI10 Human Use of NHI"),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("GV.OV", "ID.AM-02", "PR.AA-01"),
            AI_RMF: ("GOVERN 1.6", "MANAGE 2.4"),
            SOC2: ("CC6.1", "CC6.2"),
            ISO: ("A.5.9", "A.5.15", "A.5.18"),
            CIS: ("5.3", "6.8"),
        },
        ("unapproved_vendor", "denied_grant"),
        ("approvals.csv", "inventory.csv"),
    ),
    ControlInfo(
        "STW-02",
        "Named ownership",
        "Every identity has a named, active owner (and a backup) who answers for it.",
        {
            NHI: ("NHI1 Improper Offboarding",),
            CSF: ("GV.RR", "ID.AM-02"),
            AI_RMF: ("GOVERN 2.1",),
            SOC2: ("CC6.2",),
            ISO: ("A.5.9",),
        },
        ("orphaned_owner",),
        ("inventory.csv",),
    ),
    ControlInfo(
        "STW-03",
        "Periodic access review",
        "Owners re-certify each identity's access on a cadence set by its risk tier.",
        {
            NHI: ("NHI5 Overprivileged NHI",),
            CSF: ("PR.AA-05", "ID.RA-07"),
            AI_RMF: ("MANAGE 2.4",),
            SOC2: ("CC6.2", "CC6.3"),
            ISO: ("A.5.18",),
            CIS: ("6.8",),
        },
        ("review_overdue",),
        ("reviews.csv", "inventory.csv"),
    ),
    ControlInfo(
        "STW-04",
        "Credential rotation and expiry",
        "Static credentials are rotated within the tier's period and carry an expiry; "
        "revocation is confirmed.",
        {
            NHI: (
                "NHI2 Secret Leakage",
                "NHI6 Insecure Cloud Deployment Configurations",
                "NHI7 Long-Lived Secrets",
            ),
            CSF: ("PR.AA-01",),
            SOC2: ("CC6.1",),
            ISO: ("A.5.17", "A.8.2"),
            CIS: ("5.5",),
        },
        ("credential_rotation_overdue", "credential_no_expiry"),
        ("credentials.csv",),
    ),
    ControlInfo(
        "STW-05",
        "Stale-access detection",
        "A daily sweep flags unused access, use after revocation and use outside the approved scope.",
        {
            NHI: ("NHI1 Improper Offboarding", "NHI5 Overprivileged NHI"),
            ASI: ("ASI10 Rogue Agents",),
            CSF: ("DE.CM-03", "PR.AA-05"),
            SOC2: ("CC6.2", "CC6.3"),
            ISO: ("A.8.2", "A.8.15"),
            CIS: ("5.3",),
        },
        ("stale_unused", "used_after_revocation", "out_of_scope_use", "environment_crossing"),
        ("findings.csv", "grants.csv", "inventory.csv"),
    ),
    ControlInfo(
        "STW-06",
        "Time-bound exceptions",
        "Deviations from policy are approved, carry compensating controls and expire.",
        {
            CSF: ("GV.OV", "ID.RA-07"),
            AI_RMF: ("GOVERN 1.6",),
            SOC2: ("CC6.1",),
            ISO: ("A.5.3",),
        },
        ("exception_expired",),
        ("exceptions.csv", "findings.csv"),
    ),
    ControlInfo(
        "STW-07",
        "Separation of duties",
        "Nobody approves their own request, and one person decides at most one step of a request.",
        {
            NHI: ("NHI10 Human Use of NHI",),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("GV.RR", "PR.AA-05"),
            SOC2: ("CC6.1", "CC6.3"),
            ISO: ("A.5.3", "A.5.15"),
        },
        (),
        ("approvals.csv", "people.csv", "policy_versions.jsonl"),
    ),
    ControlInfo(
        "STW-08",
        "Tamper-evident audit log",
        "Every change is an append-only, hash-chained audit event that can be verified at any time.",
        {
            CSF: ("DE.CM-03",),
            AI_RMF: ("GOVERN 1.6",),
            SOC2: ("CC6.1",),
            ISO: ("A.8.15",),
            CIS: ("6.8",),
        },
        (),
        ("audit_events.jsonl",),
    ),
]

CONTROLS_BY_CODE = {control.code: control for control in CONTROLS}


def references_for_file(filename: str) -> list[str]:
    """Flat framework references of every control that names this pack file."""
    refs: list[str] = []
    for control in CONTROLS:
        if filename in control.evidence_files:
            for framework, items in control.merged_references().items():
                refs.extend(f"{framework}: {item}" for item in items if f"{framework}: {item}" not in refs)
    return refs


def sync_controls(control_model) -> None:
    """Create or refresh the Control rows from this catalogue (used by the migration)."""
    for order, info in enumerate(CONTROLS):
        control_model.objects.update_or_create(
            code=info.code,
            defaults={
                "name": info.name,
                "description": info.description,
                "references": info.merged_references(),
                "rules": list(info.rules),
                "order": order,
            },
        )


def ensure_loaded():
    """The Control rows, reloading the catalogue if they are missing (e.g. after a test flush)."""
    from django.db import transaction

    from governance.evidence.models import Control

    if Control.objects.count() != len(CONTROLS):
        with transaction.atomic():
            sync_controls(Control)
    return Control.objects.all()
