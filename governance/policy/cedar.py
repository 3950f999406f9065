"""Request-time policy decisions with Cedar: the facts Steward supplies, evaluation, validation.

Policies are written in Cedar (https://www.cedarpolicy.com) against the schema in
`governance/policy/cedar/schema.cedarschema`; the default set ships as the `.cedar` files next to it.
This module knows nothing about the database: callers hand it a `Subject` (the identity and its
grants and exceptions, as plain facts) and a `Question`, and get a `Verdict` back.

Cedar answers allow or deny and names the policies that decided. Steward maps that to three answers:

* ``allow`` — Cedar allowed;
* ``step_up`` — Cedar denied, every forbid that fired is annotated ``@step_up``, and the same question
  would be allowed with a live just-in-time grant: asking for JIT access can fix it;
* ``deny`` — anything else (a revoked identity, an out-of-scope action, a forbid JIT cannot lift).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cedarpy

POLICY_DIR = Path(__file__).resolve().parent / "cedar"
NAMESPACE = "Steward"
IDENTITY_TYPE = f"{NAMESPACE}::Identity"
GRANT_TYPE = f"{NAMESPACE}::Grant"
RESOURCE_TYPE = f"{NAMESPACE}::Resource"
ACTION_TYPE = f"{NAMESPACE}::Action"
DEFAULT_VERSION = 0  # the built-in set from the repository, used until a version is saved


class Decision:
    ALLOW = "allow"
    DENY = "deny"
    STEP_UP = "step_up"
    ALL = (ALLOW, DENY, STEP_UP)
    CHOICES = [(ALLOW, "allow"), (DENY, "deny"), (STEP_UP, "step up (needs just-in-time access)")]


# ---------------------------------------------------------------- the defaults in the repository


@functools.cache
def default_policy_text() -> str:
    """The shipped policies: every `.cedar` file in name order, each headed by its file name.

    Read once per process: they are part of the release, and until a version is saved every
    decision compiles (from its cache) the defaults, which read five files per request before."""
    parts = []
    for path in sorted(POLICY_DIR.glob("*.cedar")):
        parts.append(f"// ---- {path.name}\n{path.read_text(encoding='utf-8').strip()}\n")
    return "\n".join(parts)


@functools.cache
def default_schema_text() -> str:
    return (POLICY_DIR / "schema.cedarschema").read_text(encoding="utf-8")


def default_test_cases() -> list[dict[str, Any]]:
    return json.loads((POLICY_DIR / "test_cases.json").read_text(encoding="utf-8"))


# ---------------------------------------------------------------- facts


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


@dataclass(frozen=True)
class GrantFact:
    id: str
    resource_kind: str
    resource_pattern: str
    actions: frozenset[str]
    jit: bool = False
    expires_at: float | None = None  # POSIX seconds; None = no expiry

    def live(self, now: float) -> bool:
        return self.expires_at is None or self.expires_at > now

    def covers(self, action: str, kind: str, name: str) -> bool:
        """Same resource kind, the action listed, and the name matching the grant's name or glob."""
        return (
            self.resource_kind == kind
            and action in self.actions
            and (self.resource_pattern == name or fnmatch.fnmatchcase(name, self.resource_pattern))
        )

    def describe(self) -> str:
        what = f"{self.resource_kind} {self.resource_pattern} [{', '.join(sorted(self.actions))}]"
        if self.jit and self.expires_at:
            until = datetime.fromtimestamp(self.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            return f"Just-in-time grant #{self.id}: {what}, until {until}."
        return f"Grant #{self.id}: {what}."


@dataclass(frozen=True)
class ExceptionFact:
    id: str
    rule: str  # the Cedar policy id (rule code) it departs from
    expires_at: float | None = None


@dataclass(frozen=True)
class Subject:
    """An identity as the policies see it. Hashable, so parsed entities can be memoised per subject."""

    id: str
    name: str
    kind: str
    tier: str
    status: str
    environments: tuple[str, ...]
    owner_active: bool
    open_critical_findings: int = 0
    exceptions: tuple[ExceptionFact, ...] = ()
    grants: tuple[GrantFact, ...] = ()

    def without_exceptions(self) -> Subject:
        return replace(self, exceptions=())

    def attrs(self) -> dict[str, Any]:
        """The identity entity's attributes: all a policy can read of the principal."""
        return {
            "kind": self.kind,
            "tier": self.tier,
            "status": self.status,
            "environments": sorted(self.environments),
            "owner_active": self.owner_active,
            "open_critical_findings": int(self.open_critical_findings),
            "exceptions": sorted({e.rule for e in self.exceptions}),
        }

    def entities_json(self) -> list[dict[str, Any]]:
        principal = {"type": IDENTITY_TYPE, "id": self.id}
        identity = {"uid": principal, "attrs": self.attrs(), "parents": []}
        grants = [
            {
                "uid": {"type": GRANT_TYPE, "id": g.id},
                "attrs": {
                    "identity": {"__entity": principal},
                    "resource_kind": g.resource_kind,
                    "resource_pattern": g.resource_pattern,
                    "actions": sorted(g.actions),
                    "jit": g.jit,
                },
                "parents": [],
            }
            for g in self.grants
        ]
        return [identity, *grants]


@dataclass(frozen=True)
class Question:
    action: str
    resource_kind: str
    resource_name: str
    environment: str
    task_ref: str = ""


@dataclass
class Verdict:
    decision: str
    reasons: list[str]
    policy_version: int
    policies: list[str] = field(default_factory=list)
    grants: list[str] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    out_of_scope: bool = False
    jit: bool = False  # allowed on the strength of a just-in-time grant

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "reasons": self.reasons,
            "policy_version": self.policy_version,
            "policies": self.policies,
            "grants": self.grants,
            "exceptions": self.exceptions,
        }


# ---------------------------------------------------------------- validation


def validate(text: str, schema_text: str) -> list[str]:
    """Parse the schema and the policies and type-check the policies against it; [] when valid."""
    try:
        schema = cedarpy.Schema.from_str(schema_text)
    except ValueError as exc:
        return [f"Schema: {exc}"]
    try:
        cedarpy.PolicySet.from_str(text)
        annotations = _annotations(text)
    except ValueError as exc:
        return [f"Policies do not parse: {exc}"]
    result = cedarpy.validate_policies(text, schema)
    errors = []
    for error in result.errors:
        name = annotations.get(error.policy_id, {}).get("id") or error.policy_id
        errors.append(f"{name}: {error.error}" if name else error.error)
    ids = [a.get("id") for a in annotations.values()]
    missing = sum(1 for i in ids if not i)
    if missing:
        errors.append(f'{missing} policy(ies) have no @id("...") annotation; every policy needs one.')
    duplicates = sorted({i for i in ids if i and ids.count(i) > 1})
    if duplicates:
        errors.append(f"Duplicate @id annotations: {', '.join(duplicates)}.")
    return errors


def _annotations(text: str) -> dict[str, dict[str, Any]]:
    """Parser id (policy0, ...) → its annotations and effect."""
    document = json.loads(cedarpy.policies_to_json_str(text))
    found = {}
    for parser_id, policy in document.get("staticPolicies", {}).items():
        found[parser_id] = {**policy.get("annotations", {}), "_effect": policy.get("effect")}
    return found


# ---------------------------------------------------------------- evaluation


# The chain of a caller that is not an exchanged workload (a person, a static token): neutral.
NO_CHAIN: dict[str, Any] = {
    "exchanged": False,
    "has_human": False,
    "human_related": True,
    "has_parent": False,
    "within_parent_scope": True,
    "depth": 0,
}


def _declares_chain(schema_text: str) -> bool:
    """Does the schema's context declare `chain`? (cedarpy offers no schema introspection.)"""
    code = "\n".join(line.split("//", 1)[0] for line in schema_text.splitlines())
    return re.search(r"\bchain\s*:", code) is not None


@dataclass(frozen=True)
class Outcome:
    """Cedar's result as the verdict reads it: allowed, the policies that fired (parser ids), errors."""

    allowed: bool
    fired: tuple[str, ...]
    errors: tuple[str, ...]


def reads_only_shape(document: dict[str, Any]) -> bool:
    """Can the policies (Cedar's JSON form) tell two requests apart only by what `outcome_key` holds:
    the principal's attributes, the action, the resource's kind and the context? True when no policy
    names an entity other than an action, reads the resource's name or id, tests membership (`in`) in
    a condition, or uses the principal or resource as a value rather than through an attribute. Then an
    outcome can be reused for every identity of the same shape; otherwise every request goes to Cedar."""
    if document.get("templates") or document.get("templateLinks"):
        return False
    for policy in (document.get("staticPolicies") or {}).values():
        if policy.get("principal", {}).get("op") != "All" or policy.get("resource", {}).get("op") != "All":
            return False
        if not all(_reads_only_shape(c.get("body")) for c in policy.get("conditions") or []):
            return False
    return True


def _reads_only_shape(node: Any) -> bool:
    if isinstance(node, list):
        return all(_reads_only_shape(n) for n in node)
    if not isinstance(node, dict):
        return True
    if "Var" in node:
        return node["Var"] in ("context", "action")
    if "__entity" in node or "entity" in node:
        entity = node.get("__entity") or node.get("entity") or {}
        return isinstance(entity, dict) and entity.get("type") == ACTION_TYPE
    if "in" in node:
        return False
    for op in (".", "has"):
        if op in node and isinstance(node[op], dict):
            left = node[op].get("left") or {}
            if left.get("Var") == "principal":
                return True
            if left.get("Var") == "resource":
                return node[op].get("attr") == "kind"
    return all(_reads_only_shape(value) for value in node.values())


class CompiledPolicySet:
    """A parsed policy set with its schema, ready to answer questions in microseconds."""

    ENTITY_CACHE_SIZE = 4096
    OUTCOME_CACHE_SIZE = 16384  # emptied when full: a few MB at most

    def __init__(self, version: int, text: str, schema_text: str):
        self.version = version
        self.policies = cedarpy.PolicySet.from_str(text)
        self.schema = cedarpy.Schema.from_str(schema_text)
        self.annotations = _annotations(text)
        # Sets saved before delegation chains (issue 21) have no `chain` in their context type.
        self.takes_chain = _declares_chain(schema_text)
        self._entities: OrderedDict[Subject, cedarpy.Entities] = OrderedDict()
        self._lock = threading.Lock()
        # Outcomes by what the policies can see, when that is all they read (`reads_only_shape`): the
        # sweep's threat profiles ask the same few shapes for thousands of identities.
        self.reuses_outcomes = reads_only_shape(json.loads(cedarpy.policies_to_json_str(text)))
        self._outcomes: dict[tuple, Outcome] = {}

    # -- helpers

    def policy_id(self, parser_id: str) -> str:
        return self.annotations.get(parser_id, {}).get("id") or parser_id

    def reason_of(self, parser_id: str) -> str:
        return self.annotations.get(parser_id, {}).get("reason") or "(no @reason given)"

    def is_forbid(self, parser_id: str) -> bool:
        return self.annotations.get(parser_id, {}).get("_effect") == "forbid"

    def is_step_up(self, parser_id: str) -> bool:
        return "step_up" in self.annotations.get(parser_id, {})

    def base_entities(self, subject: Subject) -> cedarpy.Entities:
        with self._lock:
            cached = self._entities.get(subject)
            if cached is not None:
                self._entities.move_to_end(subject)
                return cached
        entities = cedarpy.Entities.from_json_str(json.dumps(subject.entities_json()), self.schema)
        with self._lock:
            self._entities[subject] = entities
            while len(self._entities) > self.ENTITY_CACHE_SIZE:
                self._entities.popitem(last=False)
        return entities

    @staticmethod
    def _resource(question: Question, covering: list[GrantFact]) -> dict[str, Any]:
        return {
            "uid": {"type": RESOURCE_TYPE, "id": f"{question.resource_kind}:{question.resource_name}"},
            "attrs": {"kind": question.resource_kind, "name": question.resource_name},
            "parents": [{"type": GRANT_TYPE, "id": g.id} for g in covering],
        }

    @staticmethod
    def _request(subject: Subject, question: Question, context: dict) -> dict[str, Any]:
        return {
            "principal": {"type": IDENTITY_TYPE, "id": subject.id},
            "action": {"type": ACTION_TYPE, "id": question.action},
            "resource": {"type": RESOURCE_TYPE, "id": f"{question.resource_kind}:{question.resource_name}"},
            "context": context,
        }

    def _authorize(
        self, subject: Subject, question: Question, covering: list[GrantFact], context: dict
    ) -> Outcome:
        return self._authorize_many(subject, [(question, covering, context)])[0]

    def outcome_key(self, subject: Subject, question: Question, context: dict) -> tuple | None:
        """What the policies can see of a request, when that is all they read (None: not reusable)."""
        if not self.reuses_outcomes:
            return None
        return (
            json.dumps(subject.attrs(), sort_keys=True),
            question.action,
            question.resource_kind,
            json.dumps(context, sort_keys=True),
        )

    def _facts(
        self,
        subject: Subject,
        question: Question,
        now_ts: float,
        chain: dict[str, Any] | None,
        grants: Iterable[GrantFact] | None = None,
    ):
        """The grants covering the question and the request's context. `grants`: the subject's grants
        that may cover it (default: all of them)."""
        covering = [
            g
            for g in (subject.grants if grants is None else grants)
            if g.live(now_ts) and g.covers(question.action, question.resource_kind, question.resource_name)
        ]
        context = {
            "environment": question.environment,
            "task_ref": question.task_ref or "",
            "in_scope": bool(covering),
            "standing_grant": any(not g.jit for g in covering),
            "jit_grant": any(g.jit for g in covering),
        }
        if self.takes_chain:
            context["chain"] = dict(chain or NO_CHAIN)
        return covering, context

    @staticmethod
    def _live(subject: Subject, now_ts: float) -> Subject:
        # An exception past its expiry lifts nothing, even before the expiry job has run.
        live_exceptions = tuple(
            e for e in subject.exceptions if e.expires_at is None or e.expires_at > now_ts
        )
        if len(live_exceptions) != len(subject.exceptions):
            subject = replace(subject, exceptions=live_exceptions)
        return subject

    # -- the answer

    def evaluate(
        self, subject: Subject, question: Question, now: datetime, chain: dict[str, Any] | None = None
    ) -> Verdict:
        now_ts = now.timestamp()
        subject = self._live(subject, now_ts)
        covering, context = self._facts(subject, question, now_ts, chain)
        return self._verdict(
            subject, question, covering, context, self._authorize(subject, question, covering, context), now
        )

    def evaluate_many(self, subject: Subject, questions: list[Question], now: datetime) -> list[Verdict]:
        """`evaluate` for each question of one subject (no chain), asking Cedar for all of them at once,
        and once more for the step-up checks of those a step-up policy holds."""
        now_ts = now.timestamp()
        subject = self._live(subject, now_ts)
        # Each question is matched only against the grants that may cover it: those of its resource kind
        # listing its action, named exactly or by a glob (an identity with hundreds of grants asks about
        # each of them).
        exact: dict[tuple[str, str, str], list[int]] = {}
        globbed: dict[tuple[str, str], list[int]] = {}
        for position, grant in enumerate(subject.grants):
            for action in grant.actions:
                if any(c in grant.resource_pattern for c in "*?["):
                    globbed.setdefault((grant.resource_kind, action), []).append(position)
                else:
                    exact.setdefault((grant.resource_kind, action, grant.resource_pattern), []).append(
                        position
                    )

        def candidates(q: Question) -> list[GrantFact]:
            positions = exact.get((q.resource_kind, q.action, q.resource_name), []) + globbed.get(
                (q.resource_kind, q.action), []
            )
            return [subject.grants[i] for i in sorted(positions)]

        prepared = [self._facts(subject, q, now_ts, None, candidates(q)) for q in questions]
        results = self._authorize_many(
            subject, [(q, cov, ctx) for q, (cov, ctx) in zip(questions, prepared, strict=True)]
        )
        holding = [i for i, result in enumerate(results) if self._steps_up(result)]
        hypothetical = self._authorize_many(
            subject, [(questions[i], prepared[i][0], self._with_jit(prepared[i][1])) for i in holding]
        )
        step_up = {i: result.allowed for i, result in zip(holding, hypothetical, strict=True)}
        return [
            self._verdict(subject, q, covering, context, result, now, step_up.get(i, False))
            for i, (q, (covering, context), result) in enumerate(
                zip(questions, prepared, results, strict=True)
            )
        ]

    def _authorize_many(
        self, subject: Subject, asked: list[tuple[Question, list[GrantFact], dict]]
    ) -> list[Outcome]:
        """Cedar's outcomes for one subject's questions: reused where the same shape was answered before
        (`outcome_key`), the rest in one call per round. The questions' resources join the subject's
        entities together, so a round holds each resource once (two actions on one resource whose
        covering grants differ go in separate rounds)."""
        outcomes: list[Outcome | None] = [None] * len(asked)
        keys = [self.outcome_key(subject, question, context) for question, _covering, context in asked]
        pending = []
        for i, key in enumerate(keys):
            known = self._outcomes.get(key) if key is not None else None
            if known is None:
                pending.append(i)
            outcomes[i] = known
        while pending:
            round_: dict[tuple[str, str], list[int]] = {}
            parents: dict[tuple[str, str], tuple[str, ...]] = {}
            later = []
            for i in pending:
                question, covering, _context = asked[i]
                resource = (question.resource_kind, question.resource_name)
                if parents.setdefault(resource, tuple(g.id for g in covering)) != tuple(
                    g.id for g in covering
                ):
                    later.append(i)
                else:
                    round_.setdefault(resource, []).append(i)
            delta = [self._resource(asked[idx[0]][0], asked[idx[0]][1]) for idx in round_.values()]
            entities = self.base_entities(subject).with_added_json_str(json.dumps(delta))
            order = [i for idx in round_.values() for i in idx]
            requests = [self._request(subject, asked[i][0], asked[i][2]) for i in order]
            answered = cedarpy.is_authorized_batch(requests, self.policies, entities, self.schema)
            for i, result in zip(order, answered, strict=True):
                outcome = Outcome(
                    result.allowed,
                    tuple(sorted(result.diagnostics.reasons, key=self._position)),
                    tuple(result.diagnostics.errors),
                )
                outcomes[i] = outcome
                if keys[i] is not None and not outcome.errors:  # an error may name the entity: not reused
                    if len(self._outcomes) >= self.OUTCOME_CACHE_SIZE:
                        self._outcomes.clear()
                    self._outcomes[keys[i]] = outcome
            pending = later
        return outcomes  # type: ignore[return-value]

    def _steps_up(self, outcome: Outcome) -> bool:
        """Denied only by step-up policies, with no error: a live JIT grant might turn it into an allow."""
        if outcome.allowed or outcome.errors:
            return False
        forbids = [p for p in outcome.fired if self.is_forbid(p)]
        return bool(forbids) and all(self.is_step_up(p) for p in forbids)

    @staticmethod
    def _with_jit(context: dict) -> dict:
        return dict(context, in_scope=True, jit_grant=True, standing_grant=False)

    def _position(self, parser_id: str) -> tuple[int, str]:
        """Policies in the set's own order (Cedar reports those that fired in no fixed order)."""
        number = parser_id.removeprefix("policy")
        return (int(number), "") if number.isdigit() else (-1, parser_id)

    def _verdict(self, subject, question, covering, context, outcome: Outcome, now, step_up=None) -> Verdict:
        """The verdict from Cedar's outcome. `step_up`: whether the question is allowed with a JIT grant,
        when already asked (None: ask now, if a step-up policy is all that holds it)."""
        fired = list(outcome.fired)
        errors = list(outcome.errors)
        if outcome.allowed:
            return self._allowed(subject, question, covering, fired, context, now)
        forbids = [p for p in fired if self.is_forbid(p)]
        reasons = [f"Policy evaluation error: {e}" for e in errors]
        if subject.status != "active":
            reasons.append(f"The identity is {subject.status}.")
        verdict = self._citing(Decision.DENY, forbids, covering, reasons)
        if not covering and not errors:
            verdict.reasons.append(
                f"Out of scope: no current grant covers {question.action} on "
                f"{question.resource_kind} {question.resource_name}."
            )
        if forbids and not errors and all(self.is_step_up(p) for p in forbids):
            if step_up is None:
                step_up = self._authorize(subject, question, covering, self._with_jit(context)).allowed
            if step_up:
                verdict.decision = Decision.STEP_UP
                verdict.reasons.append(
                    "Step up: request just-in-time access for this action and resource "
                    "(POST /api/v1/access-requests/); it is allowed while that grant is live."
                )
                return verdict
        verdict.out_of_scope = not covering
        if not forbids and covering and not errors:
            verdict.reasons.append("No policy permits this request.")
        return verdict

    def _citing(self, decision: str, policies: list, grants: list, reasons: list[str], **fields) -> Verdict:
        """A verdict citing `policies` (each with its reason, before `reasons`) and `grants`."""
        return Verdict(
            decision=decision,
            reasons=[f"{self.policy_id(p)}: {self.reason_of(p)}" for p in policies] + reasons,
            policy_version=self.version,
            policies=[self.policy_id(p) for p in policies],
            grants=[g.id for g in grants],
            **fields,
        )

    def _allowed(self, subject, question, covering, fired, context, now) -> Verdict:
        permits = [p for p in fired if not self.is_forbid(p)]
        # Prefer to cite JIT grants first when one decided; otherwise the standing ones.
        cited = sorted(covering, key=lambda g: (not g.jit, g.id))
        verdict = self._citing(
            Decision.ALLOW, permits, cited, [g.describe() for g in cited], jit=context["jit_grant"]
        )
        if subject.exceptions:
            # Which forbids would have fired without the exceptions? Those exceptions decided.
            bare = self._authorize(subject.without_exceptions(), question, covering, context)
            lifted = {self.policy_id(p): p for p in bare.fired if self.is_forbid(p)}
            for exception in subject.exceptions:
                if exception.rule in lifted:
                    until = (
                        datetime.fromtimestamp(exception.expires_at, UTC).strftime("%Y-%m-%d")
                        if exception.expires_at
                        else "no expiry"
                    )
                    verdict.reasons.append(
                        f"Exception #{exception.id} (until {until}) permits what {exception.rule} forbids: "
                        f"{self.reason_of(lifted[exception.rule])}"
                    )
                    verdict.exceptions.append(exception.id)
                    verdict.policies.append(exception.rule)
        return verdict


_COMPILED: OrderedDict[tuple[int, str], CompiledPolicySet] = OrderedDict()
_COMPILED_LOCK = threading.Lock()


def compiled_by_digest(version: int, digest: str) -> CompiledPolicySet | None:
    with _COMPILED_LOCK:
        return _COMPILED.get((version, digest))


_DIGESTS: dict[tuple[str, str], str] = {}


def _content_digest(text: str, schema_text: str) -> str:
    """The set's digest, hashed once per text: a string keeps its own hash, so finding the same text
    again costs a dictionary lookup, where hashing the shipped defaults (every decision, until a
    version is saved) cost 0.1 ms."""
    digest = _DIGESTS.get((text, schema_text))
    if digest is None:
        digest = hashlib.sha256(f"{text}\x00{schema_text}".encode()).hexdigest()
        with _COMPILED_LOCK:
            if len(_DIGESTS) >= 8:
                _DIGESTS.clear()
            _DIGESTS[(text, schema_text)] = digest
    return digest


def defaults_digest() -> str:
    """The shipped set's content digest (as `compile_policy_set` keys it)."""
    return _content_digest(default_policy_text(), default_schema_text())


def compile_policy_set(version: int, text: str, schema_text: str) -> CompiledPolicySet:
    """Parse once per (version, content); kept in this process (a few sets at most)."""
    key = (version, _content_digest(text, schema_text))
    with _COMPILED_LOCK:
        compiled = _COMPILED.get(key)
        if compiled is not None:
            return compiled
    compiled = CompiledPolicySet(version, text, schema_text)
    with _COMPILED_LOCK:
        _COMPILED[key] = compiled
        while len(_COMPILED) > 8:
            _COMPILED.popitem(last=False)
    return compiled


# ---------------------------------------------------------------- test cases (synthetic requests)

IDENTITY_DEFAULTS = {
    "kind": "ai_agent",
    "tier": "medium",
    "status": "active",
    "environments": ["dev"],
    "owner_active": True,
    "open_critical_findings": 0,
    "exceptions": [],
}


def subject_from_case(request: dict[str, Any]) -> tuple[Subject, Question]:
    """A saved test case describes its identity and grants inline, so it never depends on live data."""
    identity = {**IDENTITY_DEFAULTS, **(request.get("identity") or {})}
    grants = tuple(
        GrantFact(
            id=f"t{index}",
            resource_kind=g["resource_kind"],
            resource_pattern=g["resource_name"],
            actions=frozenset(g["actions"]),
            jit=bool(g.get("jit")),
            expires_at=None,
        )
        for index, g in enumerate(request.get("grants") or [], start=1)
    )
    subject = Subject(
        id="test",
        name="test case",
        kind=identity["kind"],
        tier=identity["tier"],
        status=identity["status"],
        environments=tuple(identity["environments"]),
        owner_active=bool(identity["owner_active"]),
        open_critical_findings=int(identity["open_critical_findings"]),
        exceptions=tuple(ExceptionFact(id=f"t{i}", rule=r) for i, r in enumerate(identity["exceptions"], 1)),
        grants=grants,
    )
    resource = request.get("resource") or {}
    question = Question(
        action=request["action"],
        resource_kind=resource.get("kind", ""),
        resource_name=resource.get("name", ""),
        environment=request["environment"],
        task_ref=request.get("task_ref", ""),
    )
    return subject, question


def check_case_shape(request: Any) -> list[str]:
    """What is wrong with a test case's request JSON, in words ([] when it is usable)."""
    if not isinstance(request, dict):
        return ["The request must be a JSON object."]
    errors = []
    for key in ("action", "environment", "resource"):
        if key not in request:
            errors.append(f"'{key}' is required.")
    resource = request.get("resource")
    if resource is not None and (not isinstance(resource, dict) or not {"kind", "name"} <= set(resource)):
        errors.append("'resource' needs 'kind' and 'name'.")
    identity = request.get("identity", {})
    if not isinstance(identity, dict):
        errors.append("'identity' must be an object (kind, tier, status, environments, ...).")
    else:
        unknown = set(identity) - set(IDENTITY_DEFAULTS)
        if unknown:
            errors.append(f"Unknown identity fields: {', '.join(sorted(unknown))}.")
    grants = request.get("grants", [])
    if not isinstance(grants, list):
        errors.append("'grants' must be a list.")
    else:
        for index, grant in enumerate(grants, start=1):
            if not isinstance(grant, dict) or not {"resource_kind", "resource_name", "actions"} <= set(grant):
                errors.append(f"Grant {index} needs resource_kind, resource_name and actions.")
    return errors


def run_case(compiled: CompiledPolicySet, request: dict[str, Any], now: datetime) -> Verdict:
    subject, question = subject_from_case(request)
    chain = request.get("chain") if isinstance(request.get("chain"), dict) else None
    try:
        return compiled.evaluate(subject, question, now, {**NO_CHAIN, **chain} if chain else None)
    except (ValueError, KeyError, TypeError) as exc:
        return Verdict(Decision.DENY, [f"The test case could not be evaluated: {exc}"], compiled.version)
