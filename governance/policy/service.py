"""The governance policy: defaults from public practice, versioned changes, and read helpers.

Defaults follow the design's table (CIS v8 5.3/5.5, PCI DSS 7.2.5.1 and 8.2.6, CIS AWS key rotation).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from governance import audit
from governance.actors import as_actor
from governance.errors import NotAllowed
from governance.people.models import Role
from governance.policy.models import PolicyVersion

TIERS = ("low", "medium", "high", "critical")
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
}


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


def current_policy() -> Policy:
    row = PolicyVersion.objects.filter(is_active=True).only("version", "document").first()
    if row is None:
        return Policy(copy.deepcopy(DEFAULT_POLICY), 0)
    return Policy(row.document, row.version)


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


@transaction.atomic
def update_policy(actor, document: dict[str, Any], note: str = "") -> PolicyVersion:
    """Security only: validate, store as a new active version, audit the change."""
    actor = as_actor(actor)
    if actor.user is None or not actor.user.has_role(Role.SECURITY):
        raise NotAllowed("Only Security admins change the policy.")
    document = validate_document(document)
    previous = PolicyVersion.objects.select_for_update().filter(is_active=True).first()
    last = PolicyVersion.objects.order_by("-version").values_list("version", flat=True).first() or 0
    PolicyVersion.objects.filter(is_active=True).update(is_active=False)
    version = PolicyVersion.objects.create(
        version=last + 1, document=document, is_active=True, created_by=actor.label, note=note
    )
    audit.record(
        actor,
        "policy.updated",
        version,
        before=previous.document if previous else None,
        after=document,
        reason=note,
    )
    return version
