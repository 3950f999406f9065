"""The governance policy: defaults from public practice, versioned changes, and read helpers.

Defaults follow the design's table (CIS v8 5.3/5.5, PCI DSS 7.2.5.1 and 8.2.6, CIS AWS key rotation).

A change takes two people: Security proposes a version, and it is in force only once someone else
(Security or IAM, never the proposer) approves it. Automatic approval never goes above
`MAX_AUTO_APPROVE_TIER`, whatever a document says: approvals.routing caps it in code, so a document
asking for more may be proposed (the contract's 202) but never makes a high or critical request
automatic, in force or not.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.people.models import Role
from governance.policy.models import PolicyVersion
from governance.threats.catalogue import CATALOGUES as THREAT_CATALOGUES
from governance.threats.catalogue import DEFAULT_VERSION as DEFAULT_CATALOGUE

TIERS = ("low", "medium", "high", "critical")
# Above this tier a person always decides: no policy document can make high or critical automatic.
MAX_AUTO_APPROVE_TIER = "medium"
APPROVER_ROLES = {"iam": Role.IAM, "security": Role.SECURITY}

DEFAULT_POLICY: dict[str, Any] = {
    "tiers": {
        "low": {
            "steps": ["iam"],
            "review_days": 365,
            "rotation_days": 365,
            "stale_days": 90,
            "exception_max_days": 365,
        },
        "medium": {
            "steps": ["iam"],
            "review_days": 180,
            "rotation_days": 180,
            "stale_days": 90,
            "exception_max_days": 180,
        },
        "high": {
            "steps": ["iam", "security"],
            "review_days": 90,
            "rotation_days": 90,
            "stale_days": 45,
            "exception_max_days": 90,
        },
        # Critical: IAM, a second IAM approver (two distinct people), then Security.
        "critical": {
            "steps": ["iam", "iam", "security"],
            "review_days": 90,
            "rotation_days": 90,
            "stale_days": 45,
            "exception_max_days": 30,
        },
    },
    "allowed_vendors": [
        "Anthropic",
        "GitHub",
        "OpenAI",
        "Google",
        "Microsoft",
        "JetBrains",
        "Amazon Web Services",
        "Sourcegraph",
        "Atlassian",
        "GitLab",
        "Datadog",
        "Snyk",
        "HashiCorp",
        "Internal",
        "Steward",
    ],
    "allowed_models": [],
    "deny_rules": [
        {
            "code": "assistant_prod_secrets",
            "kinds": ["ai_assistant", "ide_plugin"],
            "environments": ["prod"],
            "actions": ["read_secrets", "write_secrets"],
            "message": "AI assistants and IDE plugins may not read or write secrets in prod.",
        },
        {
            "code": "agent_prod_admin",
            "kinds": ["ai_agent", "ai_assistant"],
            "environments": ["prod"],
            "actions": ["admin"],
            "message": "AI agents and assistants may not hold admin rights in prod.",
        },
    ],
    "min_owners": 1,
    "auto_approve": {
        "enabled": True,
        "max_tier": "low",
        "environments": ["sandbox"],
        "read_only": True,
        "allowed_vendor_only": True,
    },
    # Just-in-time access: how long approvers have to decide, and who decides.
    "jit": {"deadline_minutes": 60, "steps": ["iam"], "critical_steps": ["iam", "security"]},
    "request_reminder_days": 3,
    "request_expiry_days": 14,
    "static_credential_kinds": ["static_key", "pat", "password", "ssh_key"],
    # Days to fix a finding after it is first seen, by severity: its due date (issue 19 item 11).
    # Common remediation SLAs (critical a week, high a month, medium a quarter, low half a year).
    "finding_sla_days": {"critical": 7, "high": 30, "medium": 90, "low": 180},
    # The agent threat catalogue (CSA MAESTRO layers, OWASP Agentic Top 10) that judges threat
    # profiles: a version of governance/threats/catalogue.py, moved by a policy change (issue 25).
    "threat_catalogue": DEFAULT_CATALOGUE,
}
SEVERITIES = ("low", "medium", "high", "critical")


@dataclass(frozen=True)
class TierPolicy:
    steps: tuple[str, ...]
    review_days: int
    rotation_days: int
    stale_days: int
    exception_max_days: int


class Policy:
    def __init__(self, document: dict[str, Any], version: int):
        self.document = document
        self.version = version

    def tier(self, tier: str) -> TierPolicy:
        data = self.document["tiers"][tier]
        return TierPolicy(
            steps=tuple(data["steps"]),
            review_days=int(data["review_days"]),
            rotation_days=int(data["rotation_days"]),
            stale_days=int(data["stale_days"]),
            exception_max_days=int(data["exception_max_days"]),
        )

    @property
    def allowed_vendors(self) -> list[str]:
        return list(self.document.get("allowed_vendors", []))

    def vendor_allowed(self, vendor: str) -> bool:
        allowed = {v.casefold() for v in self.allowed_vendors}
        return not allowed or (vendor or "").casefold() in allowed

    def model_allowed(self, model_name: str) -> bool:
        allowed = {m.casefold() for m in self.document.get("allowed_models", [])}
        return not allowed or not model_name or model_name.casefold() in allowed

    @property
    def deny_rules(self) -> list[dict[str, Any]]:
        return list(self.document.get("deny_rules", []))

    def denied(self, kind: str, environments: list[str], actions: list[str]) -> list[dict[str, Any]]:
        """Deny rules that a (kind, environments, actions) combination breaks."""
        hits = []
        for rule in self.deny_rules:
            if rule.get("kinds") and kind not in rule["kinds"]:
                continue
            if rule.get("environments") and not set(environments) & set(rule["environments"]):
                continue
            if rule.get("actions") and not set(actions) & set(rule["actions"]):
                continue
            hits.append(rule)
        return hits

    def get(self, key: str, default: Any = None) -> Any:
        return self.document.get(key, default)

    def finding_sla_days(self, severity: str) -> int:
        """Days a finding of this severity has before it is overdue (the default when unset)."""
        sla = self.document.get("finding_sla_days") or DEFAULT_POLICY["finding_sla_days"]
        return int(sla.get(severity, DEFAULT_POLICY["finding_sla_days"].get(severity, 90)))


def current_policy() -> Policy:
    row = PolicyVersion.objects.filter(state=PolicyVersion.State.ACTIVE).only("version", "document").first()
    if row is None:
        return Policy(copy.deepcopy(DEFAULT_POLICY), 0)
    return Policy(row.document, row.version)


def _auto_approve_errors(config: Any) -> dict[str, list[str]]:
    if config is None:
        return {}
    if not isinstance(config, dict):
        return {"auto_approve": ["Must be an object."]}
    problems = []
    max_tier = config.get("max_tier", "low")
    if max_tier not in TIERS:
        problems.append(f"max_tier: one of {', '.join(TIERS)}.")
    for key in ("enabled", "read_only", "allowed_vendor_only"):
        if key in config and not isinstance(config[key], bool):
            problems.append(f"{key}: true or false.")
    environments = config.get("environments", [])
    if not isinstance(environments, list) or not all(isinstance(e, str) for e in environments):
        problems.append("environments: a list of environment names.")
    return {"auto_approve": problems} if problems else {}


def _sla_errors(sla: Any) -> dict[str, list[str]]:
    """finding_sla_days: a whole number of days, 1 to 3650, for each severity; a worse severity never
    gets longer than a milder one."""
    if sla is None:
        return {}
    if not isinstance(sla, dict) or set(sla) != set(SEVERITIES):
        return {"finding_sla_days": [f"Give days for exactly these severities: {', '.join(SEVERITIES)}."]}
    problems = [
        f"{severity}: a whole number of days, 1 to 3650."
        for severity in SEVERITIES
        if not isinstance(sla[severity], int)
        or isinstance(sla[severity], bool)
        or not 1 <= sla[severity] <= 3650
    ]
    if not problems:
        problems = [
            f"{worse} ({sla[worse]} days) may not have longer than {milder} ({sla[milder]} days)."
            for milder, worse in zip(SEVERITIES, SEVERITIES[1:], strict=False)
            if sla[worse] > sla[milder]
        ]
    return {"finding_sla_days": problems} if problems else {}


def validate_document(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise ValidationError({"document": "The policy must be a JSON object."})
    errors: dict[str, list[str]] = {}
    tiers = document.get("tiers")
    if not isinstance(tiers, dict) or set(tiers) != set(TIERS):
        errors.setdefault("tiers", []).append(f"Give settings for exactly these tiers: {', '.join(TIERS)}.")
    else:
        for name, data in tiers.items():
            if not isinstance(data, dict):
                errors.setdefault("tiers", []).append(f"{name}: must be an object.")
                continue
            steps = data.get("steps")
            if not isinstance(steps, list) or not steps or any(s not in APPROVER_ROLES for s in steps):
                errors.setdefault("tiers", []).append(
                    f"{name}.steps: a non-empty list of 'iam' / 'security'."
                )
            for key in ("review_days", "rotation_days", "stale_days", "exception_max_days"):
                value = data.get(key)
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650:
                    errors.setdefault("tiers", []).append(f"{name}.{key}: a whole number of days, 1 to 3650.")
    jit = document.get("jit")
    if jit is not None:
        if not isinstance(jit, dict):
            errors.setdefault("jit", []).append("Must be an object.")
        else:
            deadline = jit.get("deadline_minutes", 60)
            if not isinstance(deadline, int) or isinstance(deadline, bool) or not 5 <= deadline <= 1440:
                errors.setdefault("jit", []).append("deadline_minutes: a whole number of minutes, 5 to 1440.")
            for key in ("steps", "critical_steps"):
                steps = jit.get(key, ["iam"])
                if not isinstance(steps, list) or not steps or any(s not in APPROVER_ROLES for s in steps):
                    errors.setdefault("jit", []).append(f"{key}: a non-empty list of 'iam' / 'security'.")
    catalogue_version = document.get("threat_catalogue")
    if catalogue_version is not None and catalogue_version not in THREAT_CATALOGUES:
        errors.setdefault("threat_catalogue", []).append(
            f"One of the threat catalogue versions: {', '.join(THREAT_CATALOGUES)}."
        )
    errors.update(_auto_approve_errors(document.get("auto_approve")))
    errors.update(_sla_errors(document.get("finding_sla_days")))
    for key in ("allowed_vendors", "allowed_models", "deny_rules"):
        if key in document and not isinstance(document[key], list):
            errors.setdefault(key, []).append("Must be a list.")
    for rule in document.get("deny_rules", []) if isinstance(document.get("deny_rules"), list) else []:
        if not isinstance(rule, dict) or not rule.get("code"):
            errors.setdefault("deny_rules", []).append("Each deny rule needs a 'code'.")
    if errors:
        raise ValidationError(errors)
    merged = copy.deepcopy(DEFAULT_POLICY)
    merged.update(document)
    return merged


# ---------------------------------------------------------------- two people


def person_of(actor: Actor) -> str:
    """Who is behind the actor: a token acts for its person, and the two-person rule counts people."""
    return actor.user.get_username() if actor.user is not None else actor.label


def _require_proposer(actor: Actor) -> None:
    user = actor.user
    if user is None or user.is_auditor or not user.has_role(Role.SECURITY):
        raise NotAllowed("Only Security admins propose changes to the governance policy.")


def require_second_person_role(actor: Actor, what: str) -> None:
    """Security or IAM (not auditors, not owners) may be the second person."""
    user = actor.user
    if user is None or user.is_auditor or not user.has_role(Role.SECURITY, Role.IAM):
        raise NotAllowed(f"Only Security or IAM may {what}.")


def _next_version() -> int:
    last = PolicyVersion.objects.order_by("-version").values_list("version", flat=True).first()
    return (last or 0) + 1


def _active_for_update() -> PolicyVersion | None:
    return PolicyVersion.objects.select_for_update().filter(state=PolicyVersion.State.ACTIVE).first()


def _create(**fields) -> PolicyVersion:
    try:
        with transaction.atomic():
            return PolicyVersion.objects.create(version=_next_version(), **fields)
    except IntegrityError as exc:  # two saves at the same moment took the same number
        raise IllegalTransition("Another policy version was saved at the same moment; try again.") from exc


@transaction.atomic
def propose_policy(actor, document: Any, note: str = "") -> PolicyVersion:
    """Security: validate (400 per field, nothing written) and store a `proposed` version.

    Nothing changes until a second person approves it (`approve_policy`)."""
    actor = as_actor(actor)
    _require_proposer(actor)
    document = validate_document(document)
    active = _active_for_update()
    proposal = _create(
        document=document,
        state=PolicyVersion.State.PROPOSED,
        created_by=person_of(actor),
        note=note,
        based_on=active.version if active else None,
    )
    _record_new_version(actor, "policy.proposed", proposal, active, note)
    return proposal


def _record_new_version(actor: Actor, verb: str, new: PolicyVersion, active: PolicyVersion | None, note: str):
    """A version saved: the one in force then (and its document) before, the new one after."""
    audit.record(
        actor,
        verb,
        new,
        before={"version": active.version, "document": active.document} if active else None,
        after={"version": new.version, "state": new.state, "document": new.document},
        reason=note,
    )


def _locked_proposal(actor: Actor, version: int | PolicyVersion, verb: str) -> PolicyVersion:
    number = version.version if isinstance(version, PolicyVersion) else version
    row = PolicyVersion.objects.select_for_update().filter(version=number).first()
    if row is None:
        raise PolicyVersion.DoesNotExist(f"There is no policy version {number}.")
    if row.created_by == person_of(actor):
        raise NotAllowed(
            f"You proposed version {row.version}, so you cannot {verb} it: a second person "
            "(Security or IAM) must."
        )
    if row.state != PolicyVersion.State.PROPOSED:
        raise IllegalTransition(
            f"Version {row.version} is {row.state}; only a proposed version can be {verb}d."
        )
    return row


def _decide(proposal: PolicyVersion, state: str, actor: Actor, comment: str, now, **also) -> None:
    proposal.decide(
        state,
        person_of(actor),
        comment,
        now,
        conflict=f"Version {proposal.version} was decided by someone else just now.",
        **also,
    )


@transaction.atomic
def approve_policy(actor, version: int | PolicyVersion, comment: str = "") -> PolicyVersion:
    """The second person puts a proposed version in force; the one it replaces is superseded.

    Refused (403) for the proposer and for anyone but Security or IAM; a conflict (409) when the version
    is not proposed any more, or is stale (another version came into force after it was proposed)."""
    actor = as_actor(actor)
    require_second_person_role(actor, "approve governance policy changes")
    proposal = _locked_proposal(actor, version, "approve")
    active = _active_for_update()
    in_force = active.version if active else None
    if in_force != proposal.based_on:
        raise IllegalTransition(
            f"Version {proposal.version} is stale: it was proposed as a change to "
            f"{version_label(proposal.based_on)}, but {version_label(in_force)} is in force now. Reject it "
            "and propose again from the policy in force."
        )
    now = timezone.now()
    if active is not None:
        PolicyVersion.objects.filter(pk=active.pk, state=PolicyVersion.State.ACTIVE).update(
            state=PolicyVersion.State.SUPERSEDED, superseded_at=now
        )
    _decide(proposal, PolicyVersion.State.ACTIVE, actor, comment, now, activated_at=now)
    proposal.refresh_from_db()
    audit.record(
        actor,
        "policy.approved",
        proposal,
        before={"version": in_force, "document": active.document if active else None},
        after={
            "version": proposal.version,
            "state": proposal.state,
            "proposed_by": proposal.created_by,
            "document": proposal.document,
        },
        reason=comment,
    )
    return proposal


@transaction.atomic
def reject_policy(actor, version: int | PolicyVersion, comment: str = "") -> PolicyVersion:
    """A second person turns a proposal down; the policy in force stays."""
    actor = as_actor(actor)
    require_second_person_role(actor, "reject governance policy changes")
    proposal = _locked_proposal(actor, version, "reject")
    _decide(proposal, PolicyVersion.State.REJECTED, actor, comment, timezone.now())
    proposal.refresh_from_db()
    audit.record(
        actor,
        "policy.rejected",
        proposal,
        before={"version": proposal.version, "state": PolicyVersion.State.PROPOSED},
        after={"state": proposal.state, "proposed_by": proposal.created_by},
        reason=comment,
    )
    return proposal


@transaction.atomic
def install_policy(actor, document: Any, note: str = "") -> PolicyVersion:
    """Put a version in force at once, without a second person: for system actors only.

    Setup paths use it (`system:migration`, `system:seed_demo`, test fixtures): there is no person to
    be the second one, and nobody can reach it from a request. People always go through
    `propose_policy` and `approve_policy`. The document is validated like any proposal, so the
    automatic-approval cap holds here too."""
    actor = as_actor(actor)
    if not actor.is_system:
        raise NotAllowed("People change the governance policy by proposing a version for a second person.")
    document = validate_document(document)
    active = _active_for_update()
    now = timezone.now()
    if active is not None:
        PolicyVersion.objects.filter(pk=active.pk).update(
            state=PolicyVersion.State.SUPERSEDED, superseded_at=now
        )
    installed = _create(
        document=document,
        state=PolicyVersion.State.ACTIVE,
        created_by=actor.label,
        note=note,
        based_on=active.version if active else None,
        decided_by=actor.label,
        decided_at=now,
        activated_at=now,
    )
    _record_new_version(actor, "policy.installed", installed, active, note)
    return installed


def version_label(version: int | None) -> str:
    return f"v{version}" if version else "the built-in defaults"


# ---------------------------------------------------------------- what a proposal changes


def _flatten(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict) and value:
        flat: dict[str, Any] = {}
        for key in sorted(value):
            flat.update(_flatten(value[key], f"{path}.{key}" if path else str(key)))
        return flat
    return {path: value}


def _scalars(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, (str, int, float, bool)) for v in value)


def document_changes(old: dict[str, Any], new: dict[str, Any]) -> list[dict[str, Any]]:
    """What changes from `old` to `new`, one entry per setting (`tiers.high.steps`,
    `auto_approve.max_tier`, ...): `before` and `after`, plus `added`/`removed` for plain lists."""
    before, after = _flatten(old), _flatten(new)
    changes = []
    for path in sorted(before.keys() | after.keys()):
        old_value, new_value = before.get(path), after.get(path)
        if old_value == new_value:
            continue
        change: dict[str, Any] = {"path": path, "before": old_value, "after": new_value}
        if _scalars(old_value or []) and _scalars(new_value or []):
            change["added"] = [v for v in new_value or [] if v not in (old_value or [])]
            change["removed"] = [v for v in old_value or [] if v not in (new_value or [])]
        changes.append(change)
    return changes
