"""What goes in each CSV of an evidence pack: the population, the columns and the rows.

Every section is (filename, header, queryset-or-None, row function). Querysets are iterated with
`.iterator(chunk_size=2000)` so memory stays flat however large the estate is; a section with no rows
keeps its header.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from approvals.models import ApprovalStep
from governance.evidence.period_end import (
    RECONSTRUCTION,
    batched,
    before_end,
    credentials_at,
    identities_at,
)
from governance.evidence.review_records import review_sections
from governance.evidence.rows import CHUNK, Section, iso, stream, username
from governance.findings.models import Finding
from governance.threats import profiles
from inventory.models import Credential, Grant, Identity


def inventory_queryset(start, end) -> QuerySet:
    return (
        Identity.objects.filter(created_at__lt=end)
        .select_related("owner", "backup_owner", "team")
        .order_by("id")
    )


def grants_queryset(start, end) -> QuerySet:
    return (
        Grant.objects.filter(identity__created_at__lt=end, created_at__lt=end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=start))
        .select_related("identity")
        .order_by("id")
    )


def credentials_queryset(start, end) -> QuerySet:
    return (
        Credential.objects.filter(identity__created_at__lt=end)
        .filter(Q(issued_at__isnull=True) | Q(issued_at__lt=end))
        .filter(Q(revoked_at__isnull=True) | Q(revoked_at__gte=start))
        .select_related("identity")
        .order_by("id")
    )


def approvals_queryset(start, end) -> QuerySet:
    return (
        ApprovalStep.objects.filter(request__submitted_at__lt=end)
        .filter(Q(request__decided_at__isnull=True) | Q(request__decided_at__gte=start))
        .select_related("request", "request__requester", "decided_by")
        .order_by("request_id", "round", "order")
    )


def findings_queryset(start, end) -> QuerySet:
    return (
        Finding.objects.filter(first_seen_at__lt=end)
        .filter(Q(resolved_at__isnull=True) | Q(resolved_at__gte=start))
        .select_related("identity", "owner")
        .order_by("id")
    )


def exceptions_queryset(start, end) -> QuerySet:
    from governance.exceptions.evidence import exceptions_in_period

    return exceptions_in_period(start, end)


def request_identities(keys: set[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """The identity each approval request is about, by (content type, object id): the identity
    itself, or the subject's `identity` (an intake once approved, an exception, ...). One query per
    kind of subject, never one per row."""
    from django.contrib.contenttypes.models import ContentType

    by_type: dict[int, set[int]] = {}
    for content_type_id, object_id in keys:
        by_type.setdefault(content_type_id, set()).add(object_id)
    found: dict[tuple[int, int], int] = {}
    for content_type_id, object_ids in by_type.items():
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        if model is None:
            continue
        if model is Identity:
            pairs = [(pk, pk) for pk in model.objects.filter(pk__in=object_ids).values_list("pk", flat=True)]
        elif any(f.name == "identity" and f.is_relation for f in model._meta.get_fields()):
            pairs = model.objects.filter(pk__in=object_ids, identity__isnull=False).values_list(
                "pk", "identity_id"
            )
        else:
            continue
        found.update(((content_type_id, pk), identity_id) for pk, identity_id in pairs)
    return found


def _approval_rows(queryset: QuerySet) -> Callable[[], Iterable[list[Any]]]:
    def rows():
        batch: list[ApprovalStep] = []
        for step in queryset.iterator(chunk_size=CHUNK):
            batch.append(step)
            if len(batch) == CHUNK:
                yield from _approval_batch(batch)
                batch = []
        yield from _approval_batch(batch)

    return rows


def _approval_batch(steps: list[ApprovalStep]) -> Iterable[list[Any]]:
    identities = request_identities({(s.request.content_type_id, s.request.object_id) for s in steps})
    names = dict(Identity.objects.filter(pk__in=set(identities.values())).values_list("pk", "name"))
    for s in steps:
        identity = identities.get((s.request.content_type_id, s.request.object_id), "")
        yield [
            s.request_id,
            s.request.kind,
            s.request.title,
            identity,
            names.get(identity, ""),
            username(s.request.requester),
            s.request.tier,
            s.request.state,
            iso(s.request.submitted_at),
            iso(s.request.decided_at),
            s.round,
            s.order,
            s.role,
            s.state,
            s.decider_label,
            iso(s.decided_at),
            s.comment,
        ]  # fmt: skip


def _lag_hours(revoked_at, confirmed_at) -> str:
    if revoked_at and confirmed_at:
        return f"{(confirmed_at - revoked_at).total_seconds() / 3600:.1f}"
    return ""


INVENTORY_HEADER = [
    "id", "name", "kind", "vendor", "product", "model_name", "owner", "backup_owner", "team",
    "environments", "data_classification", "autonomous", "risk_tier", "status", "created_at",
    "approved_at", "last_used_at", "last_reviewed_at", "next_review_due", "source", "external_id",
    "suspended_at", "decommissioned_at", "status_now", "as_at",
]  # fmt: skip


def _inventory_batch(identities: list[Identity], end: datetime) -> Iterable[list[Any]]:
    state = identities_at(identities, end)
    for i in identities:
        v = state[i.pk]
        yield [
            i.pk, v["name"], v["kind"], v["vendor"], v["product"], v["model_name"], v["owner"] or "",
            v["backup_owner"] or "", v["team"] or "", ";".join(v["environments"] or []),
            v["data_classification"], v["autonomous"], v["risk_tier"], v["status"], iso(i.created_at),
            iso(v["approved_at"]), iso(v["last_used_at"]), iso(v["last_reviewed_at"]),
            "" if v["reviewed_since"] else iso(i.next_review_due), v["source"], v["external_id"],
            iso(v["suspended_at"]), iso(v["decommissioned_at"]), i.status, iso(end),
        ]  # fmt: skip


GRANTS_HEADER = [
    "id", "identity", "identity_name", "resource_kind", "resource_name", "actions", "origin", "created_at",
    "expires_at", "last_used_at", "ended_at", "end_reason", "in_force_at_period_end",
]  # fmt: skip


# The columns a row reads: the largest files load only these (a finding's JSON details, an identity's
# other columns are never written to the pack). A field read outside the list would cost a query a row.
GRANT_ROW_FIELDS = (
    "identity_id", "identity__name", "resource_kind", "resource_name", "actions", "origin", "created_at",
    "expires_at", "last_used_at", "ended_at", "end_reason",
)  # fmt: skip


def _grant_row(g: Grant, end: datetime) -> list[Any]:
    ended = before_end(g.ended_at, end)
    in_force = ended is None and (g.expires_at is None or g.expires_at >= end)
    return [
        g.pk, g.identity_id, g.identity.name, g.resource_kind, g.resource_name, ";".join(g.actions or []),
        g.origin, iso(g.created_at), iso(g.expires_at), iso(before_end(g.last_used_at, end)),
        iso(ended), g.end_reason if ended else "", in_force,
    ]  # fmt: skip


CREDENTIALS_HEADER = [
    "id", "identity", "identity_name", "kind", "label", "storage", "issued_at", "expires_at",
    "last_rotated_at", "revoked_at", "revocation_confirmed_at", "revocation_confirmed_by",
    "remediation_lag_hours", "live_at_period_end",
]  # fmt: skip


def _credentials_batch(credentials: list[Credential], end: datetime) -> Iterable[list[Any]]:
    state = credentials_at(credentials, end)
    for c in credentials:
        v = state[c.pk]
        revoked = before_end(c.revoked_at, end)
        confirmed = before_end(c.revocation_confirmed_at, end) if revoked else None
        yield [
            c.pk, c.identity_id, c.identity.name, c.kind, v["label"], c.storage, iso(c.issued_at),
            iso(v["expires_at"]), iso(v["last_rotated_at"]), iso(revoked), iso(confirmed),
            c.revocation_confirmed_by if confirmed else "", _lag_hours(revoked, confirmed), revoked is None,
        ]  # fmt: skip


FINDINGS_HEADER = [
    "id", "rule", "identity", "identity_name", "severity", "status", "first_seen_at", "last_seen_at",
    "resolved_at", "due_at", "overdue_at_period_end", "resolved_late", "owner", "resolution", "exception",
]  # fmt: skip


FINDING_ROW_FIELDS = (
    "rule", "identity_id", "identity__name", "severity", "status", "first_seen_at", "last_seen_at",
    "resolved_at", "due_at", "owner__username", "resolution", "exception_id",
)  # fmt: skip


def _finding_row(f: Finding, end: datetime) -> list[Any]:
    unresolved_at_end = f.resolved_at is None or f.resolved_at >= end
    due = f.due_at
    overdue = unresolved_at_end and f.status != Finding.Status.SUPPRESSED and due is not None and due < end
    late = f.resolved_at is not None and f.due_at is not None and f.resolved_at > f.due_at
    return [
        f.pk, f.rule, f.identity_id, f.identity.name, f.severity, f.status, iso(f.first_seen_at),
        iso(f.last_seen_at), iso(f.resolved_at), iso(f.due_at), overdue, late, username(f.owner),
        f.resolution, f.exception_id or "",
    ]  # fmt: skip


THREAT_HEADER = profiles.CSV_HEADER


def _threat_rows() -> Iterable[list[Any]]:
    return profiles.csv_rows(profiles.profiles_in_batches())


def build_sections(start: datetime, end: datetime) -> list[Section]:
    exceptions = exceptions_queryset(start, end)
    return [
        Section(
            "inventory.csv",
            INVENTORY_HEADER,
            "Every identity recorded on or before the period's last day, as it was at the period's end "
            "(status, owner, tier...; `status_now` is today's). " + RECONSTRUCTION,
            batched(inventory_queryset(start, end), lambda batch: _inventory_batch(batch, end)),
            inventory_queryset(start, end),
        ),
        Section(
            "grants.csv",
            GRANTS_HEADER,
            "Grants that existed at any time in the period (created before its end, not ended before "
            "its start); `in_force_at_period_end` says whether each still held at the end, and an end "
            "or use after the period's end is not shown.",
            stream(grants_queryset(start, end).only(*GRANT_ROW_FIELDS), lambda g: _grant_row(g, end)),
            grants_queryset(start, end),
        ),
        Section(
            "credentials.csv",
            CREDENTIALS_HEADER,
            "Credential metadata (never secret values) issued by the period's end and not revoked before "
            "its start, as at the period's end: a revocation after the end is not shown, and a rotation "
            "after it is undone from the audit log (`live_at_period_end`).",
            batched(credentials_queryset(start, end), lambda batch: _credentials_batch(batch, end)),
            credentials_queryset(start, end),
        ),
        Section(
            "approvals.csv",
            [
                "request",
                "kind",
                "title",
                "identity",
                "identity_name",
                "requester",
                "tier",
                "request_state",
                "submitted_at",
                "request_decided_at",
                "round",
                "step",
                "role",
                "step_state",
                "approver",
                "decided_at",
                "comment",
            ],  # fmt: skip
            "One row per approval step of every request submitted before the period's end and open or "
            "decided during it; `identity` and `identity_name` are the identity the request is about "
            "(empty while an intake is not yet approved).",
            _approval_rows(approvals_queryset(start, end)),
            approvals_queryset(start, end),
        ),
        Section(
            "exceptions.csv",
            [
                "id",
                "identity",
                "identity_name",
                "tier",
                "rule",
                "linked_finding",
                "requester",
                "requested_at",
                "state",
                "justification",
                "compensating_controls",
                "approved_by",
                "approved_at",
                "expires_at",
                "ended_at",
                "ended_by",
                "end_reason",
            ],  # fmt: skip
            "Exceptions requested before the period's end and not ended before its start; `tier` is the "
            "identity's risk tier now, `linked_finding` the latest finding of the exception's rule on "
            "its identity, `ended_by` who revoked or superseded it.",
            stream(exceptions, lambda row: [iso(value) for value in row]),
            exceptions,
        ),
        *review_sections(start, end),
        Section(
            "threat_profiles.csv",
            THREAT_HEADER,
            "Every live AI identity's agent threat profile as at export (like `status_now`): one row "
            "per OWASP Agentic Top 10 threat that applies, its CSA MAESTRO layers, the controls in place "
            "and the gaps, judged by the active Cedar set (`cedar_policy_version`) and the policy's "
            "threat catalogue; the same function draws the identity page's Threats tab.",
            _threat_rows,
        ),
        Section(
            "findings.csv",
            FINDINGS_HEADER,
            "Findings open at any time in the period, each with its due date (first seen plus the "
            "policy's finding_sla_days for its severity), owner (the identity's owner while unresolved), "
            "whether it was overdue at the period's end or resolved late, and its resolution: fixed, "
            "suppressed by the exception named in `exception`, or the identity suspended or decommissioned.",
            stream(findings_queryset(start, end).only(*FINDING_ROW_FIELDS), lambda f: _finding_row(f, end)),
            findings_queryset(start, end),
        ),
    ]
