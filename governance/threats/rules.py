"""Which agentic threats apply to an AI identity, which controls hold them, and the gaps: one rule each.

Read the table first (`TABLE`): per threat, when it applies, what counts as its control, and what is a
gap. Each rule below is a small function of an identity's `Facts`, which include what the active Cedar
set answers, in prod, for every action its standing grants list (just-in-time grants left out, nothing
recorded). A threat counts as controlled only by what Steward would actually answer: "merge in prod"
is controlled when Cedar answers `step_up` (ask for JIT) or `deny`, never because a rule says so.

A rule returns None when the threat does not apply, or an `Assessment`: why it applies, the controls in
place and the gaps (no gaps = controlled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

ALLOW, STEP_UP, DENY = "allow", "step_up", "deny"
PROD = "prod"

MODEL_KINDS = ("ai_assistant", "ai_agent", "ide_plugin")  # a model plans what they do
AI_KINDS = (*MODEL_KINDS, "mcp_server")  # everything that gets a profile
DELEGATED_KINDS = ("ai_assistant", "ide_plugin")  # act for the person at the keyboard
FEDERATED = ("oidc_federation", "spiffe_svid")

TOOL_ACTIONS = ("merge", "admin", "read_secrets", "write_secrets")  # ASI02
EXECUTION_ACTIONS = ("deploy", "run_ci", "write_code")  # ASI05 applies
WRITE_ACTIONS = (
    "write_code", "open_pr", "merge", "run_ci", "deploy", "write_secrets", "write_data",
    "write_tickets", "admin",
)  # fmt: skip
UNTRUSTED_INPUT = ("read_tickets", "read_data")  # content others write: the injection surface
SHARED_STORE_WRITES = ("write_data", "write_tickets")  # ASI06
# The actions some rule reads Cedar's answer for: only these are asked (a read needs no answer).
CEDAR_ACTIONS = frozenset((*WRITE_ACTIONS, *TOOL_ACTIONS, *SHARED_STORE_WRITES))


@dataclass(frozen=True)
class GrantFacts:
    resource_kind: str
    resource_name: str
    actions: frozenset[str]
    jit: bool = False

    @property
    def resource(self) -> str:
        return f"{self.resource_kind} {self.resource_name}"


@dataclass(frozen=True)
class CedarAnswer:
    """What the active Cedar set answers for (action, resource, prod) without a JIT grant."""

    action: str
    resource_kind: str
    resource_name: str
    decision: str
    policies: tuple[str, ...] = ()
    exceptions: tuple[str, ...] = ()

    @property
    def resource(self) -> str:
        return f"{self.resource_kind} {self.resource_name}"

    def describe(self) -> str:
        what = f"{self.action} on {self.resource} in prod"
        if self.decision == ALLOW:
            lifted = f" (exception #{', #'.join(self.exceptions)} lifts the rule)" if self.exceptions else ""
            return f"{what} without JIT: Cedar answers allow{lifted}"
        by = f" ({', '.join(self.policies)})" if self.policies else ""
        return f"{what}: Cedar answers {self.decision}{by}"


@dataclass
class Facts:
    """What Steward holds about one identity, as the rules read it."""

    identity_id: int
    name: str
    kind: str
    status: str = "active"
    autonomous: bool = False
    environments: tuple[str, ...] = ()
    data_classification: str = "internal"
    vendor: str = ""
    model_name: str = ""
    last_used_at: datetime | None = None
    owner_active: bool = True
    next_review_due: date | None = None
    today: date | None = None
    grants: tuple[GrantFacts, ...] = ()
    credential_kinds: tuple[str, ...] = ()  # live credentials
    static_without_expiry: int = 0  # live static credentials that never expire
    static_kinds: tuple[str, ...] = ()  # the policy's static credential kinds
    open_findings: frozenset[str] = frozenset()  # rules of open findings (not this one)
    exceptions: tuple[str, ...] = ()  # rules of active exceptions
    vendor_allowed: bool = True
    model_allowed: bool = True
    answers: tuple[CedarAnswer, ...] = ()  # filled by profiles.py from the real evaluator

    # -- derived

    @property
    def actions(self) -> set[str]:
        return {a for g in self.grants for a in g.actions}

    def resources_with(self, *actions: str) -> list[str]:
        return sorted({g.resource for g in self.grants if g.actions & set(actions)})

    @property
    def in_prod(self) -> bool:
        return PROD in self.environments

    def prod_answers(self, *actions: str) -> list[CedarAnswer]:
        return [a for a in self.answers if a.action in actions]

    def allowed_in_prod(self, *actions: str) -> list[CedarAnswer]:
        return [a for a in self.prod_answers(*actions) if a.decision == ALLOW]

    def held_in_prod(self, *actions: str) -> list[CedarAnswer]:
        return [a for a in self.prod_answers(*actions) if a.decision != ALLOW]


@dataclass
class Assessment:
    why: list[str]
    controls: list[str] = field(default_factory=list)
    gaps: list[str] = field(default_factory=list)

    @property
    def controlled(self) -> bool:
        return not self.gaps


def _held(f: Facts, actions: tuple[str, ...]) -> list[str]:
    return [a.describe() for a in f.held_in_prod(*actions)]


def _outside_prod(f: Facts, actions: tuple[str, ...]) -> list[str]:
    if f.in_prod or not f.actions & set(actions):
        return []
    envs = ", ".join(f.environments) or "no environment"
    return [f"Approved outside prod only ({envs})"]


# ---------------------------------------------------------------- the rules, one per threat


def goal_hijack(f: Facts) -> Assessment | None:
    """ASI01: a model-driven identity that reads content others write (tickets, data)."""
    if f.kind not in MODEL_KINDS or not f.actions & set(UNTRUSTED_INPUT):
        return None
    result = Assessment([f"Reads content others write: {', '.join(f.resources_with(*UNTRUSTED_INPUT))}"])
    if not f.autonomous:
        result.controls.append("A person confirms each step (not autonomous)")
    result.controls += _held(f, WRITE_ACTIONS)
    if f.autonomous:
        result.gaps += [
            f"Autonomous: a hijacked goal acts at once — {a.describe()}"
            for a in f.allowed_in_prod(*WRITE_ACTIONS)
        ]
    return result


def tool_misuse(f: Facts) -> Assessment | None:
    """ASI02: it can call a privileged tool (merge, admin, secrets)."""
    tools = f.actions & set(TOOL_ACTIONS)
    if not tools:
        return None
    result = Assessment(
        [f"Privileged tools: {', '.join(sorted(tools))} on {', '.join(f.resources_with(*tools))}"]
    )
    result.controls += _held(f, TOOL_ACTIONS) + _outside_prod(f, TOOL_ACTIONS)
    result.gaps += [a.describe() for a in f.allowed_in_prod(*TOOL_ACTIONS)]
    return result


def privilege_abuse(f: Facts) -> Assessment | None:
    """ASI03: every AI identity holding a grant or a credential."""
    if not f.grants and not f.credential_kinds:
        return None
    result = Assessment([f"Holds {len(f.grants)} grant(s) and {len(f.credential_kinds)} live credential(s)"])
    if f.status == "active":
        result.controls.append("Approved scope: only its grants are in scope (Cedar in_scope)")
    overdue = f.next_review_due is not None and f.today is not None and f.next_review_due < f.today
    if f.next_review_due and not overdue:
        result.controls.append(f"Reviewed on its tier's cadence (next due {f.next_review_due.isoformat()})")
    elif overdue:
        result.gaps.append(f"Access review overdue since {f.next_review_due.isoformat()}")
    if not f.owner_active:
        result.gaps.append("No active owner answers for its privileges")
    if f.credential_kinds and all(k in FEDERATED for k in f.credential_kinds):
        result.controls.append("Short-lived federated credentials only")
    if f.static_without_expiry:
        result.gaps.append(f"{f.static_without_expiry} static credential(s) never expire")
    return result


def supply_chain(f: Facts) -> Assessment | None:
    """ASI04: every AI identity: its vendor, model or publisher."""
    if f.kind not in AI_KINDS:
        return None
    what = ", ".join(
        x for x in (f.vendor and f"vendor {f.vendor}", f.model_name and f"model {f.model_name}") if x
    )
    result = Assessment([f"Third-party {what or 'component, vendor unnamed'}"])
    if f.vendor_allowed:
        result.controls.append("Vendor on the policy's allowed list")
    else:
        result.gaps.append(
            f"Vendor '{f.vendor}' is not on the policy's allowed list" if f.vendor else "No vendor named"
        )
    if f.model_name and f.model_allowed:
        result.controls.append("Model allowed by the policy")
    elif f.model_name:
        result.gaps.append(f"Model '{f.model_name}' is not on the policy's allowed list")
    return result


def code_execution(f: Facts) -> Assessment | None:
    """ASI05: it writes or runs code (write_code, run_ci, deploy) or is an MCP server run locally."""
    running = f.actions & set(EXECUTION_ACTIONS)
    if not running and f.kind != "mcp_server":
        return None
    why = (
        f"Runs or ships code: {', '.join(sorted(running))}" if running else "An MCP server runs on endpoints"
    )
    result = Assessment([why])
    result.controls += _held(f, ("deploy",)) + _outside_prod(f, ("deploy",))
    if running and "deploy" not in running:
        result.controls.append("No deploy grant: its code reaches prod only through others")
    result.gaps += [a.describe() for a in f.allowed_in_prod("deploy")]
    return result


def context_poisoning(f: Facts) -> Assessment | None:
    """ASI06: a model-driven identity that writes to a store others read (data, tickets)."""
    if f.kind not in MODEL_KINDS or not f.actions & set(SHARED_STORE_WRITES):
        return None
    stores = ", ".join(f.resources_with(*SHARED_STORE_WRITES))
    result = Assessment([f"Writes to shared stores: {stores} ({f.data_classification} data)"])
    if not f.autonomous:
        result.controls.append("A person confirms each write (not autonomous)")
    result.controls += _held(f, SHARED_STORE_WRITES) + _outside_prod(f, SHARED_STORE_WRITES)
    if f.autonomous:
        result.gaps += [f"Autonomous — {a.describe()}" for a in f.allowed_in_prod(*SHARED_STORE_WRITES)]
    return result


def inter_agent(f: Facts) -> Assessment | None:
    """ASI07: agents and MCP servers talk to tools and other agents."""
    if f.kind not in ("ai_agent", "mcp_server"):
        return None
    result = Assessment(
        ["Talks to tools and other agents" if f.kind == "ai_agent" else "Serves tools to agents"]
    )
    federated = [k for k in f.credential_kinds if k in FEDERATED]
    static = [k for k in f.credential_kinds if k in f.static_kinds]
    if federated:
        result.controls.append(f"Federated credentials: {', '.join(sorted(set(federated)))}")
    if "static_secret_in_mcp_config" in f.open_findings:
        result.gaps.append("A static secret sits in its MCP configuration (open finding)")
    if static and not federated:
        result.gaps.append(f"Authenticates with static secrets only: {', '.join(sorted(set(static)))}")
    return result


def cascading(f: Facts) -> Assessment | None:
    """ASI08: it can change prod and another environment, so a fault in one reaches the other."""
    writes = f.actions & set(WRITE_ACTIONS)
    if not writes or not f.in_prod or len(f.environments) < 2:
        return None
    result = Assessment([f"Changes things ({', '.join(sorted(writes))}) in {', '.join(f.environments)}"])
    result.controls += _held(f, WRITE_ACTIONS)
    allowed = f.allowed_in_prod(*WRITE_ACTIONS)
    if allowed:
        envs = ", ".join(e for e in f.environments if e != PROD)
        actions = ", ".join(sorted({a.action for a in allowed}))
        result.gaps.append(f"One identity spans prod and {envs}; in prod it may {actions} without JIT")
    return result


def trust_exploitation(f: Facts) -> Assessment | None:
    """ASI09: people act on what it proposes (pull requests, tickets) or it acts for a person."""
    proposes = f.actions & {"open_pr", "write_tickets"}
    if not proposes and f.kind not in DELEGATED_KINDS:
        return None
    why = (
        f"Proposes work people approve: {', '.join(sorted(proposes))}"
        if proposes
        else "Acts for the person at the keyboard"
    )
    result = Assessment([why])
    if "merge" not in f.actions:
        result.controls.append("Cannot merge: a person approves what it proposes")
    if "open_pr" in f.actions:
        result.controls += _held(f, ("merge",))
        result.gaps += [
            f"Approves its own proposals: opens pull requests and may {a.describe()}"
            for a in f.allowed_in_prod("merge")
        ]
    return result


def rogue_agent(f: Facts) -> Assessment | None:
    """ASI10: an agent, or anything autonomous, acting outside its approval."""
    if f.kind != "ai_agent" and not f.autonomous:
        return None
    result = Assessment(["Autonomous agent" if f.autonomous else "AI agent"])
    result.controls.append("Suspending it denies everything at once (Cedar identity_revoked)")
    if f.last_used_at:
        result.controls.append(f"Its use is reported (last {f.last_used_at.date().isoformat()})")
    if "used_after_revocation" in f.open_findings:
        result.gaps.append("Used after revocation (open finding)")
    if "out_of_scope_use" in f.open_findings:
        result.gaps.append("Used outside its approved grants (open finding)")
    return result


Rule = Callable[[Facts], Assessment | None]


@dataclass(frozen=True)
class Row:
    threat: str
    rule: Rule
    applies_when: str
    controlled_by: str
    gap_when: str


# The table a reviewer reads: one row per threat of the catalogue.
TABLE: tuple[Row, ...] = (
    Row(
        "ASI01", goal_hijack,
        "a model-driven identity reads tickets or data others write",
        "not autonomous, or Cedar holds its prod writes (step_up/deny)",
        "autonomous and Cedar allows a write in prod without JIT",
    ),
    Row(
        "ASI02", tool_misuse,
        "it holds merge, admin, read_secrets or write_secrets",
        "Cedar answers step_up or deny for each in prod without JIT; or no prod",
        "Cedar allows one of them in prod without a JIT grant",
    ),
    Row(
        "ASI03", privilege_abuse,
        "it holds any grant or live credential",
        "approved scope, review on cadence, active owner, expiring or federated credentials",
        "review overdue, no active owner, or a static credential that never expires",
    ),
    Row(
        "ASI04", supply_chain,
        "every AI identity (model, vendor, plugin or MCP publisher)",
        "vendor and model on the policy's allowed lists",
        "vendor or model not allowed by the policy",
    ),
    Row(
        "ASI05", code_execution,
        "it writes code, runs CI or deploys; or it is an MCP server",
        "Cedar holds deploy in prod (step_up/deny), or no deploy grant",
        "Cedar allows deploy in prod without JIT",
    ),
    Row(
        "ASI06", context_poisoning,
        "a model-driven identity writes data or tickets others read",
        "not autonomous, or Cedar holds those writes in prod",
        "autonomous and Cedar allows them in prod without JIT",
    ),
    Row(
        "ASI07", inter_agent,
        "an AI agent or an MCP server",
        "federated (short-lived) credentials",
        "static secrets only, or a static secret in its MCP configuration",
    ),
    Row(
        "ASI08", cascading,
        "it writes in prod and in another environment",
        "Cedar holds its prod writes",
        "Cedar allows a write in prod without JIT while it also reaches non-prod",
    ),
    Row(
        "ASI09", trust_exploitation,
        "it opens pull requests or writes tickets, or acts for a person",
        "it cannot merge, or Cedar holds merge in prod",
        "it opens pull requests and Cedar allows it to merge in prod without JIT",
    ),
    Row(
        "ASI10", rogue_agent,
        "an AI agent, or any autonomous identity",
        "suspension denies everything; its use is reported",
        "open used_after_revocation or out_of_scope_use findings",
    ),
)  # fmt: skip

RULES: dict[str, Rule] = {row.threat: row.rule for row in TABLE}


def questions(f: Facts) -> list[tuple[str, str, str]]:
    """The (action, resource kind, resource name) asked in prod: each action of its standing grants that
    a rule reads the answer for (`CEDAR_ACTIONS`)."""
    if not f.in_prod:
        return []
    seen: dict[tuple[str, str, str], None] = {}
    for g in f.grants:
        if g.jit:
            continue
        for action in sorted(g.actions & CEDAR_ACTIONS):
            seen.setdefault((action, g.resource_kind, g.resource_name), None)
    return list(seen)
