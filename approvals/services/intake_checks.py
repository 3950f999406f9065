"""Intake answers: validation, risk, and policy checks (pure functions; no writes).

Shared by the services, the live risk preview and the API, so every door says the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from approvals.routing import auto_approval_rule, describe_steps, steps_for
from governance.policy.services import Policy, current_policy
from inventory.models import (
    DESCRIPTIVE_FIELDS,
    TEXT_LENGTHS,
    TIER_ORDER,
    Credential,
    DataClassification,
    Environment,
    Identity,
)
from inventory.risk import assess, max_tier
from inventory.secrets_guard import SECRET_MESSAGE, looks_like_secret
from inventory.services import validate_grants

# An intake asks what describes the identity, plus the access and the credential it will need.
ANSWER_FIELDS = (*DESCRIPTIVE_FIELDS, "grants", "credential_kind")
TEXT_LIMITS = {**TEXT_LENGTHS, "purpose": 5000}
REQUIRED_TO_SUBMIT = {
    "name": "Give the identity a name, e.g. 'claude-code-payments'.",
    "kind": "Choose what kind of tool this is.",
    "vendor": "Name the vendor ('Internal' for tools you build).",
    "purpose": "Explain why it is needed.",
    "owner": "Every identity needs an owner.",
    "team": "Choose the team that will own it.",
    "environments": "Tick at least one environment.",
    "grants": "List at least one resource it will reach, with its actions.",
    "credential_kind": "Say how it will authenticate.",
}
MIN_PURPOSE = 20
# The policy's allowed lists an answer is checked against: (answer, check code, the policy's test,
# what the check says when the value is on the list, and when it is not). Neither blocks a request.
ALLOWED_LISTS = (
    (
        "vendor",
        "vendor_allowed",
        Policy.vendor_allowed,
        "Vendor '{}' is on the allowed list.",
        "Vendor '{}' is not on the allowed list; approvers will weigh this.",
    ),
    (
        "model_name",
        "model_allowed",
        Policy.model_allowed,
        "Model '{}' is allowed.",
        "Model '{}' is not on the allowed list.",
    ),
)
ENV_ORDER = list(Environment.values)


@dataclass
class PolicyCheck:
    code: str
    ok: bool
    message: str
    blocking: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "ok": self.ok, "message": self.message, "blocking": self.blocking}


@dataclass
class Preview:
    tier: str
    reasons: list[str]
    checks: list[PolicyCheck] = field(default_factory=list)
    route: list[str] = field(default_factory=list)
    auto_rule: str | None = None

    @property
    def blocking(self) -> list[PolicyCheck]:
        return [c for c in self.checks if c.blocking and not c.ok]

    @property
    def warnings(self) -> list[PolicyCheck]:
        return [c for c in self.checks if not c.ok]

    @property
    def route_label(self) -> str:
        return "policy (automatic)" if self.auto_rule else describe_steps(self.route)


def _choice(value, allowed, label, errors, key) -> None:
    if value not in allowed:
        errors.setdefault(key, []).append(
            f"'{value}' is not a valid {label}. Choose one of: {', '.join(allowed)}."
        )


def clean_answers(data: dict[str, Any], *, complete: bool) -> dict[str, Any]:
    """Check and normalise answers. Drafts may be incomplete; `complete=True` is the submit bar.

    `owner`/`backup_owner` are users and `team` a Team (the API and forms resolve names first).
    Raises ValidationError with a message per field and writes nothing.
    """
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    for key in ("name", "vendor", "product", "model_name", "purpose"):
        if key not in data:
            continue
        value = data[key] if data[key] is not None else ""
        if not isinstance(value, str):
            errors.setdefault(key, []).append("Give text.")
            continue
        value = value.strip()
        if len(value) > TEXT_LIMITS[key]:
            errors.setdefault(key, []).append(f"Keep it under {TEXT_LIMITS[key]} characters.")
        if looks_like_secret(value):
            errors.setdefault(key, []).append(SECRET_MESSAGE)
        out[key] = value
    if data.get("kind"):
        _choice(data["kind"], Identity.Kind.values, "kind", errors, "kind")
    if "kind" in data:
        out["kind"] = data["kind"] or ""
    if data.get("credential_kind"):
        _choice(data["credential_kind"], Credential.Kind.values, "credential kind", errors, "credential_kind")
    if "credential_kind" in data:
        out["credential_kind"] = data["credential_kind"] or ""
    if "data_classification" in data:
        value = data["data_classification"] or DataClassification.INTERNAL
        _choice(value, DataClassification.values, "data classification", errors, "data_classification")
        out["data_classification"] = value
    if "autonomous" in data:
        if not isinstance(data["autonomous"], bool):
            errors.setdefault("autonomous", []).append("Give true or false.")
        out["autonomous"] = bool(data["autonomous"])
    if "environments" in data:
        envs = data["environments"] or []
        if not isinstance(envs, list | tuple):
            errors.setdefault("environments", []).append("Give a list of environments.")
            envs = []
        for env in envs:
            _choice(env, ENV_ORDER, "environment", errors, "environments")
        out["environments"] = sorted(set(envs) & set(ENV_ORDER), key=ENV_ORDER.index)
    for key in ("owner", "backup_owner", "team"):
        if key in data:
            out[key] = data[key]
    for key in ("owner", "backup_owner"):
        person = out.get(key)
        if person is not None and not person.is_active:
            errors.setdefault(key, []).append(f"{person.username} is not an active user.")
    if out.get("owner") is not None and out.get("owner") == out.get("backup_owner"):
        errors.setdefault("backup_owner", []).append(
            "The backup owner must be a different person from the owner."
        )
    if "grants" in data:
        try:
            grants = validate_grants(data["grants"] or [])
        except ValidationError as exc:
            errors.setdefault("grants", []).extend(exc.message_dict.get("grants", exc.messages))
            grants = []
        out["grants"] = [
            {**g, "expires_at": g["expires_at"].isoformat() if g["expires_at"] else None} for g in grants
        ]
    if complete:
        for key, message in REQUIRED_TO_SUBMIT.items():
            if not out.get(key) and key not in errors:
                errors.setdefault(key, []).append(message)
        purpose = out.get("purpose") or ""
        if purpose and len(purpose) < MIN_PURPOSE:
            errors.setdefault("purpose", []).append(
                f"Say a little more about why it is needed (at least {MIN_PURPOSE} characters)."
            )
    if errors:
        raise ValidationError(errors)
    return out


def actions_of(grants: list[dict[str, Any]]) -> list[str]:
    return sorted({a for g in grants or [] for a in (g.get("actions") or [])})


def assess_answers(
    answers: dict[str, Any], *, floor: str = "", floor_reason: str = ""
) -> tuple[str, list[str]]:
    """The tier and its reasons; a tier IAM raised (`floor`) is never undercut by edits."""
    result = assess(
        kind=answers.get("kind") or "",
        environments=answers.get("environments") or [],
        actions=actions_of(answers.get("grants") or []),
        data_classification=answers.get("data_classification") or DataClassification.INTERNAL,
        autonomous=bool(answers.get("autonomous")),
    )
    tier, reasons = result.tier, list(result.reasons)
    if floor and TIER_ORDER[floor] > TIER_ORDER[tier]:
        reasons.append(f"Raised to {floor} by IAM: {floor_reason}")
    if floor:
        tier = max_tier(tier, floor)
    return tier, reasons


def policy_checks(answers: dict[str, Any], tier: str, policy: Policy | None = None) -> list[PolicyCheck]:
    policy = policy or current_policy()
    checks: list[PolicyCheck] = []
    kind = answers.get("kind") or ""
    envs = answers.get("environments") or []
    actions = actions_of(answers.get("grants") or [])
    hits = policy.denied(kind, envs, actions) if kind else []
    for rule in hits:
        checks.append(
            PolicyCheck(
                code=f"deny:{rule.get('code')}",
                ok=False,
                blocking=True,
                message=f"{rule.get('message') or rule.get('code')} (deny rule '{rule.get('code')}')",
            )
        )
    if not hits:
        checks.append(PolicyCheck("deny_rules", True, "No deny rule is broken."))
    for answer, code, allows, on_list, off_list in ALLOWED_LISTS:
        value = answers.get(answer) or ""
        if value:
            allowed = allows(policy, value)
            checks.append(PolicyCheck(code, allowed, (on_list if allowed else off_list).format(value)))
    return checks


def preview(answers: dict[str, Any], *, floor: str = "", floor_reason: str = "") -> Preview:
    """What the live risk preview and the request page show: tier, reasons, checks, route."""
    policy = current_policy()
    tier, reasons = assess_answers(answers, floor=floor, floor_reason=floor_reason)
    checks = policy_checks(answers, tier, policy)
    rule = None
    if not any(not c.ok for c in checks):
        rule, _ = auto_approval_rule(
            tier=tier,
            environments=answers.get("environments") or [],
            actions=actions_of(answers.get("grants") or []),
            vendor=answers.get("vendor") or "",
            policy=policy,
        )
    return Preview(tier=tier, reasons=reasons, checks=checks, route=steps_for(tier, policy), auto_rule=rule)


def answers_of(intake) -> dict[str, Any]:
    return {key: getattr(intake, key) for key in ANSWER_FIELDS}
