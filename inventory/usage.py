"""Usage ingestion: machines report that an identity was used; `last_used_at` follows.

Set-based on purpose (a gateway may send thousands of events a second): a batch is validated in
memory, identities are resolved with two queries, events are written with one `bulk_create`, and
`last_used_at` moves forward on identities and grants with one UPDATE statement each. A batch is
all-or-nothing. Use of a suspended or decommissioned identity is stored and flagged, because use
after revocation is exactly what must be caught.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from governance import audit
from governance.actors import Actor, as_actor
from governance.bulk import copy_rows
from governance.errors import NotAllowed
from governance.ids import not_an_id, parse_id
from governance.people.models import ApiToken, Role
from inventory.models import (
    ACTION_VALUES,
    ENVIRONMENT_VALUES,
    RESOURCE_KIND_VALUES,
    Action,
    Environment,
    Grant,
    Identity,
    ResourceKind,
    UsageEvent,
)
from inventory.validation import parse_time

MAX_BATCH = 1000
# Clocks drift; an event from further in the future than this is a bug in the reporter.
FUTURE_TOLERANCE = timedelta(minutes=5)
REVOKED_STATUSES = {Identity.Status.SUSPENDED, Identity.Status.DECOMMISSIONED}


@dataclass
class IngestResult:
    accepted: int
    identities: int
    after_revocation: int
    out_of_scope: int
    # The stored rows with their ids where the database returns them (one event; not a COPY'd batch).
    events: list[UsageEvent]

    def as_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "identities": self.identities,
            "after_revocation": self.after_revocation,
            "out_of_scope": self.out_of_scope,
        }


def _clean_event(raw: Any, horizon: datetime) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """One event -> cleaned fields and a list of (field, message) problems (empty when valid).
    `horizon`: the latest time an event may carry (now, plus the clocks' tolerance)."""
    errors: list[tuple[str, str]] = []
    if not isinstance(raw, dict):
        return {}, [("detail", "must be an object")]
    event: dict[str, Any] = {}
    identity = raw.get("identity")
    if identity not in (None, ""):
        if (identity_id := parse_id(identity)) is None:
            errors.append(("identity", not_an_id(identity)))
        else:
            event["identity"] = identity_id
    elif raw.get("external_id"):
        event["source"] = str(raw.get("source") or "")
        event["external_id"] = str(raw["external_id"])
    else:
        errors.append(("identity", "name the identity: 'identity' (id) or 'source' + 'external_id'"))
    at, err = parse_time(raw.get("at"))
    if err:
        errors.append(("at", err))
    elif at is None:
        errors.append(("at", "required (ISO 8601 time)"))
    elif at > horizon:
        errors.append(("at", "is in the future"))
    event["at"] = at
    action = raw.get("action") or ""
    if action and action not in ACTION_VALUES:
        errors.append(("action", f"'{action}' is not one of {', '.join(Action.values)}"))
    event["action"] = action
    resource = raw.get("resource")
    if isinstance(resource, dict):
        kind, name = resource.get("kind") or "", resource.get("name") or ""
    elif resource in (None, ""):
        kind, name = raw.get("resource_kind") or "", raw.get("resource_name") or ""
    else:
        kind, name = "", ""
        errors.append(("resource", "give {'kind', 'name'}"))
    if kind and kind not in RESOURCE_KIND_VALUES:
        errors.append(("resource", f"kind '{kind}' is not one of {', '.join(ResourceKind.values)}"))
    if not isinstance(name, str) or len(name) > 300:
        errors.append(("resource", "name must be text of at most 300 characters"))
        name = ""
    event["resource_kind"], event["resource_name"] = kind, name
    environment = raw.get("environment") or ""
    if environment and environment not in ENVIRONMENT_VALUES:
        errors.append(("environment", f"'{environment}' is not one of {', '.join(Environment.values)}"))
    event["environment"] = environment
    return event, errors


def _resolve(events: list[dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    """Look up every named identity with at most two queries; key by id and by (source, external_id)."""
    fields = ("id", "status", "owner_id", "backup_owner_id", "source", "external_id")
    found: dict[Any, dict[str, Any]] = {}
    ids = {e["identity"] for e in events if "identity" in e}
    if ids and connection.vendor == "postgresql":
        # One array parameter instead of a thousand placeholders: preparing and splitting the IN
        # list cost more than the lookup itself on a full batch.
        qn = connection.ops.quote_name
        column = {f.attname: f.column for f in Identity._meta.concrete_fields}
        columns = ", ".join(qn(column[f]) for f in fields)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT {columns} FROM {qn(Identity._meta.db_table)} WHERE {qn('id')} = ANY(%s)",
                [sorted(ids)],
            )
            for values in cursor.fetchall():
                found[values[0]] = dict(zip(fields, values, strict=True))
    elif ids:
        for row in Identity.objects.filter(pk__in=ids).values(*fields):
            found[row["id"]] = row
    external = {(e["source"], e["external_id"]) for e in events if "external_id" in e}
    if external:
        rows = Identity.objects.filter(
            external_id__in={x for _, x in external}, source__in={s for s, _ in external}
        ).values(*fields)
        for row in rows:
            if (row["source"], row["external_id"]) in external:
                found[(row["source"], row["external_id"])] = row
    return found


def reports_for_any_identity(actor: Actor) -> bool:
    """A `report`-scoped token (issued to IAM/Security or by IAM: a discovery job, an agent gateway,
    an endpoint-management tool), or IAM and Security themselves. Auditors never change anything."""
    user = actor.user
    if user is None or not user.is_active or user.is_auditor:
        return False
    if (
        actor.kind == "token"
        and ApiToken.objects.filter(pk=actor.token_id, scope=ApiToken.Scope.REPORT).exists()
    ):
        return True
    return user.is_governor


def _may_report(actor: Actor) -> bool | None:
    """True: any identity. None: only identities the person owns. False: none.

    A token acts for its holder: an owner's write token reports for what that owner owns, as the
    owner does in the browser."""
    if actor.is_system:
        return True
    if actor.identity_id is not None:
        return None  # a workload's access token: its own identity only (checked below)
    if reports_for_any_identity(actor):
        return True
    user = actor.user
    if user is not None and user.is_active and not user.is_auditor and user.has_role(Role.OWNER):
        return None
    return False


@dataclass(frozen=True, slots=True)
class _GrantScope:
    """What matching an event needs of a current grant (plain values: a batch reads thousands)."""

    pk: int
    identity_id: int
    resource_kind: str
    resource_name: str
    actions: tuple[str, ...]
    wildcard: bool


WILDCARDS = frozenset("*?[")


def _name_matches(name: str, pattern: str, wildcard: bool) -> bool:
    # Most grants name one resource: compare, rather than compile a pattern per grant (fnmatch's
    # cache misses on an estate of distinct names, and compiling was a fifth of a batch's time).
    return fnmatchcase(name, pattern) if wildcard else name == pattern


def _grant_matches(grant: _GrantScope, event: dict[str, Any]) -> bool:
    if grant.resource_kind != event["resource_kind"]:
        return False
    if not _name_matches(event["resource_name"], grant.resource_name, grant.wildcard):
        return False
    return not event["action"] or event["action"] in grant.actions


@transaction.atomic
def ingest_usage(actor, raw_events: list[Any], *, reported_by: str = "") -> IngestResult:
    """Store a batch of usage events; move `last_used_at` forward. All-or-nothing."""
    return _ingest(as_actor(actor), raw_events, reported_by=reported_by, single=False)


@transaction.atomic
def record_usage(actor, identity: Identity, event: dict[str, Any], *, reported_by: str = "") -> UsageEvent:
    """One event for one identity (the `identities/{id}/usage/` endpoint); errors keyed by field."""
    if not isinstance(event, dict):
        raise ValidationError({"detail": "Give the event as an object."})
    payload = {k: v for k, v in event.items() if k not in ("identity", "source", "external_id")}
    result = _ingest(
        as_actor(actor), [{**payload, "identity": identity.pk}], reported_by=reported_by, single=True
    )
    return result.events[0]


def _ingest(actor: Actor, raw_events: list[Any], *, reported_by: str, single: bool) -> IngestResult:
    if not isinstance(raw_events, list) or not raw_events:
        raise ValidationError({"events": "Give a non-empty list of usage events."})
    if len(raw_events) > MAX_BATCH:
        raise ValidationError({"events": f"At most {MAX_BATCH:,} events per batch; got {len(raw_events):,}."})
    if actor.identity_id is not None:  # a workload's events name its own identity when they name none
        raw_events = [
            {**e, "identity": actor.identity_id}
            if isinstance(e, dict) and not any(k in e for k in ("identity", "source", "external_id"))
            else e
            for e in raw_events
        ]
    scope = _may_report(actor)
    if scope is False:
        raise NotAllowed(
            "Auditors and people without a role cannot report usage; a machine reporting for any "
            "identity uses a token of scope 'report'."
        )

    cleaned: list[dict[str, Any]] = []
    errors: dict[int, list[tuple[str, str]]] = {}
    horizon = timezone.now() + FUTURE_TOLERANCE
    for index, raw in enumerate(raw_events):
        event, problems = _clean_event(raw, horizon)
        cleaned.append(event)
        if problems:
            errors[index] = problems
    identities = _resolve([e for i, e in enumerate(cleaned) if i not in errors])
    for index, event in enumerate(cleaned):
        if index in errors:
            continue
        key = event.get("identity", (event.get("source"), event.get("external_id")))
        row = identities.get(key)
        if row is None:
            where = (
                f"no identity with id {key}"
                if "identity" in event
                else "no identity with this source and external_id"
            )
            errors[index] = [("identity", where)]
        else:
            event["row"] = row
    if scope is None and actor.identity_id is not None:
        own = actor.identity_id
        foreign = sorted({e["row"]["id"] for e in cleaned if "row" in e and e["row"]["id"] != own})
        if foreign:
            raise NotAllowed(
                "A workload's access token reports usage for its own identity only; not for "
                + ", ".join(map(str, foreign[:20]))
            )
    elif scope is None:
        # Who may comes before what is wrong with the batch: the refusal names the identities.
        user_pk = actor.user.pk
        foreign = sorted(
            {
                e["row"]["id"]
                for e in cleaned
                if "row" in e and user_pk not in (e["row"]["owner_id"], e["row"]["backup_owner_id"])
            }
        )
        if foreign:
            shown = ", ".join(map(str, foreign[:20])) + (" …" if len(foreign) > 20 else "")
            raise NotAllowed(
                f"You may report usage only for identities you own; not for identit"
                f"{'y' if len(foreign) == 1 else 'ies'} {shown}. A machine reporting for any identity "
                "uses a token of scope 'report' (issue_api_token USER --scope report)."
            )
    if errors:
        if single:
            raise ValidationError({f: [m for f2, m in errors[0] if f2 == f] for f, _ in errors[0]})
        raise ValidationError(
            {
                "events": [
                    f"event {i}: " + "; ".join(f"{f}: {m}" for f, m in errs)
                    for i, errs in sorted(errors.items())
                ]
            }
        )

    identity_ids = {e["row"]["id"] for e in cleaned}
    grants_by_identity: dict[int, list[_GrantScope]] = defaultdict(list)
    for pk, identity_id, kind, name, actions in _current_grants(identity_ids):
        grants_by_identity[identity_id].append(
            _GrantScope(pk, identity_id, kind, name, tuple(actions or ()), not WILDCARDS.isdisjoint(name))
        )

    now = timezone.now()
    reporter = (reported_by or actor.with_chain)[:150]
    rows: list[tuple] = []  # in COPY_COLUMNS order: a batch is thousands of rows, no model instances
    identity_last: dict[int, datetime] = {}
    grant_last: dict[int, datetime] = {}
    for event in cleaned:
        identity_id, status = event["row"]["id"], event["row"]["status"]
        out_of_scope = False
        if event["resource_kind"] and event["resource_name"]:
            matched = [g for g in grants_by_identity[identity_id] if _grant_matches(g, event)]
            out_of_scope = not matched
            for grant in matched:
                if grant.pk not in grant_last or grant_last[grant.pk] < event["at"]:
                    grant_last[grant.pk] = event["at"]
        elif event["action"]:
            # No resource named: drift when no current grant allows the action anywhere.
            out_of_scope = not any(event["action"] in g.actions for g in grants_by_identity[identity_id])
        if identity_id not in identity_last or identity_last[identity_id] < event["at"]:
            identity_last[identity_id] = event["at"]
        after_revocation = status in REVOKED_STATUSES
        rows.append(
            (
                identity_id,
                event["at"],
                event["action"],
                event["resource_kind"],
                event["resource_name"],
                event["environment"],
                status,
                after_revocation,
                out_of_scope,
                reporter,
                now,
            )
        )
    stored = _insert_events(rows, single)
    _advance(Identity, identity_last)
    _advance(Grant, grant_last)
    flagged = sorted({row[0] for row in rows if row[7]})
    result = IngestResult(
        accepted=len(rows),
        identities=len(identity_last),
        after_revocation=sum(row[7] for row in rows),
        out_of_scope=sum(row[8] for row in rows),
        events=stored,
    )
    audit.record(
        actor,
        "usage.reported",
        ("inventory.usage_batch", stored[0].pk if stored else "", f"{len(rows)} usage event(s)"),
        after={**result.as_dict(), "identities_used_after_revocation": flagged[:100]},
    )
    return result


def _current_grants(identity_ids: set[int]):
    """(id, identity_id, resource_kind, resource_name, actions) of the identities' current grants.

    On PostgreSQL one statement with the ids as one array parameter and the actions as a text array
    (psycopg reads it as a list); the ORM's IN list of a thousand placeholders and its JSON decoding
    per row were a third of a batch's time. Elsewhere the ORM, same rows."""
    if connection.vendor != "postgresql":
        return (
            Grant.objects.current()
            .filter(identity_id__in=identity_ids)
            .values_list("id", "identity_id", "resource_kind", "resource_name", "actions")
        )
    table = connection.ops.quote_name(Grant._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, identity_id, resource_kind, resource_name, "
            "ARRAY(SELECT jsonb_array_elements_text(CASE jsonb_typeof(actions) WHEN 'array' THEN actions "
            "ELSE '[]'::jsonb END)) "
            f"FROM {table} WHERE identity_id = ANY(%s) AND ended_at IS NULL "
            "AND (expires_at IS NULL OR expires_at > %s)",
            [sorted(identity_ids), timezone.now()],
        )
        return cursor.fetchall()


COPY_COLUMNS = (
    "identity_id", "at", "action", "resource_kind", "resource_name", "environment", "identity_status",
    "after_revocation", "out_of_scope", "reported_by", "received_at",
)  # fmt: skip


def _insert_events(rows: list[tuple], single: bool) -> list[UsageEvent]:
    """Store `rows` (values in COPY_COLUMNS order). A batch goes in with COPY on PostgreSQL (several
    times faster than a 1,000-row INSERT, whose compilation alone was a fifth of the batch) and
    returns nothing: COPY gives no ids. One event, or another database, goes through bulk_create and
    returns the stored events (the single-event endpoint answers with its id)."""
    if single or connection.vendor != "postgresql":
        events = [UsageEvent(**dict(zip(COPY_COLUMNS, row, strict=True))) for row in rows]
        return UsageEvent.objects.bulk_create(events, batch_size=500)
    columns = [UsageEvent._meta.get_field(c).column for c in COPY_COLUMNS]
    copy_rows(UsageEvent, columns, rows)
    return []


def _advance(model, latest: dict[int, datetime]) -> None:
    """last_used_at = max(current, reported) for every row in `latest`, in one statement.

    PostgreSQL joins the batch as two arrays (unnest); elsewhere a conditional UPDATE per row goes
    through `executemany`. Both replaced one UPDATE with a CASE of a thousand WHENs, whose ORM
    compilation alone cost ~2 s per 1,000-event batch (bench/README.md).
    """
    if not latest:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    key = connection.ops.quote_name(model._meta.pk.column)
    rows = sorted(latest.items())  # primary-key order: concurrent batches lock rows in the same order
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS t SET last_used_at = v.at "
                "FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(pk, at) "
                f"WHERE t.{key} = v.pk AND (t.last_used_at IS NULL OR t.last_used_at < v.at)",
                [[pk for pk, _ in rows], [at for _, at in rows]],
            )
            return
        adapt = connection.ops.adapt_datetimefield_value
        cursor.executemany(
            f"UPDATE {table} SET last_used_at = %s WHERE {key} = %s "
            "AND (last_used_at IS NULL OR last_used_at < %s)",
            [(adapt(at), pk, adapt(at)) for pk, at in rows],
        )
