"""The threat catalogue: CSA MAESTRO's layers and the OWASP Top 10 for Agentic Applications, as data.

Versioned with the governance policy: the policy document's `threat_catalogue` names the version in
force, so a profile, a finding and an evidence pack say which catalogue judged them. A new edition of
either framework is a new entry in `CATALOGUES` (the old one stays, for packs that cite it), and a
policy change moves to it through the two-person policy approval.

Pure data with no imports from Steward: the policy validator (governance.policy) reads the versions.

Sources: CSA MAESTRO (Multi-Agent Environment, Security, Threat, Risk and Outcome), Cloud Security
Alliance, 2025: seven layers plus threats that cross them. OWASP GenAI Security Project, Top 10 for
Agentic Applications 2026 (ASI01-ASI10).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

MAESTRO = "CSA MAESTRO (2025)"
ASI = "OWASP Agentic Top 10 2026"


@dataclass(frozen=True)
class Layer:
    code: str  # "L1".."L7", or "X" for threats that cross layers
    name: str
    about: str


@dataclass(frozen=True)
class Threat:
    code: str  # "ASI01".."ASI10"
    name: str
    about: str
    layers: tuple[str, ...]  # MAESTRO layer codes where the threat lives

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"


@dataclass(frozen=True)
class Catalogue:
    version: str
    layers: tuple[Layer, ...]
    threats: tuple[Threat, ...]

    def layer(self, code: str) -> Layer:
        return self._by_code[code]

    def threat(self, code: str) -> Threat:
        return self._by_code[code]

    @cached_property
    def _by_code(self) -> dict[str, Layer | Threat]:
        """Layers (L1..L7) and threats (ASI01..) by code: every profile looks each of them up, and
        the sweep profiles every AI identity (a linear search was 2 s of a 100,000-identity sweep)."""
        return {item.code: item for item in (*self.layers, *self.threats)}


LAYERS_2025 = (
    Layer("L1", "Foundation Models", "The model the agent reasons with: its vendor, version and behaviour."),
    Layer("L2", "Data Operations", "The data and context it reads and writes: documents, tickets, stores."),
    Layer("L3", "Agent Frameworks", "The planner and the tools it may call: its grants and their actions."),
    Layer(
        "L4",
        "Deployment and Infrastructure",
        "Where it runs and what it can change there: environments, pipelines, deployments.",
    ),
    Layer(
        "L5",
        "Evaluation and Observability",
        "What Steward sees of it: reported use, decisions asked, findings raised.",
    ),
    Layer(
        "L6",
        "Security and Compliance",
        "Its identity and privileges: credentials, approved scope, reviews, exceptions, Cedar rules.",
    ),
    Layer(
        "L7",
        "Agent Ecosystem",
        "What it meets outside itself: people it acts for, other agents and MCP servers, marketplaces.",
    ),
    Layer(
        "X", "Cross-layer", "Threats that travel between layers: one failure reaching prod through another."
    ),
)

THREATS_2026 = (
    Threat(
        "ASI01",
        "Agent Goal Hijack",
        "Instructions hidden in what the agent reads redirect what it does.",
        ("L1", "L2", "L3"),
    ),
    Threat(
        "ASI02",
        "Tool Misuse and Exploitation",
        "A legitimate tool (merge, admin, a secret store) used beyond its purpose.",
        ("L3", "L7"),
    ),
    Threat(
        "ASI03",
        "Identity and Privilege Abuse",
        "The agent's credentials or privileges reused, escalated or left unreviewed.",
        ("L6", "L4"),
    ),
    Threat(
        "ASI04",
        "Agentic Supply Chain Vulnerabilities",
        "A model, plugin or MCP server from an unvetted vendor or publisher.",
        ("L1", "L7"),
    ),
    Threat(
        "ASI05",
        "Unexpected Code Execution",
        "Code the agent writes or triggers runs where it can do harm: pipelines, deployments.",
        ("L4", "L3"),
    ),
    Threat(
        "ASI06",
        "Memory and Context Poisoning",
        "What the agent writes to a shared store misleads the next reader, agent or person.",
        ("L2",),
    ),
    Threat(
        "ASI07",
        "Insecure Inter-Agent Communication",
        "Agents and tool servers talk with static secrets or unverified peers.",
        ("L7", "L6"),
    ),
    Threat(
        "ASI08",
        "Cascading Failures",
        "A fault in one environment or agent travels to prod through shared access.",
        ("X", "L4"),
    ),
    Threat(
        "ASI09",
        "Human-Agent Trust Exploitation",
        "People approve what an agent proposes because an agent proposed it.",
        ("L7", "L5"),
    ),
    Threat(
        "ASI10",
        "Rogue Agents",
        "An agent acting outside its approval: after revocation, beyond its grants, unobserved.",
        ("L5", "X"),
    ),
)

CATALOGUES: dict[str, Catalogue] = {
    "2026.1": Catalogue("2026.1", LAYERS_2025, THREATS_2026),
}
DEFAULT_VERSION = "2026.1"


def catalogue(version: str | None) -> Catalogue:
    """The catalogue a policy names; the default when it names none (or one this release lacks)."""
    return CATALOGUES.get(version or DEFAULT_VERSION) or CATALOGUES[DEFAULT_VERSION]
