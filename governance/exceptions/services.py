"""Exceptions: request, approve (through the approval engine), revoke, expire — and their effects.

Every write runs in one transaction with its audit event. Approval goes through `approvals`: the
`exception` kind is routed to Security; a critical identity needs two different Security people
(steps ``["security", "security"]`` — the engine never lets one person decide two steps of a round).
The requester and the identity's owners are parties, so none of them can approve it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from approvals.models import ApprovalRequest
from approvals.registry import ApprovalKind, register
from approvals.services import engine
from governance import audit
from governance.actors import as_actor, system
from governance.errors import IllegalTransition, NotAllowed
from governance.exceptions.models import PolicyException
from governance.findings.catalogue import RULES
from governance.findings.models import Finding
from governance.links import link
from governance.people.models import Role
from governance.policy.services import current_policy
from inventory.models import Identity

KIND = "exception"
State = PolicyException.State
OPEN_STATES = (State.REQUESTED, State.ACTIVE)
MAX_TEXT = 5000
RELEASE_CHUNK = 200  # (identity, rule) pairs per query when reopening findings


# ---------------------------------------------------------------- rules


LIFTABLE = re.compile(r'exceptions\.contains\(\s*"([A-Za-z0-9_\-]+)"\s*\)')


def cedar_liftable_rules() -> list[str]:
    """Cedar forbid policies the active policy set lets an exception lift (`unless exceptions.contains`)."""
    from governance.policy.cedar_sets import active_row

    row = active_row()
    return sorted(set(LIFTABLE.findall(row.text))) if row is not None else []


def rule_choices() -> list[tuple[str, str]]:
    """Rules an exception may name: finding rules, the policy's deny rules and liftable Cedar rules."""
    choices = {code: str(info.label) for code, info in RULES.items() if code != "exception_expired"}
    for deny in current_policy().deny_rules:
        code = deny.get("code")
        if code and code not in choices:
            choices[code] = f"Deny rule: {deny.get('message') or code}"
    for code in cedar_liftable_rules():
        choices.setdefault(code, f"Policy rule: {code}")
    return list(choices.items())


def rule_label(code: str) -> str:
    return dict(rule_choices()).get(code, code)


def approvers_for(tier: str) -> list[str]:
    return ["security", "security"] if tier == Identity.RiskTier.CRITICAL else ["security"]


# ---------------------------------------------------------------- helpers


def _person(actor):
    if actor.user is None:
        raise NotAllowed("Exceptions are requested and decided by people, not jobs.")
    return actor.user


def _is_owner(user, identity: Identity) -> bool:
    return user.pk in (identity.owner_id, identity.backup_owner_id)


def _parse_expiry(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, date):
        # A date means "until the start of that day" (local time), so today + N days fits N days.
        return timezone.make_aware(datetime.combine(value, time.min))
    if isinstance(value, str) and value.strip():
        text = value.strip()
        parsed = parse_datetime(text)
        if parsed is not None:
            return _parse_expiry(parsed)
        day = parse_date(text)
        if day is not None:
            return _parse_expiry(day)
    return None


def snapshot(exc: PolicyException) -> dict[str, Any]:
    return {
        "identity": exc.identity_id,
        "rule": exc.rule,
        "state": exc.state,
        "expires_at": exc.expires_at.isoformat() if exc.expires_at else None,
        "renewal_of": exc.renewal_of_id,
        "requested_by": exc.requested_by_id,
    }


# ---------------------------------------------------------------- request


def _resolve_identity(value) -> Identity | None:
    if isinstance(value, Identity):
        return value
    try:
        return Identity.objects.select_related("owner", "backup_owner", "team").get(pk=int(value))
    except (TypeError, ValueError, Identity.DoesNotExist):
        return None


@transaction.atomic
def request_exception(
    actor,
    *,
    identity,
    rule: str,
    justification: str,
    expires_at,
    compensating_controls: str = "",
    renewal_of: PolicyException | int | None = None,
) -> PolicyException:
    """Ask for an exception; opens its approval. Bad input raises ValidationError and writes nothing."""
    actor = as_actor(actor)
    user = _person(actor)
    now = timezone.now()
    errors: dict[str, list[str]] = {}

    target = _resolve_identity(identity)
    if target is None:
        raise ValidationError({"identity": "Choose an identity from the inventory."})
    if not (_is_owner(user, target) or user.has_role(Role.IAM, Role.SECURITY)) or user.is_auditor:
        raise NotAllowed("Only the identity's owners, IAM or Security may request an exception for it.")
    if target.status == Identity.Status.DECOMMISSIONED:
        errors.setdefault("identity", []).append("This identity is decommissioned; it needs no exception.")

    rule = (rule or "").strip()
    if rule not in dict(rule_choices()):
        errors.setdefault("rule", []).append("Choose a rule from the list (a finding rule or a deny rule).")

    justification = (justification or "").strip()
    if not justification:
        errors.setdefault("justification", []).append("Explain why the rule cannot be met for now.")
    elif len(justification) > MAX_TEXT:
        errors.setdefault("justification", []).append("Keep the justification under 5,000 characters.")
    compensating_controls = (compensating_controls or "").strip()
    if len(compensating_controls) > MAX_TEXT:
        errors.setdefault("compensating_controls", []).append("Keep this under 5,000 characters.")

    expiry = _parse_expiry(expires_at)
    max_days = current_policy().tier(target.risk_tier).exception_max_days
    if expiry is None:
        errors.setdefault("expires_at", []).append("Give an expiry date (YYYY-MM-DD).")
    elif expiry <= now:
        errors.setdefault("expires_at", []).append("The expiry must be in the future.")
    elif expiry > now + timedelta(days=max_days):
        errors.setdefault("expires_at", []).append(
            f"A {target.risk_tier}-tier identity may have an exception for at most {max_days} days "
            f"(until {(now + timedelta(days=max_days)).date().isoformat()})."
        )

    previous = None
    if renewal_of not in (None, ""):
        previous = (
            renewal_of
            if isinstance(renewal_of, PolicyException)
            else PolicyException.objects.filter(pk=_int_or_none(renewal_of)).first()
        )
        if previous is None or previous.identity_id != target.pk or previous.rule != rule:
            errors.setdefault("renewal_of", []).append(
                "A renewal must continue an exception for the same identity and rule."
            )
        elif previous.state not in (State.ACTIVE, State.EXPIRED):
            errors.setdefault("renewal_of", []).append("Only an active or expired exception can be renewed.")
    if not errors:
        pending = PolicyException.objects.filter(identity=target, rule=rule, state=State.REQUESTED)
        active = PolicyException.objects.filter(identity=target, rule=rule, state=State.ACTIVE)
        if pending.exists():
            errors.setdefault("rule", []).append("A request for this identity and rule is already waiting.")
        elif active.exists() and previous is None:
            errors.setdefault("rule", []).append(
                "An active exception already covers this rule; request a renewal of it instead."
            )
    if errors:
        raise ValidationError(errors)

    exc = PolicyException.objects.create(
        identity=target,
        rule=rule,
        justification=justification,
        compensating_controls=compensating_controls,
        expires_at=expiry,
        requested_by=user,
        renewal_of=previous,
        created_at=now,
    )
    audit.record(actor, "exception.requested", exc, after=snapshot(exc), reason=justification[:500])
    approval = engine.open_identity_request(
        actor,
        target,
        kind=KIND,
        subject=exc,
        title=f"Exception to {rule} for {target.name} until {expiry.date().isoformat()}",
        requester=user,
        roles=approvers_for(target.risk_tier),
    )
    PolicyException.objects.filter(pk=exc.pk).update(approval=approval)
    exc.refresh_from_db()
    return exc


def _int_or_none(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# ---------------------------------------------------------------- decide, revoke


# Deciding an exception from the browser or the API: the engine's, for this flow's rows.
approval_of = engine.approval_of
approve = engine.approve_subject
reject = engine.reject_subject


@transaction.atomic
def revoke_exception(actor, exc: PolicyException, reason: str) -> PolicyException:
    """Security or IAM end an active exception early; its suppressed finding reopens at once."""
    actor = as_actor(actor)
    user = _person(actor)
    if not user.has_role(Role.IAM, Role.SECURITY) or user.is_auditor:
        raise NotAllowed("Only IAM or Security may revoke an exception.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the exception is revoked."})
    exc = PolicyException.objects.select_for_update().get(pk=exc.pk)
    if not exc.can_move_to(State.REVOKED):
        raise IllegalTransition(f"Only an active exception can be revoked (this one is {exc.state}).")
    now = timezone.now()
    PolicyException.objects.filter(pk=exc.pk).update(
        state=State.REVOKED, state_reason=reason[:300], ended_at=now, updated_at=now
    )
    exc.refresh_from_db()
    # Before any audit write: the sweep takes its lock, then the audit chain's; so does this.
    release_suppressions(actor, [(exc.identity_id, exc.rule)], now, "The exception covering it was revoked.")
    audit.record(
        actor, "exception.revoked", exc, before={"state": State.ACTIVE}, after=snapshot(exc), reason=reason
    )
    return exc


# ---------------------------------------------------------------- the engine's hooks


def _lock(request: ApprovalRequest) -> PolicyException:
    return PolicyException.objects.select_for_update().get(pk=request.object_id)


@register(KIND)
class ExceptionApproval(ApprovalKind):
    label = "exception"

    def on_approved(self, request, actor):
        exc = _lock(request)
        if not exc.can_move_to(State.ACTIVE):
            raise IllegalTransition(f"This exception is {exc.state}; it can no longer be approved.")
        now = timezone.now()
        if exc.expires_at <= now:
            raise IllegalTransition("This exception's expiry has passed; request a new one.")
        PolicyException.objects.filter(pk=exc.pk).update(state=State.ACTIVE, approved_at=now, updated_at=now)
        exc.refresh_from_db()
        audit.record(actor, "exception.approved", exc, before={"state": State.REQUESTED}, after=snapshot(exc))
        if exc.renewal_of_id:
            # The renewal takes over: the exception it continues ends now (history keeps both).
            old = PolicyException.objects.select_for_update().filter(pk=exc.renewal_of_id, state=State.ACTIVE)
            for previous in old:
                PolicyException.objects.filter(pk=previous.pk).update(
                    state=State.EXPIRED,
                    state_reason=f"replaced by renewal #{exc.pk}",
                    ended_at=now,
                    updated_at=now,
                )
                audit.record(
                    actor,
                    "exception.superseded",
                    previous,
                    before={"state": State.ACTIVE},
                    after={"state": State.EXPIRED, "renewal": exc.pk},
                )

    def _close(self, request, actor, reason: str, verb: str):
        exc = _lock(request)
        if not exc.can_move_to(State.REJECTED):
            return
        now = timezone.now()
        PolicyException.objects.filter(pk=exc.pk).update(
            state=State.REJECTED, state_reason=reason[:300], ended_at=now, updated_at=now
        )
        exc.refresh_from_db()
        audit.record(actor, verb, exc, before={"state": State.REQUESTED}, after=snapshot(exc), reason=reason)

    def on_rejected(self, request, actor):
        self._close(request, actor, "rejected by the approver", "exception.rejected")

    def on_withdrawn(self, request, actor, reason):
        self._close(request, actor, reason or "withdrawn", "exception.withdrawn")

    def url(self, request):
        return link("exception-detail", request.object_id)


# ---------------------------------------------------------------- effects (jobs and sweep hooks)


def expire_due(now: datetime) -> int:
    """Active exceptions past their expiry become `expired` (set-based, one audit event each)."""
    with transaction.atomic():
        due = PolicyException.objects.select_for_update().filter(state=State.ACTIVE, expires_at__lte=now)
        rows = list(
            due.order_by("id").values_list("id", "identity_id", "identity__name", "rule", "expires_at")
        )
        ids = [r[0] for r in rows]
        PolicyException.objects.filter(pk__in=ids, state=State.ACTIVE).update(
            state=State.EXPIRED, state_reason="reached its expiry", ended_at=now, updated_at=now
        )
        actor = system("expiry")
        # Before any audit write: the sweep takes its lock, then the audit chain's; so does this.
        release_suppressions(
            actor,
            [(identity_id, rule) for _pk, identity_id, _name, rule, _exp in rows],
            now,
            "The exception covering it reached its expiry.",
        )
        audit.record_many(
            actor,
            [
                {
                    "verb": "exception.expired",
                    "subject": ("governance.policyexception", pk, f"{rule}: {name}"),
                    "before": {"state": State.ACTIVE, "expires_at": expires_at},
                    "after": {"state": State.EXPIRED, "identity": identity_id, "rule": rule},
                    "reason": "The exception reached its expiry.",
                }
                for pk, identity_id, name, rule, expires_at in rows
            ],
        )
    return len(rows)


def release_suppressions(actor, pairs: Iterable[tuple[int, str]], now: datetime, reason: str) -> int:
    """Reopen at once the suppressed findings of these (identity, rule) pairs that no other active
    exception still covers, instead of waiting for the next sweep. Set-based, one audit event each.

    Runs inside the caller's transaction and holds the sweep's lock, so a sweep running at the same
    moment cannot suppress them again from a list of exceptions it read before this one ended. Call
    it before the caller writes its own audit events (lock order: sweep, then the audit chain).
    """
    from governance.jobs.runner import hold_lock

    pairs = set(pairs)
    if not pairs:
        return 0
    still = set(
        PolicyException.objects.active(now)
        .filter(identity_id__in={i for i, _ in pairs})
        .values_list("identity_id", "rule")
    )
    pairs -= still
    if not pairs:
        return 0
    hold_lock("sweep")
    ordered = sorted(pairs)
    rows = []
    for start in range(0, len(ordered), RELEASE_CHUNK):
        match = Q()
        for identity_id, rule in ordered[start : start + RELEASE_CHUNK]:
            match |= Q(identity_id=identity_id, rule=rule)
        suppressed = Finding.objects.filter(match, status=Finding.Status.SUPPRESSED)
        chunk = list(suppressed.order_by("id").values_list("id", "identity_id", "identity__name", "rule"))
        Finding.objects.filter(pk__in=[r[0] for r in chunk], status=Finding.Status.SUPPRESSED).update(
            status=Finding.Status.OPEN
        )
        rows.extend(chunk)
    audit.record_many(
        actor,
        [
            {
                "verb": "finding.unsuppressed",
                "subject": ("governance.finding", pk, f"{rule}: {name}"),
                "before": {"status": Finding.Status.SUPPRESSED},
                "after": {"status": Finding.Status.OPEN, "identity": identity_id},
                "reason": reason,
            }
            for pk, identity_id, name, rule in rows
        ],
    )
    return len(rows)


def active_suppressions(now: datetime) -> Iterable[tuple[int, str]]:
    return PolicyException.objects.active(now).values_list("identity_id", "rule").distinct()


def expired_exception_hits(now: datetime) -> Iterator[tuple[int, str, dict, str]]:
    """Identities whose exception expired (not revoked or renewed) while its finding is still there."""
    still_covered = PolicyException.objects.filter(
        identity=OuterRef("identity"), rule=OuterRef("rule"), state__in=OPEN_STATES
    )
    finding_remains = Finding.objects.filter(
        identity=OuterRef("identity"), rule=OuterRef("rule"), status__in=Finding.UNRESOLVED
    )
    rows = (
        PolicyException.objects.filter(state=State.EXPIRED, state_reason="reached its expiry")
        .filter(Exists(finding_remains))
        .exclude(Exists(still_covered))
        .order_by("identity_id", "-expires_at")
        .values_list("pk", "identity_id", "identity__name", "identity__risk_tier", "rule", "expires_at")
    )
    seen: set[int] = set()
    for pk, identity_id, name, tier, rule, expires_at in rows:
        if identity_id in seen:
            continue
        seen.add(identity_id)
        severity = "high" if tier in ("high", "critical") else "medium"
        evidence = {
            "summary": f"Exception #{pk} to {rule} expired on {expires_at.date().isoformat()}; "
            "the finding remains.",
            "exception": pk,
            "rule": rule,
            "expired_at": expires_at.isoformat(),
        }
        yield (identity_id, severity, evidence, name)
