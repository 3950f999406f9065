"""Steward's own controls and where they sit in the public frameworks.

The catalogue is data: migration 0008 loads it into the `Control` table (browsable at
/evidence/controls/) and `sync_controls` refreshes it. A control that is enforced through finding
rules names them in `rules`; those rules' framework references (governance/findings/catalogue.py)
are merged into the control's, so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from governance.findings.catalogue import ASI, CIS, CSF, ISO, MAESTRO, NHI, RULES, SOC2

AI_RMF = "NIST AI RMF 1.0"


@dataclass(frozen=True)
class ControlInfo:
    code: str
    name: str
    description: str
    references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    rules: tuple[str, ...] = ()
    evidence_files: tuple[str, ...] = ()
    # One line per framework: why this control meets the references named (rules' ones included).
    rationale: dict[str, str] = field(default_factory=dict)

    def rationale_list(self) -> list[str]:
        return [f"{framework}: {why}" for framework, why in self.rationale.items()]

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
            CSF: ("ID.AM-02", "PR.AA-01", "PR.AA-05"),
            AI_RMF: ("GOVERN 1.6", "MANAGE 2.4"),
            SOC2: ("CC6.1", "CC6.2"),
            ISO: ("A.5.9", "A.5.15", "A.5.18"),
            CIS: ("5.1", "5.5", "6.1"),
            MAESTRO: ("L6 Security and Compliance", "L7 Agent Ecosystem"),
        },
        ("unapproved_vendor", "denied_grant"),
        ("approvals.csv", "identity_origins.csv", "inventory.csv"),
        {
            NHI: "Each identity gets a stated purpose, owner and least-privilege grants before use.",
            ASI: "An agent's identity and privileges are decided before it acts, not assumed by it.",
            CSF: "Identities are inventoried (ID.AM-02), issued and managed (PR.AA-01) and authorised "
            "by policy (PR.AA-05) at intake.",
            AI_RMF: "AI identities enter an inventory (GOVERN 1.6) through a risk-tiered decision to deploy "
            "(MANAGE 2.4).",
            SOC2: "Access is registered and authorised before credentials are issued (CC6.1, CC6.2).",
            ISO: "Assets are inventoried (A.5.9); access is granted under the access control policy "
            "(A.5.15, A.5.18).",
            CIS: "Accounts and service accounts are inventoried (5.1, 5.5) through an access granting "
            "process (6.1); deny rules bound what a role may hold (6.8).",
            MAESTRO: "An agent's identity and scope are decided at L6 before it joins the ecosystem (L7); "
            "vendors and models are vetted there too.",
        },
    ),
    ControlInfo(
        "STW-02",
        "Named ownership",
        "Every identity has a named, active owner (and a backup) who answers for it.",
        {
            NHI: ("NHI1 Improper Offboarding",),
            CSF: ("GV.RR-02", "ID.AM-02"),
            AI_RMF: ("GOVERN 2.1",),
            SOC2: ("CC6.2",),
            ISO: ("A.5.9",),
        },
        ("orphaned_owner",),
        ("inventory.csv",),
        {
            NHI: "An identity whose owner left is found and re-homed instead of lingering.",
            CSF: "A named person is responsible for each identity (GV.RR-02) in the inventory (ID.AM-02).",
            AI_RMF: "Responsibility for each AI system is assigned to a named person (GOVERN 2.1).",
            SOC2: "Someone answers for each registered identity, and departures remove it (CC6.2).",
            ISO: "Each asset in the inventory has an owner (A.5.9); ownership follows people (A.5.16).",
            CIS: "The service-account inventory records each account's owner (5.5).",
        },
    ),
    ControlInfo(
        "STW-03",
        "Periodic access review",
        "Owners re-certify each identity's access on a cadence set by its risk tier.",
        {
            NHI: ("NHI5 Overprivileged NHI",),
            CSF: ("PR.AA-05",),
            AI_RMF: ("MANAGE 2.4",),
            SOC2: ("CC6.2", "CC6.3"),
            ISO: ("A.5.18",),
            CIS: ("5.5", "6.2"),
            MAESTRO: ("L6 Security and Compliance",),
        },
        ("review_overdue",),
        ("reviews.csv", "inventory.csv"),
        {
            NHI: "Owners re-certify grants, so privileges no longer needed are removed.",
            CSF: "Access permissions are reviewed on a cadence (PR.AA-05).",
            AI_RMF: "Each AI system's continued deployment is decided again at each review (MANAGE 2.4).",
            SOC2: "Access is reviewed and removed when no longer needed (CC6.2, CC6.3).",
            ISO: "Access rights are reviewed at planned intervals (A.5.18).",
            CIS: "Service accounts are reviewed on a recurring schedule (5.5); a revoke runs the revoking "
            "process (6.2).",
            MAESTRO: "An agent's privileges at L6 are re-decided on its tier's cadence, not left to drift.",
        },
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
            ISO: ("A.5.17", "A.8.5"),
            MAESTRO: ("L6 Security and Compliance", "L7 Agent Ecosystem"),
        },
        ("credential_rotation_overdue", "credential_no_expiry"),
        ("credentials.csv",),
        {
            NHI: "Secrets are short-lived or rotated, so a leaked one stops working.",
            CSF: "Credentials are managed over their life (PR.AA-01).",
            SOC2: "Authentication credentials are protected and renewed (CC6.1).",
            ISO: "Authentication information is managed (A.5.17) and authentication kept secure (A.8.5).",
            MAESTRO: "The secrets agents and tool servers present to each other (L7) are short-lived or "
            "rotated (L6).",
        },
    ),
    ControlInfo(
        "STW-05",
        "Stale-access detection",
        "An hourly sweep flags unused access, use after revocation and use outside the approved scope.",
        {
            NHI: ("NHI1 Improper Offboarding", "NHI5 Overprivileged NHI"),
            ASI: ("ASI10 Rogue Agents",),
            CSF: ("DE.CM-03", "PR.AA-05"),
            SOC2: ("CC6.2", "CC6.3", "CC7.2"),
            ISO: ("A.8.2", "A.8.15"),
            CIS: ("5.3",),
            MAESTRO: ("L5 Evaluation and Observability", "Cross-layer threats"),
        },
        ("stale_unused", "used_after_revocation", "out_of_scope_use", "environment_crossing"),
        ("findings.csv", "grants.csv", "inventory.csv"),
        {
            NHI: "Unused, over-broad and cross-environment access is found from real usage.",
            ASI: "An agent acting after revocation or outside its grants is flagged.",
            CSF: "Technology usage is monitored (DE.CM-03) against the permissions granted (PR.AA-05).",
            SOC2: "Anomalous use is detected (CC7.2) and unneeded access removed (CC6.2, CC6.3).",
            ISO: "Privileged and logged use is monitored (A.8.2, A.8.15, A.8.16).",
            CIS: "Dormant accounts are found and disabled (5.3).",
            MAESTRO: "Reported use is observed (L5) and checked against the grants, catching rogue or "
            "cross-environment behaviour that spans layers.",
        },
    ),
    ControlInfo(
        "STW-06",
        "Time-bound exceptions",
        "Deviations from policy are approved, carry compensating controls and expire.",
        {
            CSF: ("ID.RA-07",),
            SOC2: ("CC6.1",),
            ISO: ("6.1.3 Information security risk treatment",),
        },
        ("exception_expired",),
        ("exceptions.csv", "findings.csv"),
        {
            CSF: "Exceptions are recorded, assessed for risk and tracked to their end (ID.RA-07).",
            SOC2: "Departures from the access policy are approved and time-bound (CC6.1).",
            ISO: "A departure is a risk accepted by its owner with compensating controls (6.1.3); "
            "access control still applies (A.5.15).",
        },
    ),
    ControlInfo(
        "STW-07",
        "Separation of duties",
        "Nobody approves their own request, and one person decides at most one step of a request.",
        {
            NHI: ("NHI10 Human Use of NHI",),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("GV.RR-02", "PR.AA-05"),
            SOC2: ("CC6.1", "CC6.3"),
            ISO: ("A.5.3", "A.5.15"),
            MAESTRO: ("L6 Security and Compliance",),
        },
        (),
        ("approvals.csv", "people.csv", "policy_versions.jsonl"),
        {
            NHI: "Nobody grants themselves an identity to use.",
            ASI: "No one person can raise an agent's privileges alone.",
            CSF: "Roles and authorities are set (GV.RR-02) and enforced at each approval (PR.AA-05).",
            SOC2: "Approvals and policy changes need a second person (CC6.1, CC6.3).",
            ISO: "Duties are segregated (A.5.3) within access control (A.5.15).",
            MAESTRO: "Policy and Cedar changes that govern every agent (L6) take two people.",
        },
    ),
    ControlInfo(
        "STW-08",
        "Tamper-evident audit log",
        "Every change is an append-only, hash-chained audit event that can be verified at any time.",
        {
            CSF: ("PR.PS-04",),
            SOC2: ("CC7.2",),
            ISO: ("A.8.15",),
            CIS: ("8.2", "8.3"),
            MAESTRO: ("L5 Evaluation and Observability",),
        },
        (),
        ("audit_events.jsonl",),
        {
            CSF: "Log records are generated and kept available for monitoring (PR.PS-04).",
            SOC2: "Changes are logged for monitoring and investigation (CC7.2).",
            ISO: "Logs are produced and protected against tampering: hash chain and signed checkpoints "
            "(A.8.15).",
            CIS: "Audit logs are collected (8.2) and kept in adequate, append-only storage (8.3).",
            MAESTRO: "What agents were allowed and did stays observable after the fact (L5), tamper-evident.",
        },
    ),
]

CONTROLS.append(
    ControlInfo(
        "STW-09",
        "Agent threat profiles",
        "Each AI identity's agentic threats are derived from its facts and held by controls Steward really "
        "applies (the active Cedar set's answers); an uncontrolled threat raises a finding.",
        {
            ASI: (
                "ASI01 Agent Goal Hijack",
                "ASI02 Tool Misuse and Exploitation",
                "ASI04 Agentic Supply Chain Vulnerabilities",
                "ASI06 Memory and Context Poisoning",
                "ASI07 Insecure Inter-Agent Communication",
                "ASI08 Cascading Failures",
                "ASI09 Human-Agent Trust Exploitation",
            ),
            MAESTRO: (
                "L1 Foundation Models",
                "L2 Data Operations",
                "L3 Agent Frameworks",
                "L4 Deployment and Infrastructure",
                "L5 Evaluation and Observability",
                "L6 Security and Compliance",
                "L7 Agent Ecosystem",
                "Cross-layer threats",
            ),
            CSF: ("ID.RA-03", "ID.RA-05"),
            AI_RMF: ("MAP 5.1", "MEASURE 2.7"),
        },
        ("agent_threat_uncontrolled",),
        ("threat_profiles.csv", "findings.csv"),
        {
            ASI: "Every Agentic Top 10 threat that applies to an agent is listed with the control that holds "
            "it or the gap.",
            MAESTRO: "Each agent is modelled layer by layer (L1-L7 and cross-layer), as MAESTRO asks, from "
            "facts Steward holds.",
            CSF: "Threats to each AI identity are identified (ID.RA-03) and their likelihood and impact feed "
            "its risk tier's reasons (ID.RA-05).",
            AI_RMF: "Likely impacts are characterised per AI system (MAP 5.1) and its security is evaluated "
            "against what policy really answers (MEASURE 2.7).",
            SOC2: "Risks to each AI identity are identified (CC3.2) and privileged actions stay gated by "
            "role and just-in-time access (CC6.3).",
            ISO: "Access to each agent's privileged tools follows the access control policy (A.5.15), "
            "privileged use held by just-in-time access (A.8.2).",
        },
    )
)

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
