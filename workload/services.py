"""Audited changes to trusted issuers, trust bindings and SET receivers.

- **Issuers** follow the two-person rule of policy versions: Security proposes, another person
  (Security or IAM, never the proposer) approves or rejects; Security retires one, which revokes every
  binding on it (and so every live token they got).
- **Bindings** are part of an identity's approved scope. IAM (or Security) binds; on a low or medium
  identity an IAM-made binding takes effect at once; on a high or critical one, and whenever an owner
  asks, it follows the tier's approval route (`request_approval`; the outcome in `workload.approval`).
  Revoking a binding revokes the live access tokens it gave, and pushes a Security Event Token.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from approvals.services import engine
from governance import audit
from governance.actors import Actor, as_actor
from governance.errors import IllegalTransition, NotAllowed
from governance.ids import parse_id
from governance.people.models import Role
from inventory.access import is_owner
from inventory.models import Identity
from workload import issuers
from workload.models import IssuerTemplate, SetReceiver, TrustBinding, TrustedIssuer

MAX_CLAIMS = 10

KIND = "trust_binding"  # a binding's approval kind; its outcome is workload.approval's


def _user(actor: Actor):
    user = actor.user
    if user is None or not user.is_active or user.is_auditor:
        return None
    return user


def _require(actor: Actor, roles: tuple[str, ...], what: str):
    user = _user(actor)
    if actor.is_system:
        return None
    if user is None or not user.has_role(*roles):
        names = " or ".join({Role.SECURITY: "Security", Role.IAM: "IAM"}.get(r, r) for r in roles)
        raise NotAllowed(f"Only {names} may {what}.")
    return user


def _move(obj, target: str) -> None:
    if target not in obj.TRANSITIONS.get(obj.state, set()):
        raise IllegalTransition(f"This {obj._meta.verbose_name} is {obj.state}; it cannot become {target}.")


# ---------------------------------------------------------------- issuers


def clean_issuer(data: dict[str, Any]) -> dict[str, Any]:
    """The issuer's fields, validated; a template fills what is left blank. Raises ValidationError."""
    errors: dict[str, str] = {}
    template_key = data.get("template") or IssuerTemplate.CUSTOM
    if template_key not in IssuerTemplate.values:
        errors["template"] = f"One of {', '.join(IssuerTemplate.values)}."
        template_key = IssuerTemplate.CUSTOM
    template = issuers.TEMPLATES[template_key]
    name = str(data.get("name") or "").strip()
    issuer = str(data.get("issuer") or template.issuer or "").strip()
    jwks_uri = str(data.get("jwks_uri") or "").strip()
    if not jwks_uri and not data.get("jwks") and template.jwks_uri and issuer == template.issuer:
        jwks_uri = template.jwks_uri
    jwks = data.get("jwks") or None
    audience = str(data.get("audience") or template.audience or "").strip()
    if not name:
        errors["name"] = "Give the issuer a name people will recognise."
    elif len(name) > 200:
        errors["name"] = "At most 200 characters."
    if not issuer:
        errors["issuer"] = "The issuer URL, exactly as the tokens' `iss` says it."
    elif len(issuer) > 500 or not issuer.startswith(("https://", "http://")):
        errors["issuer"] = "An https URL of at most 500 characters, exactly as the tokens' `iss` says it."
    if jwks_uri and jwks:
        errors["jwks"] = "Give a JWKS URI or paste the keys, not both."
    elif not jwks_uri and not jwks:
        errors["jwks_uri"] = "Give the URI of the issuer's keys, or paste its JWKS."
    elif jwks_uri and (problem := issuers.url_error(jwks_uri)):
        errors["jwks_uri"] = problem
    elif jwks and (problem := issuers.jwks_error(jwks)):
        errors["jwks"] = problem
    if not audience or len(audience) > 500:
        errors["audience"] = "The audience the workload asks its issuer for (e.g. 'steward')."
    if errors:
        raise ValidationError(errors)
    live = TrustedIssuer.objects.filter(
        issuer=issuer, state__in=[TrustedIssuer.State.PROPOSED, TrustedIssuer.State.ACTIVE]
    )
    if live.exists():
        raise ValidationError({"issuer": "This issuer is already trusted or proposed."})
    if TrustedIssuer.objects.filter(name=name).exists():
        raise ValidationError({"name": "An issuer with this name exists."})
    return {
        "name": name,
        "template": template_key,
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "jwks": jwks,
        "audience": audience,
        "reason": str(data.get("reason") or "")[:2000],
    }


def _snapshot(issuer: TrustedIssuer) -> dict[str, Any]:
    return {
        "name": issuer.name,
        "template": issuer.template,
        "issuer": issuer.issuer,
        "jwks_uri": issuer.jwks_uri,
        "jwks_pasted": bool(issuer.jwks),
        "audience": issuer.audience,
        "state": issuer.state,
    }


@transaction.atomic
def propose_issuer(actor, data: dict[str, Any]) -> TrustedIssuer:
    actor = as_actor(actor)
    user = _require(actor, (Role.SECURITY,), "propose a trusted issuer")
    fields = clean_issuer(data)
    issuer = TrustedIssuer.objects.create(proposed_by=user, **fields)
    audit.record(actor, "workload.issuer_proposed", issuer, after=_snapshot(issuer), reason=issuer.reason)
    return issuer


def _decide(actor, issuer_id: int, target: str, reason: str) -> TrustedIssuer:
    actor = as_actor(actor)
    user = _require(actor, (Role.SECURITY, Role.IAM), "approve or reject a trusted issuer")
    issuer = TrustedIssuer.objects.select_for_update().get(pk=issuer_id)
    _move(issuer, target)
    if user is not None and user.pk == issuer.proposed_by_id:
        raise NotAllowed("A second person decides: you proposed this issuer.")
    before = _snapshot(issuer)
    issuer.state, issuer.decided_by, issuer.decided_at = target, user, timezone.now()
    issuer.save(update_fields=["state", "decided_by", "decided_at"])
    verb = "workload.issuer_approved" if target == TrustedIssuer.State.ACTIVE else "workload.issuer_rejected"
    audit.record(actor, verb, issuer, before=before, after=_snapshot(issuer), reason=reason)
    return issuer


@transaction.atomic
def approve_issuer(actor, issuer_id: int, reason: str = "") -> TrustedIssuer:
    return _decide(actor, issuer_id, TrustedIssuer.State.ACTIVE, reason)


@transaction.atomic
def reject_issuer(actor, issuer_id: int, reason: str = "") -> TrustedIssuer:
    return _decide(actor, issuer_id, TrustedIssuer.State.REJECTED, reason)


@transaction.atomic
def retire_issuer(actor, issuer_id: int, reason: str = "") -> TrustedIssuer:
    actor = as_actor(actor)
    _require(actor, (Role.SECURITY,), "retire a trusted issuer")
    issuer = TrustedIssuer.objects.select_for_update().get(pk=issuer_id)
    _move(issuer, TrustedIssuer.State.RETIRED)
    before = _snapshot(issuer)
    issuer.state = TrustedIssuer.State.RETIRED
    issuer.save(update_fields=["state"])
    audit.record(
        actor, "workload.issuer_retired", issuer, before=before, after=_snapshot(issuer), reason=reason
    )
    for binding in issuer.bindings.filter(state=TrustBinding.State.ACTIVE):
        _end_binding(actor, binding, f"issuer {issuer.name} retired")
    return issuer


# ---------------------------------------------------------------- bindings


def clean_claims(issuer: TrustedIssuer, claims: Any) -> dict[str, str]:
    if not isinstance(claims, dict) or not claims:
        raise ValidationError(
            {"claims": 'Give the exact claim values, e.g. {"sub": "repo:acme/payments:environment:prod"}.'}
        )
    if len(claims) > MAX_CLAIMS:
        raise ValidationError({"claims": f"At most {MAX_CLAIMS} claims."})
    cleaned = {}
    for name, value in claims.items():
        if not isinstance(name, str) or not name.strip() or len(name) > 100:
            raise ValidationError({"claims": "Claim names are non-empty strings of at most 100 characters."})
        if not isinstance(value, str) or not value.strip() or len(value) > 500:
            raise ValidationError({"claims": f"{name}: an exact, non-empty string value (no wildcards)."})
        if "*" in value:
            raise ValidationError({"claims": f"{name}: exact values only; '*' is not a wildcard here."})
        cleaned[name.strip()] = value
    if issuer.template in (
        IssuerTemplate.GITHUB_ACTIONS,
        IssuerTemplate.GITLAB_CI,
        IssuerTemplate.KUBERNETES,
        IssuerTemplate.SPIFFE,
    ) and not ({"sub", "job_workflow_ref", "project_path"} & set(cleaned)):
        raise ValidationError(
            {
                "claims": "Bind `sub` (or GitHub's `job_workflow_ref`): other claims alone match too "
                "many workloads."
            }
        )
    return cleaned


def binding_snapshot(binding: TrustBinding) -> dict[str, Any]:
    return {
        "issuer": binding.issuer.issuer,
        "claims": binding.claims,
        "state": binding.state,
        "identity": binding.identity_id,
    }


@transaction.atomic
def create_binding(
    actor, *, identity: Identity, issuer_id: Any, claims: Any, reason: str = ""
) -> TrustBinding:
    """IAM or Security binds at once on a low or medium identity; a high or critical identity's
    binding, and any owner's, goes through the tier's approval route."""
    actor = as_actor(actor)
    user = _user(actor)
    governor = user is not None and user.has_role(Role.IAM, Role.SECURITY)
    owner = user is not None and is_owner(user, identity)
    if not actor.is_system and not (governor or owner):
        raise NotAllowed("Only IAM (or the identity's owner, through approval) may bind a workload to it.")
    if identity.status in (Identity.Status.SUSPENDED, Identity.Status.DECOMMISSIONED):
        raise IllegalTransition(f"{identity.name} is {identity.status}: nothing can be bound to it.")
    issuer_pk = parse_id(issuer_id)
    issuer = TrustedIssuer.objects.filter(pk=issuer_pk).first() if issuer_pk else None
    if issuer is None or issuer.state != TrustedIssuer.State.ACTIVE:
        raise ValidationError({"issuer": "Choose an approved trusted issuer."})
    cleaned = clean_claims(issuer, claims)
    same = TrustBinding.objects.filter(
        issuer=issuer, claims=cleaned, state__in=[TrustBinding.State.ACTIVE, TrustBinding.State.PENDING]
    ).first()
    if same is not None:
        raise ValidationError(
            {"claims": f"These claims are already bound (to identity #{same.identity_id})."}
        )
    binding = TrustBinding.objects.create(
        issuer=issuer,
        identity=identity,
        claims=cleaned,
        created_by=user or identity.owner,
        reason=reason[:2000],
    )
    at_once = actor.is_system or (
        governor and identity.risk_tier in (Identity.RiskTier.LOW, Identity.RiskTier.MEDIUM)
    )
    audit.record(
        actor,
        "workload.binding_requested" if not at_once else "workload.binding_created",
        identity,
        after=binding_snapshot(binding),
        reason=reason,
    )
    if at_once:
        activate_binding(actor, binding)
    else:
        request_approval(actor, binding)
    binding.refresh_from_db()
    return binding


def request_approval(actor, binding: TrustBinding) -> None:
    """Open the binding's approval request on the engine: the identity tier's route decides it."""
    identity = binding.identity
    claims = ", ".join(f"{k}={v}" for k, v in sorted(binding.claims.items()))
    engine.open_request(
        actor,
        kind=KIND,
        subject=binding,
        title=f"Trust binding for {identity.name}: {binding.issuer.name} {claims}",
        requester=binding.created_by,
        tier=identity.risk_tier,
        parties=[identity.owner, identity.backup_owner],
        team=identity.team,
    )


def activate_binding(actor, binding: TrustBinding) -> None:
    binding = TrustBinding.objects.select_for_update().get(pk=binding.pk)
    _move(binding, TrustBinding.State.ACTIVE)
    binding.state, binding.decided_at = TrustBinding.State.ACTIVE, timezone.now()
    binding.save(update_fields=["state", "decided_at"])
    audit.record(actor, "workload.binding_active", binding.identity, after=binding_snapshot(binding))


def close_binding(actor, binding_id: int, target: str, reason: str = "") -> None:
    binding = TrustBinding.objects.select_for_update().get(pk=binding_id)
    if binding.state != TrustBinding.State.PENDING:
        return
    binding.state, binding.decided_at = target, timezone.now()
    binding.save(update_fields=["state", "decided_at"])
    audit.record(
        actor, "workload.binding_rejected", binding.identity, after=binding_snapshot(binding), reason=reason
    )


def _end_binding(actor: Actor, binding: TrustBinding, reason: str) -> None:
    from workload import drift

    before = binding_snapshot(binding)
    binding.state, binding.revoked_at, binding.revoked_by = (
        TrustBinding.State.REVOKED,
        timezone.now(),
        actor.label[:150],
    )
    binding.save(update_fields=["state", "revoked_at", "revoked_by"])
    audit.record(
        actor,
        "workload.binding_revoked",
        binding.identity,
        before=before,
        after=binding_snapshot(binding),
        reason=reason,
    )
    drift.end_sessions(
        actor,
        [binding.identity_id],
        cause="binding_revoked",
        reason=f"trust binding #{binding.pk} revoked: {reason}"[:300],
        binding_ids=[binding.pk],
    )


@transaction.atomic
def revoke_binding(actor, binding_id: int, reason: str = "") -> TrustBinding:
    actor = as_actor(actor)
    binding = TrustBinding.objects.select_for_update().select_related("identity", "issuer").get(pk=binding_id)
    user = _user(actor)
    may = actor.is_system or (
        user is not None and (user.has_role(Role.IAM, Role.SECURITY) or is_owner(user, binding.identity))
    )
    if not may:
        raise NotAllowed("Only IAM, Security or the identity's owners may revoke its bindings.")
    _move(binding, TrustBinding.State.REVOKED)
    _end_binding(actor, binding, reason or "revoked")
    return binding


# ---------------------------------------------------------------- receivers


@transaction.atomic
def add_receiver(actor, data: dict[str, Any]) -> SetReceiver:
    actor = as_actor(actor)
    user = _require(actor, (Role.SECURITY,), "register a Security Event Token receiver")
    errors = {}
    name = str(data.get("name") or "").strip()
    endpoint = str(data.get("endpoint") or "").strip()
    audience = str(data.get("audience") or endpoint).strip()
    if not name or len(name) > 200:
        errors["name"] = "A name of at most 200 characters."
    elif SetReceiver.objects.filter(name=name).exists():
        errors["name"] = "A receiver with this name exists."
    if not endpoint or issuers.url_error(endpoint):
        errors["endpoint"] = "The receiver's push endpoint: an https URL (plain http only on loopback)."
    if len(audience) > 500:
        errors["audience"] = "At most 500 characters."
    if errors:
        raise ValidationError(errors)
    receiver = SetReceiver.objects.create(name=name, endpoint=endpoint, audience=audience, created_by=user)
    audit.record(
        actor,
        "workload.set_receiver_added",
        receiver,
        after={"name": name, "endpoint": endpoint, "audience": audience},
    )
    return receiver


@transaction.atomic
def remove_receiver(actor, receiver_id: int) -> None:
    actor = as_actor(actor)
    _require(actor, (Role.SECURITY,), "remove a Security Event Token receiver")
    receiver = SetReceiver.objects.select_for_update().get(pk=receiver_id)
    if not receiver.active:
        raise IllegalTransition("This receiver is already removed.")
    receiver.active = False
    receiver.save(update_fields=["active"])
    audit.record(
        actor, "workload.set_receiver_removed", receiver, before={"active": True}, after={"active": False}
    )
