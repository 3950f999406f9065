"""people.csv and policy_versions.jsonl: who held which role in the period, and which policy was in force.

**Roles** are Django groups; every change to them is a `user.roles_changed` audit event (the admin,
SSO and SCIM all write one, with the roles before and after). So the roles a person held at any
moment are found by replaying those events backwards from today's groups: the roles at time t are
the `before` of the first change at or after t, or today's roles if nothing changed since. A person
whose roles were set without an event (created with them, e.g. by seed data) is taken to have held
them since they joined; people.csv says so in `since_source`.

**Policy versions** are rows kept by Steward: a governance policy version is in force from its
activation until it is superseded; a Cedar policy set from the approval of its activation until the
next approved activation.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from governance.evidence.rows import Section, iso
from governance.models import AuditEvent
from governance.people.models import Role, User

ROLE_NAMES = set(Role.values)
PEOPLE_HEADER = [
    "record", "username", "display_name", "role", "held_from", "held_until", "since_source", "at",
    "changed_by", "audit_seq", "active_at_period_end", "superuser_now",
]  # fmt: skip


@dataclass
class RoleChange:
    seq: int
    at: datetime
    actor: str
    before: set[str]
    after: set[str]


def _roles(value: Any) -> set[str]:
    roles = value.get("roles") if isinstance(value, dict) else None
    return {r for r in roles if r in ROLE_NAMES} if isinstance(roles, list) else set()


def _changes_since(start: datetime) -> dict[str, list[RoleChange]]:
    """Role changes at or after `start`, per user id, oldest first."""
    found: dict[str, list[RoleChange]] = {}
    events = AuditEvent.objects.filter(
        verb="user.roles_changed", subject_type="governance.user", at__gte=start
    ).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        found.setdefault(event.subject_id, []).append(
            RoleChange(event.seq, event.at, event.actor, _roles(event.before), _roles(event.after))
        )
    return found


def _active_at(user: User, end: datetime, toggles: list[tuple[datetime, bool]]) -> bool:
    """Was the account active at `end`? Today's flag, undone by every (de)activation since."""
    active = user.is_active
    for at, became_active in sorted(toggles, reverse=True):
        if at >= end:
            active = not became_active
    return active


def people_rows(start: datetime, end: datetime) -> Iterator[list[Any]]:
    changes = _changes_since(start)
    role_users = set(
        User.objects.filter(groups__name__in=ROLE_NAMES).values_list("pk", flat=True).distinct()
    ) | {int(pk) for pk in changes if pk.isdigit()}
    toggles: dict[str, list[tuple[datetime, bool]]] = {}
    for subject_id, verb, at in AuditEvent.objects.filter(
        verb__in=["user.deactivated", "user.reactivated"], subject_type="governance.user", at__gte=end
    ).values_list("subject_id", "verb", "at"):
        toggles.setdefault(subject_id, []).append((at, verb == "user.reactivated"))
    users = (
        User.objects.filter(pk__in=role_users, date_joined__lt=end)
        .prefetch_related("groups")
        .order_by("username")
    )
    for user in users:
        mine = changes.get(str(user.pk), [])
        now = {g.name for g in user.groups.all() if g.name in ROLE_NAMES}
        # Roles at the period's start: the `before` of the first change since, or today's.
        held = mine[0].before if mine else now
        in_period = [c for c in mine if c.at < end]
        since = {role: (start, "held before the period") for role in held}
        if user.date_joined >= start:
            since = {role: (user.date_joined, "joined with it") for role in held}
        spans: list[tuple[str, datetime, datetime | None, str]] = []
        for change in in_period:
            for role in change.after - change.before:
                since[role] = (change.at, f"granted (audit #{change.seq})")
            for role in change.before - change.after:
                began, source = since.pop(role, (start, "held before the period"))
                spans.append((role, began, change.at, source))
        spans += [(role, began, None, source) for role, (began, source) in since.items()]
        active = _active_at(user, end, toggles.get(str(user.pk), []))
        for role, began, until, source in sorted(spans, key=lambda s: (s[0], s[1])):
            yield [
                "held", user.username, user.display_name, role, iso(began), iso(until), source,
                "", "", "", active, user.is_superuser,
            ]  # fmt: skip
        for change in in_period:
            for role in sorted(change.after - change.before):
                yield ["granted", user.username, user.display_name, role, "", "", "", iso(change.at),
                       change.actor, change.seq, active, user.is_superuser]  # fmt: skip
            for role in sorted(change.before - change.after):
                yield ["removed", user.username, user.display_name, role, "", "", "", iso(change.at),
                       change.actor, change.seq, active, user.is_superuser]  # fmt: skip


def people_section(start: datetime, end: datetime) -> Section:
    return Section(
        "people.csv",
        PEOPLE_HEADER,
        "People who held the IAM, Security, Auditor or owner role at any time in the period: one `held` "
        "row per person and role with when it began and ended within the period (empty: still held at "
        "its end), then one `granted`/`removed` row per role change in the period, with who changed it "
        "and the audit event. Roles at any moment are replayed from the audit log's user.roles_changed "
        "events backwards from today's roles.",
        lambda: people_rows(start, end),
    )


# ---------------------------------------------------------------- policy versions


def _digest(document: Any) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def governance_versions(start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
    from django.db.models import Q

    from governance.policy.models import PolicyVersion

    versions = (
        PolicyVersion.objects.filter(state__in=[PolicyVersion.State.ACTIVE, PolicyVersion.State.SUPERSEDED])
        .filter(Q(activated_at__lt=end) | Q(activated_at__isnull=True, created_at__lt=end))
        .filter(Q(superseded_at__isnull=True) | Q(superseded_at__gte=start))
        .order_by("version")
    )
    for version in versions:
        yield {
            "kind": "governance_policy",
            "version": version.version,
            "state_now": version.state,
            "in_force_from": iso(version.activated_at or version.created_at),
            "in_force_until": iso(version.superseded_at) or None,
            "proposed_by": version.created_by,
            "proposed_at": iso(version.created_at),
            "note": version.note,
            "based_on": version.based_on,
            "approved_by": version.decided_by,
            "approved_at": iso(version.decided_at) or None,
            "approval_comment": version.decision_comment,
            "two_people": bool(version.decided_by) and version.decided_by != version.created_by,
            "document_sha256": _digest(version.document),
            "document": version.document,
        }


def cedar_versions(start: datetime, end: datetime) -> Iterable[dict[str, Any]]:
    from governance.policy.models import CedarActivation, CedarPolicySet

    approved = list(
        CedarActivation.objects.filter(state=CedarActivation.State.APPROVED, decided_at__isnull=False)
        .select_related("policy_set")
        .order_by("decided_at", "pk")
    )
    spans = [
        (activation, activation.decided_at, approved[i + 1].decided_at if i + 1 < len(approved) else None)
        for i, activation in enumerate(approved)
    ]
    active = CedarPolicySet.objects.filter(is_active=True).first()
    if active is not None and not any(
        a.policy_set_id == active.pk for a, _f, until in spans if until is None
    ):
        # Activated before activations were proposals (no CedarActivation row): its own record only.
        spans.append((None, active.activated_at or active.created_at, None))
    for activation, began, until in spans:
        if began >= end or (until is not None and until < start):
            continue
        policy_set = activation.policy_set if activation else active
        yield {
            "kind": "cedar_policy_set",
            "version": policy_set.version,
            "in_force_from": iso(began),
            "in_force_until": iso(until) or None,
            "proposed_by": activation.proposed_by if activation else policy_set.activated_by,
            "proposed_at": iso(activation.proposed_at) if activation else None,
            "reason": activation.reason if activation else "",
            "rollback_from": activation.from_version if activation and activation.is_rollback else None,
            "approved_by": activation.decided_by if activation else "",
            "approved_at": iso(activation.decided_at) if activation else None,
            "approval_comment": activation.decision_comment if activation else "",
            "two_people": bool(activation and activation.decided_by != activation.proposed_by),
            "author": policy_set.created_by,
            "note": policy_set.note,
            "digest": policy_set.digest,
            "policies": policy_set.text,
        }


def policy_version_records(start: datetime, end: datetime) -> Iterator[dict[str, Any]]:
    yield from governance_versions(start, end)
    yield from cedar_versions(start, end)


POLICY_VERSIONS_POPULATION = (
    "Every governance policy version and Cedar policy set in force at any time in the period, with who "
    "proposed and who approved it (two_people says they differ), when it came into force and when it "
    "was replaced (null: still in force at the period's end), and the full document or policies."
)
