"""Scope changes: an owner asks for more (or less) access for an existing identity, or to change
what it is (vendor, product, model, kind, data classification, autonomy: the fields its tier and the
policy checks read, inventory.services.SCOPE_FIELDS).

Anything that adds reach (grants, environments) or changes what the identity is, is re-tiered on the
resulting scope and routed through the approval engine exactly like an intake (steps by tier,
separation of duties, automatic approval where policy allows); on approval the identity changes
exactly as requested. A pure removal needs nobody's approval: it is applied at once and audited.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from approvals.flows.common import IdentityRequestApproval
from approvals.registry import register
from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import IllegalTransition, NotAllowed
from inventory.access import can_edit
from inventory.models import Grant, Identity, ScopeChange
from inventory.risk import assess, max_tier
from inventory.services import SCOPE_FIELDS
from inventory.snapshots import grant_snapshot
from inventory.validation import parse_time, validate_grants, validate_identity_fields

KIND = "scope_change"
# What `changes` may hold; environments have their own argument (they are compared as a set).
CHANGE_FIELDS = tuple(sorted(SCOPE_FIELDS - {"environments"}))


def _stored(grant: dict[str, Any]) -> dict[str, Any]:
    return {**grant, "expires_at": grant["expires_at"].isoformat() if grant["expires_at"] else None}


def _clean_changes(identity: Identity, changes: dict[str, Any] | None) -> dict[str, Any]:
    """The requested new values that differ from today's, validated like an edit."""
    if not changes:
        return {}
    if not isinstance(changes, dict):
        raise ValidationError({"changes": "Give an object: {field: new value}."})
    unknown = sorted(set(changes) - set(CHANGE_FIELDS))
    if unknown:
        raise ValidationError(
            {
                "changes": f"Not changed through a scope change: {', '.join(unknown)}. "
                f"Use: {', '.join(CHANGE_FIELDS)} (and environments)."
            }
        )
    wanted = {k: v for k, v in changes.items() if getattr(identity, k) != v}
    if wanted:
        validate_identity_fields({**wanted, "owner": identity.owner_id}, status=identity.status)
    return wanted


def _deny_rules_excepted(
    identity: Identity, environments, actions, kind: str | None = None
) -> list[dict[str, Any]]:
    """Deny rules the resulting scope would break. Each must be covered by an active exception for this
    identity and rule (returned, so approvers and the audit log see it beside the request); otherwise
    the change is refused with the rule's message."""
    from governance.exceptions.models import PolicyException
    from governance.policy.services import current_policy

    hits = current_policy().denied(kind or identity.kind, list(environments), sorted(actions))
    if not hits:
        return []
    active = {
        exc.rule: exc
        for exc in PolicyException.objects.active().filter(
            identity=identity, rule__in=[h["code"] for h in hits]
        )
    }
    blocked = [h for h in hits if h["code"] not in active]
    if blocked:
        raise ValidationError(
            {
                "add_grants": [
                    f"{h.get('message') or h['code']} (deny rule {h['code']}; request an exception first)"
                    for h in blocked
                ]
            }
        )
    return [
        {"rule": code, "exception": exc.pk, "expires_at": exc.expires_at.isoformat()}
        for code, exc in sorted(active.items())
    ]


@transaction.atomic
def request_scope_change(
    actor,
    identity: Identity,
    *,
    add: list[dict[str, Any]] | None = None,
    remove: list[int] | None = None,
    environments: list[str] | None = None,
    changes: dict[str, Any] | None = None,
    reason: str = "",
) -> ScopeChange:
    """Open a scope change. Returns it `applied` (pure removal) or `pending` (in the approval inbox).

    `changes`: new values for what the identity is ({"vendor": ..., "model_name": ..., "kind": ...})."""
    from approvals.routing import auto_approval_rule
    from approvals.services import engine

    actor = as_actor(actor)
    user = actor.user
    identity = Identity.objects.select_for_update(of=("self",)).select_related("team").get(pk=identity.pk)
    if user is None or not can_edit(user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may change its scope.")
    if identity.status not in (Identity.Status.ACTIVE, Identity.Status.SUSPENDED):
        raise IllegalTransition(f"'{identity.name}' is {identity.status}; only live identities change scope.")
    if not (reason or "").strip():
        raise ValidationError({"reason": "Say why the scope changes; approvers and the audit log see it."})
    added = validate_grants(add or [], field="add_grants")
    remove_ids = sorted({int(pk) for pk in (remove or [])})
    current = list(identity.grants.current())
    current_ids = {g.pk for g in current}
    unknown = set(remove_ids) - current_ids
    if unknown:
        listed = ", ".join(map(str, sorted(unknown)))
        raise ValidationError({"remove_grants": f"Not a current grant of this identity: {listed}."})
    if environments is not None:
        validate_identity_fields(
            {"environments": environments, "owner": identity.owner_id}, status=identity.status
        )
        environments = sorted(set(environments))
    new_envs = set(environments or []) - set(identity.environments) if environments is not None else set()
    wanted = _clean_changes(identity, changes)
    if (
        not added
        and not remove_ids
        and not wanted
        and (environments is None or environments == sorted(identity.environments))
    ):
        raise ValidationError(
            {
                "add_grants": "Nothing to change: add or remove a grant, change environments, or "
                "change what the identity is."
            }
        )
    kept = [g for g in current if g.pk not in remove_ids]
    resulting_actions = {a for g in kept for a in g.actions} | {a for g in added for a in g["actions"]}
    kind = wanted.get("kind", identity.kind)
    excepted = _deny_rules_excepted(
        identity,
        environments if environments is not None else list(identity.environments),
        resulting_actions,
        kind=kind,
    )
    result = assess(
        kind=kind,
        environments=environments if environments is not None else identity.environments,
        actions=resulting_actions,
        data_classification=wanted.get("data_classification", identity.data_classification),
        autonomous=wanted.get("autonomous", identity.autonomous),
    )
    change = ScopeChange.objects.create(
        identity=identity,
        requester=user,
        add_grants=[_stored(g) for g in added],
        remove_grants=remove_ids,
        environments=environments,
        changes=wanted,
        reason=reason.strip(),
        # Re-tiered on the resulting scope; never silently lower than today.
        risk_tier=max_tier(identity.risk_tier, result.tier),
        risk_reasons=result.reasons,
    )
    ScopeChangeApproval.audit_requested(
        actor,
        change,
        add_grants=change.add_grants,
        remove_grants=remove_ids,
        environments=environments,
        changes=wanted,
        risk_tier=change.risk_tier,
        deny_rules_excepted=excepted,
    )
    if not added and not new_envs and not wanted:
        _apply(actor, change)
        change.refresh_from_db()
        return change
    rule, _why_not = auto_approval_rule(
        tier=change.risk_tier,
        environments=environments if environments is not None else list(identity.environments),
        # A change of what the identity is is judged on everything it may then do.
        actions=sorted({a for g in added for a in g["actions"]} if not wanted else resulting_actions),
        vendor=wanted.get("vendor", identity.vendor),
    )
    title = f"Scope change for {identity.name}: +{len(added)} grant(s), -{len(remove_ids)}"
    if wanted:
        title += "; " + ", ".join(f"{k} → {v}" for k, v in sorted(wanted.items()))
    engine.open_identity_request(
        actor,
        identity,
        kind=KIND,
        subject=change,
        title=title,
        requester=user,
        tier=change.risk_tier,
        auto_approve_rule=rule,
    )
    change.refresh_from_db()
    return change


def _apply(actor: Actor, change: ScopeChange) -> None:
    """Make exactly the requested change: end removed grants, add new ones, set environments and tier."""
    change = ScopeChange.objects.select_for_update().get(pk=change.pk)
    if change.state != ScopeChange.State.PENDING:
        raise IllegalTransition(f"This scope change is already {change.state}.")
    identity = Identity.objects.select_for_update().get(pk=change.identity_id)
    now = timezone.now()
    ended = list(Grant.objects.filter(pk__in=change.remove_grants, identity=identity, ended_at__isnull=True))
    Grant.objects.filter(pk__in=[g.pk for g in ended]).update(
        ended_at=now, end_reason=f"scope change #{change.pk}"
    )
    new = Grant.objects.bulk_create(
        [
            Grant(
                identity=identity,
                origin=Grant.Origin.SCOPE_CHANGE,
                created_at=now,
                resource_kind=g["resource_kind"],
                resource_name=g["resource_name"],
                actions=g["actions"],
                expires_at=parse_time(g["expires_at"])[0],
            )
            for g in change.add_grants
        ]
    )
    fields = sorted(change.changes or {})
    before = {
        "environments": list(identity.environments),
        "risk_tier": identity.risk_tier,
        **{k: getattr(identity, k) for k in fields},
    }
    updates: dict[str, Any] = {"version": F("version") + 1, "updated_at": now}
    if change.add_grants or change.environments is not None or fields:
        updates["risk_tier"] = change.risk_tier
        updates["risk_reasons"] = change.risk_reasons
    if change.environments is not None:
        updates["environments"] = change.environments
    updates.update({k: change.changes[k] for k in fields})
    Identity.objects.filter(pk=identity.pk).update(**updates)
    identity.refresh_from_db()
    ScopeChange.objects.filter(pk=change.pk).update(state=ScopeChange.State.APPLIED, decided_at=now)
    audit.record(
        actor,
        "identity.scope_changed",
        identity,
        before={**before, "grants_ended": [grant_snapshot(g) for g in ended]},
        after={
            "environments": list(identity.environments),
            "risk_tier": identity.risk_tier,
            **{k: getattr(identity, k) for k in fields},
            "grants_added": [grant_snapshot(g) for g in new],
            "scope_change": change.pk,
        },
        reason=change.reason,
    )


@register(KIND)
class ScopeChangeApproval(IdentityRequestApproval):
    label = "scope change"
    model = ScopeChange
    verb = "identity.scope_change"
    after_key = "scope_change"

    def on_approved(self, request, actor):
        _apply(actor, ScopeChange(pk=request.object_id))

    def on_tier_raised(self, request, actor, reason):
        ScopeChange.objects.filter(pk=request.object_id).update(risk_tier=request.tier)
