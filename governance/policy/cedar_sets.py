"""Versioned Cedar policy sets and their test cases: save, test, activate, roll back.

Security edits policies in the browser. A saved version is never changed; it is validated against its
schema and tried against every saved test case when it is saved, and again when someone activates it.
A version that is invalid or fails a test case cannot be activated. Activating an older version is a
rollback: a new, audited activation.

Activation takes two people: Security proposes activating a version (`propose_activation`), and it
answers decisions only once someone else (Security or IAM, never the proposer) approves it
(`approve_activation`). Only system actors activate directly (`activate`), for setup.
"""

from __future__ import annotations

import difflib
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from governance import audit, safe_json
from governance.actors import Actor, as_actor, system
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import Role
from governance.policy import cedar
from governance.policy.models import CedarActivation, CedarPolicySet, PolicyTestCase, content_digest
from governance.policy.services import person_of, require_second_person_role, version_label

MAX_TEXT = 200_000
DECIDED_MEANWHILE = "Someone else decided this activation just now."


def require_security(actor: Actor, what: str) -> None:
    if actor.is_system:
        return
    user = actor.user
    if user is None or user.is_auditor or not user.has_role(Role.SECURITY):
        raise NotAllowed(f"Only Security admins may {what}.")


# ---------------------------------------------------------------- reading


def active_row() -> CedarPolicySet | None:
    return CedarPolicySet.objects.filter(is_active=True).first()


def compiled_version(version: int | None, digest: str | None = None) -> cedar.CompiledPolicySet:
    """The compiled set for the active version, as the decision query read it (number and digest).

    No version means nothing was ever saved: the built-in defaults from the repository apply.
    Compiled sets are kept per process by content digest, so this touches the database only on a
    version's first use in a process.
    """
    if not version:
        return cedar.compile_policy_set(
            cedar.DEFAULT_VERSION, cedar.default_policy_text(), cedar.default_schema_text()
        )
    if digest and (cached := cedar.compiled_by_digest(version, digest)) is not None:
        return cached
    row = CedarPolicySet.objects.filter(version=version).only("version", "text", "schema").first()
    if row is None:
        return compiled_version(None)
    return cedar.compile_policy_set(row.version, row.text, row.schema)


def active_fingerprint() -> tuple[int, str]:
    """The active set's (version, content digest); the shipped defaults' when none is active. Two
    equal fingerprints answer every question alike."""
    row = CedarPolicySet.objects.filter(is_active=True).values_list("version", "digest").first()
    if row:
        return row
    return cedar.DEFAULT_VERSION, cedar.defaults_digest()


def active_compiled() -> cedar.CompiledPolicySet:
    row = CedarPolicySet.objects.filter(is_active=True).values_list("version", "digest").first()
    return compiled_version(*row) if row else compiled_version(None)


# ---------------------------------------------------------------- tests


def run_test_cases(
    compiled: cedar.CompiledPolicySet, cases: list[PolicyTestCase] | None = None
) -> dict[str, Any]:
    """Run every saved test case; returns {"passed", "failed", "results": [...]} (JSON-ready)."""
    cases = list(PolicyTestCase.objects.order_by("name")) if cases is None else cases
    now = timezone.now()
    results = []
    for case in cases:
        verdict = cedar.run_case(compiled, case.request, now)
        results.append(
            {
                "case": case.pk,
                "name": case.name,
                "expected": case.expected,
                "actual": verdict.decision,
                "passed": verdict.decision == case.expected,
                "reasons": verdict.reasons,
            }
        )
    failed = sum(1 for r in results if not r["passed"])
    return {"passed": len(results) - failed, "failed": failed, "results": results, "at": now.isoformat()}


def _check(text: str, schema: str) -> tuple[list[str], dict[str, Any]]:
    errors = cedar.validate(text, schema)
    if errors:
        return errors, {"passed": 0, "failed": 0, "results": [], "skipped": "the policies are not valid"}
    return errors, run_test_cases(cedar.CompiledPolicySet(0, text, schema))


def blocking_problems(policy_set: CedarPolicySet) -> list[str]:
    """Why this version cannot be activated now (validation, then each failing test case)."""
    errors, results = _check(policy_set.text, policy_set.schema)
    problems = [f"Invalid: {e}" for e in errors]
    problems += [
        f"Test case '{r['name']}' expects {r['expected']} but got {r['actual']}."
        for r in results.get("results", [])
        if not r["passed"]
    ]
    return problems


# ---------------------------------------------------------------- writing


def _next_version() -> int:
    last = CedarPolicySet.objects.order_by("-version").values_list("version", flat=True).first()
    return (last or 0) + 1


@transaction.atomic
def save_version(
    actor, *, text: str, schema: str, note: str = "", based_on: int | None = None
) -> CedarPolicySet:
    """Store a new version (not active). Invalid or failing versions are kept, marked, and blocked."""
    actor = as_actor(actor)
    require_security(actor, "change the request-time policies")
    text = (text or "").replace("\r\n", "\n")
    schema = (schema or "").replace("\r\n", "\n")
    errors: dict[str, list[str]] = {}
    if not text.strip():
        errors["text"] = ["Write at least one policy."]
    if not schema.strip():
        errors["schema"] = ["The schema is required."]
    if len(text) > MAX_TEXT or len(schema) > MAX_TEXT:
        errors.setdefault("text", []).append(f"Keep policies and schema under {MAX_TEXT:,} characters.")
    if not (note or "").strip():
        errors["note"] = ["Say what changed and why; it is kept with the version."]
    if errors:
        raise ValidationError(errors)
    validation_errors, results = _check(text, schema)
    policy_set = CedarPolicySet.objects.create(
        version=_next_version(),
        text=text,
        schema=schema,
        note=note.strip(),
        based_on=based_on,
        created_by=actor.label,
        validation_errors=validation_errors,
        test_results=results,
    )
    audit.record(
        actor,
        "cedar_policy.saved",
        policy_set,
        after={
            "version": policy_set.version,
            "based_on": based_on,
            "valid": not validation_errors,
            "tests_failed": results.get("failed", 0),
        },
        reason=note,
    )
    return policy_set


def _activation_problems(policy_set: CedarPolicySet) -> tuple[list[str], dict[str, Any]]:
    """Validate and test again now (test cases may have changed since it was saved); keep the results."""
    errors, results = _check(policy_set.text, policy_set.schema)
    CedarPolicySet.objects.filter(pk=policy_set.pk).update(validation_errors=errors, test_results=results)
    problems = [f"Invalid: {e}" for e in errors] + [
        f"Test case '{r['name']}' expects {r['expected']} but got {r['actual']}."
        for r in results.get("results", [])
        if not r["passed"]
    ]
    if problems:
        raise ValidationError({"activation": problems})
    return problems, results


def _switch(actor: Actor, policy_set: CedarPolicySet) -> CedarPolicySet:
    now = timezone.now()
    CedarPolicySet.objects.filter(is_active=True).update(is_active=False)
    CedarPolicySet.objects.filter(pk=policy_set.pk).update(
        is_active=True, activated_at=now, activated_by=actor.label
    )
    policy_set.refresh_from_db()
    return policy_set


@transaction.atomic
def activate(actor, policy_set: CedarPolicySet, *, reason: str = "") -> CedarPolicySet:
    """Make `policy_set` the one decisions use at once: for system actors only (setup, fixtures).

    People propose an activation and a second person approves it (`propose_activation`,
    `approve_activation`). Refused (400, with the list) when it is invalid or a saved test case fails."""
    actor = as_actor(actor)
    if not actor.is_system:
        raise NotAllowed("Activating policies takes two people: propose it, and a second person approves.")
    policy_set = CedarPolicySet.objects.select_for_update().get(pk=policy_set.pk)
    previous = CedarPolicySet.objects.select_for_update().filter(is_active=True).first()
    if previous is not None and previous.pk == policy_set.pk:
        raise IllegalTransition(f"Version {policy_set.version} is already active.")
    _problems, results = _activation_problems(policy_set)
    policy_set = _switch(actor, policy_set)
    rollback = previous is not None and policy_set.version < previous.version
    audit.record(
        actor,
        "cedar_policy.rolled_back" if rollback else "cedar_policy.activated",
        policy_set,
        before={"active_version": previous.version if previous else None},
        after={"active_version": policy_set.version, "tests_passed": results.get("passed", 0)},
        reason=reason or policy_set.note,
    )
    return policy_set


def pending_activation(policy_set: CedarPolicySet) -> CedarActivation | None:
    return policy_set.activations.filter(state=CedarActivation.State.PROPOSED).first()


@transaction.atomic
def propose_activation(actor, policy_set: CedarPolicySet, *, reason: str = "") -> CedarActivation:
    """Security proposes making `policy_set` active (a rollback when it is older than the active one).

    Refused (400, with the list) when it is invalid or a saved test case fails; a conflict (409) when it
    is already active or already waiting for a second person. Decisions do not change yet."""
    actor = as_actor(actor)
    require_security(actor, "propose activating request-time policies")
    policy_set = CedarPolicySet.objects.select_for_update().get(pk=policy_set.pk)
    active = CedarPolicySet.objects.select_for_update().filter(is_active=True).first()
    if active is not None and active.pk == policy_set.pk:
        raise IllegalTransition(f"Version {policy_set.version} is already active.")
    if pending_activation(policy_set) is not None:
        raise IllegalTransition(
            f"Activating version {policy_set.version} is already waiting for a second person."
        )
    _problems, results = _activation_problems(policy_set)
    proposal = CedarActivation.objects.create(
        policy_set=policy_set,
        proposed_by=person_of(actor),
        reason=reason,
        from_version=active.version if active else None,
    )
    audit.record(
        actor,
        "cedar_policy.activation_proposed",
        proposal,
        before={"active_version": proposal.from_version},
        after={
            "version": policy_set.version,
            "rollback": proposal.is_rollback,
            "tests_passed": results.get("passed", 0),
        },
        reason=reason or policy_set.note,
    )
    return proposal


def _locked_activation(actor: Actor, policy_set: CedarPolicySet, verb: str) -> CedarActivation:
    proposal = (
        CedarActivation.objects.select_for_update()
        .select_related("policy_set")
        .filter(policy_set=policy_set, state=CedarActivation.State.PROPOSED)
        .first()
    )
    if proposal is None:
        raise IllegalTransition(f"No activation of version {policy_set.version} is waiting for a decision.")
    if proposal.proposed_by == person_of(actor):
        raise NotAllowed(
            f"You proposed activating version {policy_set.version}, so you cannot {verb} it: a second "
            "person (Security or IAM) must."
        )
    return proposal


@transaction.atomic
def approve_activation(actor, policy_set: CedarPolicySet, *, comment: str = "") -> CedarPolicySet:
    """The second person confirms a proposed activation: from now on the version answers decisions.

    403 for the proposer and anyone but Security or IAM; 409 when nothing is waiting or the proposal is
    stale (another version was activated after it was proposed); 400 when it no longer passes its checks."""
    actor = as_actor(actor)
    require_second_person_role(actor, "approve activating request-time policies")
    proposal = _locked_activation(actor, policy_set, "approve")
    policy_set = CedarPolicySet.objects.select_for_update().get(pk=proposal.policy_set_id)
    previous = CedarPolicySet.objects.select_for_update().filter(is_active=True).first()
    in_force = previous.version if previous else None
    if in_force != proposal.from_version:
        raise IllegalTransition(
            f"This proposal is stale: it was made while {version_label(proposal.from_version)} was active, "
            f"but {version_label(in_force)} is active now. Reject it and propose again."
        )
    _problems, results = _activation_problems(policy_set)
    now = timezone.now()
    proposal.decide(
        CedarActivation.State.APPROVED, person_of(actor), comment, now, conflict=DECIDED_MEANWHILE
    )
    policy_set = _switch(actor, policy_set)
    audit.record(
        actor,
        "cedar_policy.rolled_back" if proposal.is_rollback else "cedar_policy.activated",
        policy_set,
        before={"active_version": in_force},
        after={
            "active_version": policy_set.version,
            "tests_passed": results.get("passed", 0),
            "proposed_by": proposal.proposed_by,
            "activation": proposal.pk,
        },
        reason=comment or proposal.reason or policy_set.note,
    )
    return policy_set


@transaction.atomic
def reject_activation(actor, policy_set: CedarPolicySet, *, comment: str = "") -> CedarActivation:
    """A second person turns a proposed activation down; the active version stays."""
    actor = as_actor(actor)
    require_second_person_role(actor, "reject activating request-time policies")
    proposal = _locked_activation(actor, policy_set, "reject")
    proposal.decide(
        CedarActivation.State.REJECTED, person_of(actor), comment, timezone.now(), conflict=DECIDED_MEANWHILE
    )
    proposal.refresh_from_db()
    audit.record(
        actor,
        "cedar_policy.activation_rejected",
        proposal,
        before={"state": CedarActivation.State.PROPOSED},
        after={"state": proposal.state, "version": policy_set.version, "proposed_by": proposal.proposed_by},
        reason=comment,
    )
    return proposal


def _clean_case(name: str, request: Any, expected: str) -> tuple[str, dict, str]:
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not name:
        errors["name"] = ["Give the test case a name that says what it checks."]
    elif len(name) > 200:
        errors["name"] = ["Keep the name under 200 characters."]
    if isinstance(request, str):
        try:
            request = safe_json.loads(request)
        except ValueError as exc:
            errors["request"] = [f"Not valid JSON: {exc}"]
            request = None
    if request is not None and (shape := cedar.check_case_shape(request)):
        errors["request"] = shape
    if expected not in cedar.Decision.ALL:
        errors["expected"] = [f"Choose one of: {', '.join(cedar.Decision.ALL)}."]
    if name and PolicyTestCase.objects.filter(name=name).exists():
        errors.setdefault("name", []).append("A test case with this name already exists.")
    if errors:
        raise ValidationError(errors)
    return name, request, expected


@transaction.atomic
def add_test_case(actor, *, name: str, request: Any, expected: str) -> PolicyTestCase:
    actor = as_actor(actor)
    require_security(actor, "change policy test cases")
    name, request, expected = _clean_case(name, request, expected)
    case = PolicyTestCase.objects.create(
        name=name, request=request, expected=expected, created_by=actor.label
    )
    audit.record(
        actor, "cedar_policy.test_added", case, after={"name": name, "request": request, "expected": expected}
    )
    return case


@transaction.atomic
def delete_test_case(actor, case: PolicyTestCase, *, reason: str = "") -> None:
    actor = as_actor(actor)
    require_security(actor, "change policy test cases")
    case = PolicyTestCase.objects.select_for_update().get(pk=case.pk)
    audit.record(
        actor,
        "cedar_policy.test_removed",
        case,
        before={"name": case.name, "request": case.request, "expected": case.expected},
        reason=reason,
    )
    case.delete()


def load_defaults(policy_model, case_model, *, created_by: str = "system:policy") -> bool:
    """Create version 1 from the repository's files plus the default test cases, when there is no
    version yet. Used by the data migration (with historical models) and on first use."""
    if policy_model.objects.exists():
        return False
    text, schema = cedar.default_policy_text(), cedar.default_schema_text()
    for case in cedar.default_test_cases():
        case_model.objects.get_or_create(
            name=case["name"],
            defaults={"request": case["request"], "expected": case["expected"], "created_by": created_by},
        )
    now = timezone.now()
    policy_model.objects.create(
        version=1,
        text=text,
        schema=schema,
        digest=content_digest(text, schema),
        is_active=True,
        created_by=created_by,
        note="Default policies shipped with Steward.",
        validation_errors=cedar.validate(text, schema),
        test_results={},
        activated_at=now,
        activated_by=created_by,
    )
    return True


@transaction.atomic
def ensure_defaults() -> CedarPolicySet | None:
    """On first use (e.g. a database flushed after migrating): load the defaults, audited."""
    if CedarPolicySet.objects.exists():
        return None
    if not load_defaults(CedarPolicySet, PolicyTestCase):
        return None
    row = CedarPolicySet.objects.get(version=1)
    CedarPolicySet.objects.filter(pk=row.pk).update(
        test_results=run_test_cases(compiled_version(1, row.digest))
    )
    row.refresh_from_db()
    audit.record(system("policy"), "cedar_policy.defaults_loaded", row, after={"version": 1})
    return row


# ---------------------------------------------------------------- diff


def diff_lines(old: CedarPolicySet, new: CedarPolicySet) -> list[tuple[str, str]]:
    """A unified diff of the policies (then the schema, if it changed) as (css class, line) pairs."""
    lines: list[tuple[str, str]] = []
    for label, a, b in (("policies", old.text, new.text), ("schema", old.schema, new.schema)):
        diff = list(
            difflib.unified_diff(
                a.splitlines(),
                b.splitlines(),
                fromfile=f"v{old.version} {label}",
                tofile=f"v{new.version} {label}",
                lineterm="",
                n=3,
            )
        )
        for line in diff:
            if line.startswith(("+++", "---")):
                css = "diff-file"
            elif line.startswith("@@"):
                css = "diff-hunk"
            elif line.startswith("+"):
                css = "diff-add"
            elif line.startswith("-"):
                css = "diff-del"
            else:
                css = "diff-ctx"
            lines.append((css, line))
    return lines
