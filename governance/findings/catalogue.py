"""What each finding rule means, and where it sits in the public frameworks.

Kept in code (not the database) because the sweep, the findings page, the API and the evidence pack
must all agree on it; the evidence helper's control catalogue can import `RULES` as its source.

Framework keys carry their version, as an auditor cites them: OWASP NHI Top 10 (2025), OWASP Top 10
for Agentic Applications (2026), NIST CSF 2.0 (subcategories, never bare categories), SOC 2 TSC
(2017), ISO/IEC 27001:2022 (Annex A unless a clause is named), CIS Controls v8 (safeguards).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class RuleInfo:
    code: str
    label: str
    description: str
    references: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def reference_list(self) -> list[str]:
        """Flat, display-ready references: ['OWASP NHI: NHI1', 'NIST CSF 2.0: PR.AA-05', ...]."""
        return [f"{framework}: {ref}" for framework, refs in self.references.items() for ref in refs]

    def short_references(self) -> list[tuple[str, str]]:
        """(short code, full reference) pairs for badges: ('NHI1', 'OWASP NHI Top 10 2025: NHI1 …')."""
        out = []
        for framework, refs in self.references.items():
            for ref in refs:
                code = ref.split(" ")[0]
                short = {CIS: f"CIS {code}", MAESTRO: f"MAESTRO {code}"}.get(framework, code)
                out.append((short, f"{framework}: {ref}"))
        return out


NHI = "OWASP NHI Top 10 2025"
ASI = "OWASP Agentic Top 10 2026"
CSF = "NIST CSF 2.0"
SOC2 = "SOC 2 TSC 2017"
ISO = "ISO/IEC 27001:2022"
CIS = "CIS Controls v8"
MAESTRO = "CSA MAESTRO (2025)"

_RULES = [
    RuleInfo(
        "stale_unused",
        _("Stale, unused access"),
        _("No use reported for the risk tier's stale period (never used since approval counts too)."),
        {
            NHI: ("NHI1 Improper Offboarding", "NHI5 Overprivileged NHI"),
            CSF: ("PR.AA-05", "ID.AM-02"),
            SOC2: ("CC6.2", "CC6.3"),
            ISO: ("A.5.18", "A.8.2"),
            CIS: ("5.3",),
        },
    ),
    RuleInfo(
        "credential_rotation_overdue",
        _("Credential rotation overdue"),
        _("A static credential has not been rotated within the tier's rotation period."),
        {
            NHI: ("NHI7 Long-Lived Secrets",),
            CSF: ("PR.AA-01",),
            SOC2: ("CC6.1",),
            ISO: ("A.5.17", "A.8.5"),
        },
    ),
    RuleInfo(
        "credential_no_expiry",
        _("Credential without expiry"),
        _("A credential that is not short-lived federation has no expiry date."),
        {
            NHI: ("NHI7 Long-Lived Secrets", "NHI4 Insecure Authentication"),
            CSF: ("PR.AA-01",),
            SOC2: ("CC6.1",),
            ISO: ("A.5.17", "A.8.5"),
        },
    ),
    RuleInfo(
        "orphaned_owner",
        _("Orphaned owner"),
        _("The owner is missing or no longer active (high); only the backup owner is inactive (low)."),
        {
            NHI: ("NHI1 Improper Offboarding",),
            CSF: ("GV.RR-02", "ID.AM-02"),
            SOC2: ("CC6.2",),
            ISO: ("A.5.9", "A.5.16"),
            CIS: ("5.5",),
        },
    ),
    RuleInfo(
        "review_overdue",
        _("Access review overdue"),
        _("The identity's next access review date has passed."),
        {
            NHI: ("NHI5 Overprivileged NHI",),
            CSF: ("PR.AA-05",),
            SOC2: ("CC6.2", "CC6.3"),
            ISO: ("A.5.18",),
            CIS: ("5.5",),
        },
    ),
    RuleInfo(
        "exception_expired",
        _("Exception expired"),
        _("An approved exception has expired while the departure from policy remains."),
        {
            CSF: ("ID.RA-07",),
            SOC2: ("CC6.1",),
            ISO: ("A.5.15",),
        },
    ),
    RuleInfo(
        "environment_crossing",
        _("Environment crossing"),
        _("One identity reaches prod and a non-prod environment."),
        {
            NHI: ("NHI8 Environment Isolation",),
            CSF: ("PR.AA-05",),
            SOC2: ("CC6.1",),
            ISO: ("A.8.31",),
            CIS: ("6.8",),
        },
    ),
    RuleInfo(
        "denied_grant",
        _("Grant denied by policy"),
        _("A current grant matches one of the policy's deny rules."),
        {
            NHI: ("NHI5 Overprivileged NHI",),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("PR.AA-05",),
            SOC2: ("CC6.3",),
            ISO: ("A.5.15", "A.8.2"),
            CIS: ("6.8",),
        },
    ),
    RuleInfo(
        "unapproved_vendor",
        _("Unapproved vendor or model"),
        _("The vendor (or model) is not on the policy's allowed list."),
        {
            NHI: ("NHI3 Vulnerable Third-Party NHI",),
            CSF: ("ID.AM-02",),
            SOC2: ("CC9.2",),
            ISO: ("A.5.19",),
        },
    ),
    RuleInfo(
        "used_after_revocation",
        _("Used after revocation"),
        _("Usage was reported for a suspended or decommissioned identity."),
        {
            NHI: ("NHI1 Improper Offboarding",),
            ASI: ("ASI10 Rogue Agents",),
            CSF: ("DE.CM-03",),
            SOC2: ("CC6.1", "CC6.2", "CC7.2"),
            ISO: ("A.8.15", "A.8.16"),
            CIS: ("5.3",),
        },
    ),
    RuleInfo(
        "out_of_scope_use",
        _("Use outside approved scope"),
        _("Usage was reported for an action or resource outside the identity's grants."),
        {
            NHI: ("NHI5 Overprivileged NHI",),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("DE.CM-03", "PR.AA-05"),
            SOC2: ("CC6.3", "CC7.2"),
            ISO: ("A.8.15",),
            CIS: ("6.8",),
        },
    ),
]

# Found by the connectors (discovery at the source), fed to the sweep through finding sources.
_RULES += [
    RuleInfo(
        "unmanaged_identity",
        _("Unmanaged identity at the source"),
        _("A connector found this identity at its source; nobody approved it through its tier's route yet."),
        {
            NHI: ("NHI1 Improper Offboarding", "NHI5 Overprivileged NHI"),
            CSF: ("ID.AM-02", "PR.AA-01"),
            SOC2: ("CC6.1", "CC6.2"),
            ISO: ("A.5.9", "A.5.16"),
            CIS: ("5.1",),
        },
    ),
    RuleInfo(
        "unapproved_entitlement",
        _("Entitlement beyond approved grants"),
        _("The source gives this identity more than its approved grants: the difference is in the evidence."),
        {
            NHI: ("NHI5 Overprivileged NHI",),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("PR.AA-05",),
            SOC2: ("CC6.3",),
            ISO: ("A.5.15", "A.5.18", "A.8.2"),
            CIS: ("6.8",),
        },
    ),
    RuleInfo(
        "connector_failing",
        _("Connector failing"),
        _("The connector's last sync failed: what Steward knows of the source is going stale."),
        {
            CSF: ("ID.AM-02", "DE.CM-03"),
            SOC2: ("CC7.2",),
            ISO: ("A.8.16",),
        },
    ),
    RuleInfo(
        "static_secret_in_mcp_config",
        _("Static secret in an MCP configuration"),
        _(
            "An MCP server on an endpoint is given environment variables whose names look like secrets "
            "(*_TOKEN, *_KEY, *SECRET*, *PASSWORD*): a long-lived credential in a configuration file."
        ),
        {
            NHI: ("NHI2 Secret Leakage", "NHI7 Long-Lived Secrets"),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("PR.AA-01", "PR.DS-01"),
            SOC2: ("CC6.1",),
            ISO: ("A.5.17", "A.8.24"),
            CIS: ("3.11",),
        },
    ),
]

# Found by the agent threat profiles (governance/threats), fed to the sweep as a finding source.
_RULES += [
    RuleInfo(
        "agent_threat_uncontrolled",
        _("Agentic threat without a control"),
        _(
            "An AI identity's threat profile has threats no control holds: each is listed with its missing "
            "control (e.g. merge in prod that the active Cedar set allows without just-in-time access)."
        ),
        {
            ASI: (
                "ASI01 Agent Goal Hijack",
                "ASI02 Tool Misuse and Exploitation",
                "ASI03 Identity and Privilege Abuse",
                "ASI05 Unexpected Code Execution",
                "ASI10 Rogue Agents",
            ),
            MAESTRO: (
                "L3 Agent Frameworks",
                "L4 Deployment and Infrastructure",
                "L6 Security and Compliance",
            ),
            CSF: ("ID.RA-05", "PR.AA-05"),
            SOC2: ("CC3.2", "CC6.3"),
            ISO: ("A.5.15", "A.8.2"),
        },
    ),
]

# Found by workload identity (workload/), fed to the sweep as a finding source.
_RULES += [
    RuleInfo(
        "static_credential_where_federation_exists",
        _("Static credential where federation exists"),
        _(
            "The identity can prove itself with a short-lived token from a trusted issuer (it has a trust "
            "binding), yet a static credential of it is still live: revoke the static secret."
        ),
        {
            NHI: ("NHI7 Long-Lived Secrets", "NHI2 Secret Leakage"),
            ASI: ("ASI03 Identity and Privilege Abuse",),
            CSF: ("PR.AA-01", "PR.AA-03"),
            SOC2: ("CC6.1",),
            ISO: ("A.5.17", "A.8.5"),
        },
    ),
]

RULES: dict[str, RuleInfo] = {rule.code: rule for rule in _RULES}


def references_for(code: str) -> list[str]:
    info = RULES.get(code)
    return info.reference_list() if info else []
