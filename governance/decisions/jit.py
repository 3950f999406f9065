"""Just-in-time access: ask for one action on one resource for a task, get a grant that ends itself.

A request is auto-approved (as `system:policy`) when policy already allows the question, or when the
governance policy's auto-approval rule covers it (low tier, sandbox, read-only, allowed vendor).
Otherwise it goes through the approval engine (kind `jit`) to IAM (and Security for critical
identities) with a short deadline; pending past it, `expire_stale_access_requests` expires it.
On approval a grant (origin `jit`) exists for exactly that action and resource until approval time +
duration. The requester ends it early with `end_access` when the task is done.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from approvals.models import ApprovalRequest
from approvals.registry import ApprovalKind, register
from approvals.routing import auto_approval_rule
from approvals.services import engine
from governance import audit
from governance.actors import as_actor, system
from governance.decisions import subjects
from governance.decisions.models import AccessRequest
from governance.errors import IllegalTransition, NotAllowed
from governance.links import link
from governance.people.models import Role
from governance.policy import cedar
from governance.policy.cedar_sets import compiled_version
from governance.policy.services import current_policy
from inventory import enforcement
from inventory.models import Action, Environment, Grant, Identity, ResourceKind
from inventory.secrets_guard import SECRET_MESSAGE, looks_like_secret

KIND = "jit"
ACTOR = "jit"
logger = logging.getLogger("steward.decisions")


def jit_settings() -> dict[str, Any]:
    defaults = {"deadline_minutes": 60, "steps": ["iam"], "critical_steps": ["iam", "security"]}
    return {**defaults, **(current_policy().get("jit") or {})}


def snapshot(ar: AccessRequest) -> dict[str, Any]:
    return {
        "identity": ar.identity_id,
        "action": ar.action,
        "resource": f"{ar.resource_kind}:{ar.resource_name}",
        "environment": ar.environment,
        "duration_minutes": ar.duration_minutes,
        "task_ref": ar.task_ref,
        "state": ar.state,
        "grant": ar.grant_id,
        "expires_at": ar.expires_at.isoformat() if ar.expires_at else None,
    }


def is_party(user, identity: Identity) -> bool:
    return user is not None and user.pk in (identity.owner_id, identity.backup_owner_id)


def may_request(user, identity: Identity) -> bool:
    if user is None or not user.is_active or user.is_auditor:
        return False
    return user.has_role(Role.IAM, Role.SECURITY) or is_party(user, identity)


def visible_to(user):
    """Requesters and owners see theirs; IAM, Security and auditors see all."""
    qs = AccessRequest.objects.all()
    if user.has_role(Role.IAM, Role.SECURITY, Role.AUDITOR):
        return qs
    from django.db.models import Q

    return qs.filter(Q(requester=user) | Q(identity__owner=user) | Q(identity__backup_owner=user))


# ---------------------------------------------------------------- request


def clean(data: dict[str, Any]) -> dict[str, Any]:
    """Check the request body; ValidationError per field (nothing written)."""
    errors: dict[str, list[str]] = {}
    identity = None
    ident = data.get("identity")
    try:
        if ident not in (None, ""):
            identity = Identity.objects.select_related("owner", "backup_owner", "team").get(pk=int(ident))
        elif data.get("source") and data.get("external_id"):
            identity = Identity.objects.select_related("owner", "backup_owner", "team").get(
                source=data["source"], external_id=data["external_id"]
            )
        else:
            errors["identity"] = ["Give 'identity' (an id), or 'source' and 'external_id'."]
    except (ValueError, TypeError, Identity.DoesNotExist):
        errors["identity"] = [f"No identity {ident or data.get('external_id')!r}."]
    if data.get("action") not in Action.values:
        errors["action"] = [f"Choose one of: {', '.join(Action.values)}."]
    resource = data.get("resource")
    if not isinstance(resource, dict):
        errors["resource"] = ['Give the resource as {"kind": ..., "name": ...}.']
        resource = {}
    elif resource.get("kind") not in ResourceKind.values:
        errors["resource"] = [f"Resource kind: choose one of {', '.join(ResourceKind.values)}."]
    elif (
        not isinstance(resource.get("name"), str)
        or not resource["name"].strip()
        or len(resource["name"]) > 300
    ):
        errors["resource"] = ["The resource needs a name (up to 300 characters)."]
    elif any(ch in resource["name"] for ch in "*?["):
        errors["resource"] = ["Just-in-time access names one resource exactly; no wildcards."]
    if data.get("environment") not in Environment.values:
        errors["environment"] = [f"Choose one of: {', '.join(Environment.values)}."]
    duration = data.get("duration_minutes")
    if (
        isinstance(duration, bool)
        or not isinstance(duration, int)
        or not 1 <= duration <= AccessRequest.MAX_MINUTES
    ):
        errors["duration_minutes"] = [f"A whole number of minutes, 1 to {AccessRequest.MAX_MINUTES}."]
    reason = (data.get("reason") or "").strip() if isinstance(data.get("reason"), str) else ""
    if not reason:
        errors["reason"] = ["Say what the access is for; approvers read it."]
    elif looks_like_secret(reason):
        errors["reason"] = [SECRET_MESSAGE]
    task_ref = data.get("task_ref") or ""
    if not isinstance(task_ref, str) or len(task_ref) > 200:
        errors["task_ref"] = ["Text of up to 200 characters."]
    elif looks_like_secret(task_ref):
        errors["task_ref"] = [SECRET_MESSAGE]
    if errors:
        raise ValidationError(errors)
    return {
        "identity": identity,
        "action": data["action"],
        "resource_kind": resource["kind"],
        "resource_name": resource["name"].strip(),
        "environment": data["environment"],
        "duration_minutes": duration,
        "reason": reason[:2000],
        "task_ref": task_ref.strip(),
    }


def _verdicts(identity: Identity, question: cedar.Question, duration: int, now: datetime):
    """What policy says now, and what it would say with the requested just-in-time grant."""
    rows = subjects.lookup(ids=[identity.pk])
    subject = subjects.subjects_for(rows)[identity.pk]
    compiled = compiled_version(rows[0].policy_version, rows[0].policy_digest)
    requested = cedar.GrantFact(
        id="requested",
        resource_kind=question.resource_kind,
        resource_pattern=question.resource_name,
        actions=frozenset({question.action}),
        jit=True,
        expires_at=(now + timedelta(minutes=duration)).timestamp(),
    )
    with_jit = replace(subject, grants=(*subject.grants, requested))
    return compiled.evaluate(subject, question, now), compiled.evaluate(with_jit, question, now)


def _accountable(actor, identity: Identity):
    """A workload asking for itself (an exchanged access token): the request is in the name of the
    person in its chain, or else of its owner, who then cannot approve it (separation of duties)."""
    from governance.people.models import User

    if identity.pk != actor.identity_id:
        raise NotAllowed("A workload's access token asks for just-in-time access for its own identity only.")
    people = [link for link in actor.chain_links if link.get("kind") == "person"]
    if people:
        # The person it acts for asks, and only within their reach (as the delegation policy says):
        # an unrelated person's name on the request would let the owner approve their own agent's.
        person = User.objects.filter(pk=people[-1].get("id"), is_active=True).first()
        related = person is not None and (
            may_request(person, identity)
            or (person.team_id is not None and person.team_id == identity.team_id)
        )
        if not related:
            raise NotAllowed(
                f"{identity.name} acts for a person who does not own it, back it up or share its team: "
                "that person cannot ask for its access."
            )
        return person
    owner = identity.owner
    if owner is None or not owner.is_active:
        raise NotAllowed(f"{identity.name} has no active owner to answer for its request.")
    return owner


@transaction.atomic
def request_access(actor, data: dict[str, Any]) -> AccessRequest:
    actor = as_actor(actor)
    user = actor.user
    if actor.is_system or user is None:
        raise NotAllowed("Just-in-time access is requested by a person or their token.")
    fields = clean(data)
    identity: Identity = fields.pop("identity")
    if actor.identity_id is not None:
        user = _accountable(actor, identity)
        actor = replace(actor, user=user)  # the workload acts; its accountable person answers for it
    elif not may_request(user, identity):
        raise NotAllowed("Only the identity's owners, IAM or Security may request access for it.")
    now = timezone.now()
    question = cedar.Question(
        fields["action"],
        fields["resource_kind"],
        fields["resource_name"],
        fields["environment"],
        fields["task_ref"],
    )
    current, with_jit = _verdicts(identity, question, fields["duration_minutes"], now)
    if with_jit.decision != cedar.Decision.ALLOW:
        raise ValidationError(
            {"action": ["Policy denies this even with just-in-time access: " + " ".join(with_jit.reasons)]}
        )
    config = jit_settings()
    ar = AccessRequest.objects.create(
        identity=identity,
        requester=user,
        requested_via=actor.with_chain[:150],
        deadline=now + timedelta(minutes=int(config["deadline_minutes"])),
        created_at=now,
        **fields,
    )
    audit.record(actor, "access_request.created", ar, after=snapshot(ar), reason=ar.reason)
    if current.decision == cedar.Decision.ALLOW:
        rule = f"Cedar policy v{current.policy_version} already allows this: " + " ".join(current.reasons)
    else:
        rule, _why_not = auto_approval_rule(
            tier=identity.risk_tier,
            environments=[ar.environment],
            actions=[ar.action],
            vendor=identity.vendor,
        )
    roles = config["critical_steps"] if identity.risk_tier == Identity.RiskTier.CRITICAL else config["steps"]
    engine.open_request(
        actor,
        kind=KIND,
        subject=ar,
        title=f"Just-in-time {ar.action} on {ar.resource_kind} {ar.resource_name} ({ar.environment}) "
        f"for {identity.name}, {ar.duration_minutes} min",
        requester=user,
        tier=identity.risk_tier,
        parties=[identity.owner, identity.backup_owner],
        team=identity.team,
        auto_approve_rule=(rule or "")[:500] or None,
        roles=roles,
        due_at=ar.deadline,
    )
    ar.refresh_from_db()
    return ar


# Deciding a request from the browser or the API: the engine's, for this flow's rows.
approval_of = engine.approval_of
approve = engine.approve_subject
reject = engine.reject_subject


# ---------------------------------------------------------------- the engine's hooks


def _lock(request: ApprovalRequest) -> AccessRequest:
    return AccessRequest.objects.select_for_update().select_related("identity").get(pk=request.object_id)


@register(KIND)
class JitApproval(ApprovalKind):
    label = "just-in-time access"

    def on_approved(self, request, actor):
        ar = _lock(request)
        if ar.state != AccessRequest.State.PENDING:
            raise IllegalTransition(f"This access request is {ar.state}; it can no longer be approved.")
        now = timezone.now()
        if ar.identity.status != Identity.Status.ACTIVE:
            raise IllegalTransition(f"{ar.identity.name} is {ar.identity.status}; access cannot be granted.")
        expires_at = now + timedelta(minutes=ar.duration_minutes)
        grant = Grant.objects.create(
            identity=ar.identity,
            resource_kind=ar.resource_kind,
            resource_name=ar.resource_name,
            actions=[ar.action],
            expires_at=expires_at,
            origin=Grant.Origin.JIT,
            created_at=now,
        )
        before = ar.state
        AccessRequest.objects.filter(pk=ar.pk).update(
            state=AccessRequest.State.APPROVED,
            grant=grant,
            decided_at=now,
            decided_by=actor.label[:150],
            expires_at=expires_at,
        )
        ar.refresh_from_db()
        audit.record(actor, "access_request.approved", ar, before={"state": before}, after=snapshot(ar))
        audit.record(
            actor,
            "grant.created",
            grant,
            after={
                "identity": ar.identity_id,
                "origin": "jit",
                "resource": f"{grant.resource_kind}:{grant.resource_name}",
                "actions": grant.actions,
                "expires_at": expires_at.isoformat(),
                "access_request": ar.pk,
            },
            reason=ar.reason,
        )

    def on_rejected(self, request, actor):
        ar = _lock(request)
        AccessRequest.objects.filter(pk=ar.pk).update(
            state=AccessRequest.State.REJECTED, decided_at=timezone.now(), decided_by=actor.label[:150]
        )
        audit.record(
            actor, "access_request.rejected", ar, before={"state": ar.state}, after={"state": "rejected"}
        )

    def on_withdrawn(self, request, actor, reason):
        ar = _lock(request)
        expired = reason == "expired"
        state = AccessRequest.State.EXPIRED if expired else AccessRequest.State.ENDED
        AccessRequest.objects.filter(pk=ar.pk).update(
            state=state,
            state_reason="no decision before the deadline" if expired else (reason or "withdrawn")[:300],
            ended_at=timezone.now(),
        )
        audit.record(
            actor,
            "access_request.expired" if expired else "access_request.withdrawn",
            ar,
            before={"state": ar.state},
            after={"state": state},
            reason=reason,
        )

    def url(self, request):
        return link("access-request-detail", request.object_id)


# ---------------------------------------------------------------- end early, expire


@transaction.atomic
def end_access(actor, ar: AccessRequest, reason: str = "") -> AccessRequest:
    """ "Task done": the requester (or an owner, IAM, Security) ends the access now."""
    actor = as_actor(actor)
    ar = AccessRequest.objects.select_for_update().select_related("identity").get(pk=ar.pk)
    user = actor.user
    allowed = actor.is_system or (
        user is not None
        and not user.is_auditor
        and (
            user.pk == ar.requester_id
            or is_party(user, ar.identity)
            or user.has_role(Role.IAM, Role.SECURITY)
        )
    )
    if not allowed:
        raise NotAllowed("Only the requester, the identity's owners, IAM or Security may end this access.")
    reason = (reason or "").strip() or "task done"
    if ar.state == AccessRequest.State.PENDING:
        if user is None or user.pk != ar.requester_id:
            raise NotAllowed("Only the requester can withdraw a pending request.")
        engine.withdraw(actor, approval_of(ar), reason=reason)
        ar.refresh_from_db()
        return ar
    now = timezone.now()
    if ar.state != AccessRequest.State.APPROVED or (ar.expires_at and ar.expires_at <= now):
        raise IllegalTransition(
            f"This access is {ar.state if ar.state != 'approved' else 'past its window'}."
        )
    if ar.grant_id:
        Grant.objects.filter(pk=ar.grant_id, ended_at__isnull=True).update(
            ended_at=now, end_reason=reason[:300]
        )
    AccessRequest.objects.filter(pk=ar.pk).update(
        state=AccessRequest.State.ENDED, ended_at=now, state_reason=reason[:300]
    )
    ar.refresh_from_db()
    audit.record(
        actor, "access_request.ended", ar, before={"state": "approved"}, after=snapshot(ar), reason=reason
    )
    # Ended early is ended: the source (connectors) and the identity's live sessions (workload) hear of
    # it as of an expiry.
    enforcement.request(
        actor,
        [ar.identity_id],
        cause=enforcement.GRANT_EXPIRED,
        reason=f"just-in-time access ended: {reason}",
        grant_ids=[ar.grant_id] if ar.grant_id else [],
    )
    return ar


def expire_stale_access_requests(now: datetime | None = None) -> dict[str, int]:
    """For the job registry: expire undecided requests past their deadline, and close approved ones
    whose window has passed (ending their grants, if the expiry job has not already)."""
    now = now or timezone.now()
    undecided = 0
    pending = list(
        AccessRequest.objects.filter(state=AccessRequest.State.PENDING, deadline__lte=now).values_list(
            "pk", flat=True
        )
    )
    for pk in pending:  # each through the engine, in its own transaction (steps, discussion, audit)
        try:
            with transaction.atomic():
                ar = AccessRequest.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
                if ar is None or ar.state != AccessRequest.State.PENDING or ar.deadline > now:
                    continue
                approval = approval_of(ar)
                if approval.is_open:
                    engine.withdraw(system(ACTOR), approval, reason="expired")
                else:  # the engine closed it already; keep the request in step
                    JitApproval().on_withdrawn(approval, system(ACTOR), "expired")
                undecided += 1
        except IllegalTransition:
            continue
        except Exception:  # noqa: BLE001 - log and go on with the others
            logger.exception("expiring access request %s failed", pk)
    return {"expired_undecided": undecided, "closed_windows": _close_windows(now)}


@transaction.atomic
def _close_windows(now: datetime) -> int:
    claimed = list(
        AccessRequest.objects.select_for_update(skip_locked=True)
        .filter(state=AccessRequest.State.APPROVED, expires_at__lte=now)
        .values_list("pk", "grant_id", "identity_id", "action", "resource_kind", "resource_name")
    )
    if not claimed:
        return 0
    ids = [c[0] for c in claimed]
    open_grants = Grant.objects.filter(pk__in=[c[1] for c in claimed if c[1]], ended_at__isnull=True)
    ended = list(open_grants.values_list("pk", "identity_id"))
    open_grants.update(ended_at=now, end_reason="just-in-time window ended")
    AccessRequest.objects.filter(pk__in=ids, state=AccessRequest.State.APPROVED).update(
        state=AccessRequest.State.EXPIRED, state_reason="the access window ended", ended_at=now
    )
    actor = system(ACTOR)
    for pk, grant_id, identity_id, action, kind, name in claimed:
        audit.record(
            actor,
            "access_request.window_closed",
            ("governance.accessrequest", pk, f"JIT {action} on {kind} {name}"),
            before={"state": "approved"},
            after={"state": "expired", "grant": grant_id, "identity": identity_id},
        )
    # The window's end reaches the source too (connectors with enforcement on).
    enforcement.request(
        actor,
        [identity_id for _pk, identity_id in ended],
        cause=enforcement.GRANT_EXPIRED,
        reason="the access window ended",
        grant_ids=[pk for pk, _identity in ended],
    )
    return len(claimed)
