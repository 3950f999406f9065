"""Request-time decisions: parse the questions, answer them from the cached facts, record the answers.

The hot path, per request (one question or a batch of up to 100):

1. one SQL query finds the identities and the inputs of their cache keys (`subjects.lookup`);
2. the facts come from this process's memory or the shared cache (no SQL when cached);
3. Cedar answers each question in tens of microseconds;
4. the answers are written in one short transaction: `DecisionRecord` rows and `UsageEvent` rows in
   bulk, aggregate counters for allows above the sampling rate, `last_used_at` at most once a minute
   per identity, and an audit event for notable answers (deny, step-up, allows that used a
   just-in-time grant or an exception) at most once a minute per identical question.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from governance import audit
from governance.actors import Actor, as_actor
from governance.bulk import insert_statement
from governance.cache import add_many, incr_and_add
from governance.decisions import attestation, chain, subjects
from governance.decisions.models import AGGREGATE_BUCKET, DecisionRecord
from governance.decisions.questions import Answer, Ask
from governance.errors import NotAllowed
from governance.ids import not_an_id, parse_id
from governance.people.models import Role
from governance.policy import cedar
from governance.policy.cedar_sets import active_compiled, compiled_version
from governance.prepared import server_bound_cursor
from inventory.models import (
    ACTION_VALUES,
    ENVIRONMENT_VALUES,
    RESOURCE_KIND_VALUES,
    Action,
    Environment,
    Identity,
    ResourceKind,
    UsageEvent,
)
from inventory.usage import COPY_COLUMNS as USAGE_COLUMNS

MAX_BATCH = 100
REVOKED = (Identity.Status.SUSPENDED, Identity.Status.DECOMMISSIONED)


def sample_above() -> int:
    """Allows per identity per minute recorded one row each; above this they are aggregated."""
    return settings.STEWARD_DECISION_SAMPLE_ABOVE


# ---------------------------------------------------------------- parsing


def _entry_errors(entry: Any) -> tuple[dict[str, str], Ask | None]:
    if not isinstance(entry, dict):
        return {"detail": "Each question must be a JSON object."}, None
    errors: dict[str, str] = {}
    identity = entry.get("identity")
    source, external_id = entry.get("source"), entry.get("external_id")
    identity_id = None
    if identity not in (None, ""):
        identity_id = parse_id(identity)
        if identity_id is None:
            errors["identity"] = not_an_id(identity)
    elif not (isinstance(source, str) and source and isinstance(external_id, str) and external_id):
        errors["identity"] = "Give 'identity' (an id), or 'source' and 'external_id'."
    action = entry.get("action")
    if action not in ACTION_VALUES:
        errors["action"] = f"'{action}' is not an action. Choose one of: {', '.join(Action.values)}."
    resource = entry.get("resource")
    kind = name = None
    if not isinstance(resource, dict):
        errors["resource"] = 'Give the resource as {"kind": ..., "name": ...}.'
    else:
        kind, name = resource.get("kind"), resource.get("name")
        if kind not in RESOURCE_KIND_VALUES:
            errors["resource"] = (
                f"'{kind}' is not a resource kind. Choose one of: {', '.join(ResourceKind.values)}."
            )
        elif not isinstance(name, str) or not name.strip() or len(name) > 300:
            errors["resource"] = "The resource needs a name (up to 300 characters)."
    environment = entry.get("environment")
    if environment not in ENVIRONMENT_VALUES:
        errors["environment"] = (
            f"'{environment}' is not an environment. Choose one of: {', '.join(Environment.values)}."
        )
    task_ref = entry.get("task_ref") or ""
    if not isinstance(task_ref, str) or len(task_ref) > 200:
        errors["task_ref"] = "task_ref is text of up to 200 characters."
    if errors:
        return errors, None
    return {}, Ask(
        index=0,
        action=action,
        resource_kind=kind,
        resource_name=name.strip(),
        environment=environment,
        task_ref=task_ref.strip(),
        identity_id=identity_id,
        source=source or "",
        external_id=external_id or "",
    )


def parse(payload: Any) -> tuple[list[Ask], bool]:
    """One question (an object) or a batch (a list of up to 100). Returns (asks, is_batch).

    Bad input raises ValidationError: per field for one question; for a batch, keyed by the index of
    each bad entry, so the caller can tell which to fix. Nothing is decided or recorded then."""
    if isinstance(payload, dict):
        errors, ask = _entry_errors(payload)
        if errors:
            raise ValidationError({k: [v] for k, v in errors.items()})
        return [ask], False
    if not isinstance(payload, list):
        raise ValidationError({"detail": ["Send one question (an object) or a list of up to 100."]})
    if not payload:
        raise ValidationError({"detail": ["The batch is empty."]})
    if len(payload) > MAX_BATCH:
        raise ValidationError(
            {"detail": [f"A batch holds at most {MAX_BATCH} questions ({len(payload)} sent)."]}
        )
    asks, bad = [], {}
    for index, entry in enumerate(payload):
        errors, ask = _entry_errors(entry)
        if errors:
            bad[str(index)] = [f"{k}: {v}" for k, v in errors.items()]
        else:
            ask.index = index
            asks.append(ask)
    if bad:
        raise ValidationError(
            {"detail": [f"Entries {', '.join(bad)} are not valid; nothing was decided."], **bad}
        )
    return asks, True


# ---------------------------------------------------------------- deciding


def may_ask(actor: Actor, row: subjects.IdentityRow) -> bool:
    """IAM and Security (and their gateways' tokens) ask about any identity; owners about theirs.
    Auditors read the decision log but do not ask: asking counts as the identity's use."""
    if actor.identity_id is not None:
        return row.pk == actor.identity_id  # a workload's access token asks about itself only
    if actor.is_system:
        return True
    user = actor.user
    if user is None or not user.is_active or user.is_auditor:
        return False
    if user.has_role(Role.IAM, Role.SECURITY):
        return True
    return user.pk in (row.owner_id, row.backup_owner_id)


def _resolve(actor: Actor, asks: list[Ask], is_batch: bool) -> list[subjects.IdentityRow]:
    rows = subjects.lookup(
        ids={a.identity_id for a in asks if a.identity_id is not None},
        external={(a.source, a.external_id) for a in asks if a.identity_id is None},
    )
    by_id = {r.pk: r for r in rows}
    by_external = {(r.values["source"], r.values["external_id"]): r for r in rows}
    resolved, missing, refused = [], {}, []
    for ask in asks:
        row = (
            by_id.get(ask.identity_id)
            if ask.identity_id is not None
            else by_external.get((ask.source, ask.external_id))
        )
        if row is None:
            what = (
                f"id {ask.identity_id}" if ask.identity_id is not None else f"{ask.source}/{ask.external_id}"
            )
            missing[str(ask.index) if is_batch else "identity"] = [f"identity: no identity with {what}."]
            continue
        if not may_ask(actor, row):
            refused.append(row.name)
        resolved.append(row)
    if missing:
        raise ValidationError(missing)
    if refused:
        if actor.identity_id is not None:
            raise NotAllowed(
                "A workload's access token asks about its own identity only; not about: "
                + ", ".join(sorted(set(refused)))
            )
        raise NotAllowed(
            "You may ask only about identities you own (IAM and Security may ask about any): "
            + ", ".join(sorted(set(refused)))
        )
    return resolved


def evaluate(
    asks: list[Ask], rows: list[subjects.IdentityRow], now: datetime, chains: list | None = None
) -> list[tuple[cedar.Verdict, Any]]:
    facts = subjects.subjects_for(list({r.pk: r for r in rows}.values()))
    compiled = compiled_version(rows[0].policy_version, rows[0].policy_digest) if rows else None
    chains = chains or [None] * len(asks)
    return [
        (
            compiled.evaluate(facts[row.pk], ask.question(), now, chain)
            if chain is None or compiled.takes_chain or not (chain["has_human"] or chain["has_parent"])
            else _chain_unsupported(compiled.version),
            facts[row.pk],
        )
        for ask, row, chain in zip(asks, rows, chains, strict=True)
    ]


def _chain_unsupported(version: int) -> cedar.Verdict:
    """A delegated or spawned workload under a policy set saved before delegation chains: that set
    cannot apply the chain's rules, so nothing is allowed until one that can is active."""
    return cedar.Verdict(
        decision=cedar.Decision.DENY,
        reasons=[
            f"Policy version {version} predates delegation chains (no `context.chain` in its schema): a "
            "workload acting for a person or spawned by an agent is denied until Security activates a "
            "version saved from the current defaults."
        ],
        policy_version=version,
        policies=["delegation_chain_unsupported"],
    )


def _revoked(verdict: cedar.Verdict, why: str) -> cedar.Verdict:
    """A workload whose access token was revoked (its session ended on drift): deny, whatever else."""
    return cedar.Verdict(
        decision=cedar.Decision.DENY,
        reasons=[f"Denied: {why}. Exchange a new token once the identity may act again."],
        policy_version=verdict.policy_version,
        policies=["workload_session_revoked"],
    )


def standing_answers(
    questions: dict[int, list[cedar.Question]], now: datetime
) -> dict[int, list[cedar.Verdict]]:
    """What Steward would answer now, recording nothing (no decision row, usage or audit event): each
    identity's questions against the active Cedar set with its just-in-time grants left out, so a
    `step_up` means the action needs JIT. The real evaluator on the decisions' own facts (cached as
    theirs are): one lookup query per 500 identities, plus grants and exceptions for uncached facts."""
    ids = sorted(pk for pk, asked in questions.items() if asked)
    answers: dict[int, list[cedar.Verdict]] = {}
    for start in range(0, len(ids), 500):
        rows = subjects.lookup(ids=ids[start : start + 500])
        if not rows:
            continue
        facts = subjects.subjects_for(rows)
        compiled = compiled_version(rows[0].policy_version, rows[0].policy_digest)
        for row in rows:
            subject = facts[row.pk]
            standing = replace(subject, grants=tuple(g for g in subject.grants if not g.jit))
            answers[row.pk] = compiled.evaluate_many(standing, questions[row.pk], now)
    return answers


def hypothetical_answers(
    subject: cedar.Subject, questions: list[cedar.Question], now: datetime
) -> list[cedar.Verdict]:
    """The active Cedar set's answers for an identity that does not exist yet (the intake's preview),
    recording nothing."""
    return active_compiled().evaluate_many(subject, questions, now)


def decide(
    actor,
    asks: list[Ask],
    *,
    is_batch: bool = False,
    now: datetime | None = None,
    record: bool = True,
    revoked: str = "",
) -> list[Answer]:
    """Answer the questions; with `record` (the API), log them and count them as usage. `revoked`:
    why the caller's workload access token no longer stands (every answer is then `deny`)."""
    actor = as_actor(actor)
    now = now or timezone.now()
    rows = _resolve(actor, asks, is_batch)
    results = evaluate(asks, rows, now, chain.facts(actor, asks, rows, now))
    if revoked:
        results = [(_revoked(verdict, revoked), subject) for verdict, subject in results]
    answers = [
        Answer(ask=ask, identity_id=row.pk, identity_name=row.name, verdict=verdict)
        for ask, row, (verdict, _subject) in zip(asks, rows, results, strict=True)
    ]
    if record:
        _record(actor, answers, [s for _v, s in results], now)
        for answer, (verdict, subject) in zip(answers, results, strict=True):
            if verdict.decision == cedar.Decision.ALLOW and verdict.jit:
                answer.extra["attestation"] = attestation.issue(answer, subject, now)
    return answers


# ---------------------------------------------------------------- recording


def _rate_keys(answers: list[Answer], minute: datetime) -> tuple[list[str | None], dict[str, int]]:
    """Each allow's per-identity counter for this minute, and how much the batch adds to each."""
    allows: dict[str, int] = {}
    keys = []
    for answer in answers:
        key = None
        if answer.verdict.decision == cedar.Decision.ALLOW:
            key = f"steward:decisions:rate:{answer.identity_id}:{int(minute.timestamp())}"
            allows[key] = allows.get(key, 0) + 1
        keys.append(key)
    return keys, allows


def _over_rate(keys: list[str | None], allows: dict[str, int], totals: dict[str, int]) -> list[bool]:
    """For each answer: is it an allow above the identity's sampling rate this minute? One counter
    per identity, moved by the batch's allows (`totals`: the counters after); the allows are numbered
    in order, so a batch counts exactly as the same questions asked one by one."""
    seen = {key: totals[key] - n for key, n in allows.items()}  # the count before this batch
    limit, over = sample_above(), []
    for key in keys:
        if key is None:
            over.append(False)
            continue
        seen[key] += 1
        over.append(seen[key] > limit)
    return over


def astuple_question(ask: Ask) -> tuple[str, ...]:
    return (ask.action, ask.resource_kind, ask.resource_name, ask.environment)


def _notable(verdict: cedar.Verdict) -> bool:
    return verdict.decision != cedar.Decision.ALLOW or verdict.jit or bool(verdict.exceptions)


def _audit_key(answer: Answer) -> str:
    verdict = answer.verdict
    question = (answer.identity_id, *astuple_question(answer.ask), verdict.decision, verdict.jit)
    return "steward:decisions:audited:" + hashlib.sha1(repr(question).encode()).hexdigest()


def _record(actor: Actor, answers: list[Answer], facts: list[cedar.Subject], now: datetime) -> None:
    minute = now.replace(second=0, microsecond=0)
    rows: list[dict] = []  # field values: model instances only when the slower path needs them
    usage: list[dict] = []
    aggregated: list[Answer] = []
    notable: list[tuple[str, Answer, cedar.Subject]] = []
    # One cache round trip in the common case: the allows' rate counters, the once-a-minute marks of
    # the identities' last use and of the notable answers that are not allows (only an allow can be
    # over the rate, so these marks do not depend on the counters). A notable allow (on a JIT grant or
    # an exception) below the rate takes its mark in a second round trip.
    keys, allows = _rate_keys(answers, minute)
    used = {f"steward:decisions:used:{pk}": pk for pk in {a.identity_id for a in answers}}
    early = [
        _audit_key(a) for a in answers if a.verdict.decision != cedar.Decision.ALLOW and _notable(a.verdict)
    ]
    totals, new = incr_and_add(allows, 120, [*early, *used], 60)
    for answer, subject, over in zip(answers, facts, _over_rate(keys, allows, totals), strict=True):
        ask, verdict = answer.ask, answer.verdict
        after_revocation = subject.status in REVOKED
        if over:
            aggregated.append(answer)
            continue
        rows.append(
            _record_values(
                actor, answer, now, out_of_scope=verdict.out_of_scope, after_revocation=after_revocation
            )
        )
        usage.append(
            {
                "identity_id": answer.identity_id,
                "at": now,
                "action": ask.action,
                "resource_kind": ask.resource_kind,
                "resource_name": ask.resource_name,
                "environment": ask.environment,
                "identity_status": subject.status,
                "after_revocation": after_revocation,
                "out_of_scope": verdict.out_of_scope,
                "reported_by": f"decision:{actor.with_chain}"[:150],
                "received_at": now,
            }
        )
        if _notable(verdict):
            notable.append((_audit_key(answer), answer, subject))
    # Once a minute: an audit event per notable question, last_used_at per identity.
    late = [key for key, answer, _s in notable if answer.verdict.decision == cedar.Decision.ALLOW]
    if late:
        new |= add_many(late, 60)
    audited = []
    for key, answer, subject in notable:
        if key in new:
            audited.append((answer, subject))
            new.discard(key)  # the same question twice in one batch is audited once
    touched = [pk for key, pk in used.items() if key in new]
    if not (aggregated or audited) and _insert_in_one_statement(rows, usage, touched, now):
        return  # the common case: the answers, their usage and last use, one round trip
    with transaction.atomic():
        DecisionRecord.objects.bulk_create([DecisionRecord(**values) for values in rows])
        UsageEvent.objects.bulk_create([UsageEvent(**values) for values in usage])
        _aggregate_all(actor, aggregated, minute, now)
        if touched:
            Identity.objects.filter(pk__in=touched).filter(
                Q(last_used_at__isnull=True) | Q(last_used_at__lt=now)
            ).update(last_used_at=now)
        for answer, subject in audited:
            verdict = answer.verdict
            audit.record(
                actor,
                f"decision.{verdict.decision}",
                ("inventory.identity", answer.identity_id, answer.identity_name),
                after={
                    "action": answer.ask.action,
                    "resource": f"{answer.ask.resource_kind}:{answer.ask.resource_name}",
                    "environment": answer.ask.environment,
                    "task_ref": answer.ask.task_ref,
                    "decision": verdict.decision,
                    "policies": verdict.policies,
                    "grants": verdict.grants,
                    "exceptions": verdict.exceptions,
                    "policy_version": verdict.policy_version,
                    "identity_status": subject.status,
                },
                reason="; ".join(verdict.reasons)[:1000],
            )


def _insert_in_one_statement(rows: list[dict], usage: list[dict], touched: list[int], now: datetime) -> bool:
    """On PostgreSQL, write the decision rows, their usage events and, once a minute per identity,
    its `last_used_at` (`touched`) with ONE statement (data-modifying CTEs, atomic on their own in
    autocommit): one round trip instead of five (BEGIN, two INSERTs, the UPDATE, COMMIT). False when
    not applicable; the caller then uses a transaction.

    The statement is written once per batch size and its values passed as they are: every column is
    text, a number, a boolean or an aware time, which psycopg adapts itself, except the two JSON
    lists (`reasons`, `policies`), wrapped as JSONB, and the touched ids, one array. Building model
    instances and running each field's preparation cost more than the insert (bench/README.md); the
    once-a-minute `last_used_at` had sent one decision in forty down the transaction's path under
    a gateway's load (bench/README.md, issue 23, fifth pass)."""
    if not rows or connection.vendor != "postgresql" or connection.in_atomic_block:
        return False
    from psycopg.types.json import Jsonb

    key = (len(rows), bool(touched))
    sql = _CTE_SQL.get(key)
    if sql is None:
        sql = _CTE_SQL[key] = (
            f"WITH d AS ({_values_insert(DecisionRecord, _DECISION_COLUMNS, len(rows))}) "
            f"{_touch_sql() if touched else ''}"
            f"{_values_insert(UsageEvent, _USAGE_COLUMNS, len(usage))}"
        )
    params: list = []
    for values in rows:
        params += [
            Jsonb(values[name]) if name in _JSON_COLUMNS else values.get(name, _DEFAULTS.get(name))
            for name in _DECISION_COLUMNS
        ]
    if touched:
        params += [now, touched, now]
    for values in usage:
        params += [values[name] for name in _USAGE_COLUMNS]
    with server_bound_cursor() as cursor:
        cursor.execute(sql, params)
    return True


def _touch_sql() -> str:
    """The identities' last use, as the transaction's path sets it: only forward, never back."""
    qn = connection.ops.quote_name
    used = qn(Identity._meta.get_field("last_used_at").column)
    return (
        f", t AS (UPDATE {qn(Identity._meta.db_table)} SET {used} = %s WHERE {qn('id')} = ANY(%s) "
        f"AND ({used} IS NULL OR {used} < %s)) "
    )


_DECISION_COLUMNS = (
    "identity_id", "action", "resource_kind", "resource_name", "environment", "task_ref", "decision",
    "reasons", "policies", "policy_version", "at", "actor", "on_behalf_of", "out_of_scope",
    "after_revocation", "count", "window_start",
)  # fmt: skip
_USAGE_COLUMNS = USAGE_COLUMNS  # the usage events' columns, as ingestion writes them
_JSON_COLUMNS = frozenset({"reasons", "policies"})
_DEFAULTS = {"count": 1, "window_start": None}
_CTE_SQL: dict[tuple[int, bool], str] = {}


def _values_insert(model, names: tuple[str, ...], n: int) -> str:
    qn = connection.ops.quote_name
    column = {f.attname: f.column for f in model._meta.concrete_fields}
    columns = ", ".join(qn(column[name]) for name in names)
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    return f"INSERT INTO {qn(model._meta.db_table)} ({columns}) VALUES {', '.join([row] * n)}"


def _bucket(answer: Answer) -> tuple:
    return (answer.identity_id, *astuple_question(answer.ask), answer.verdict.decision)


def _aggregate_all(actor: Actor, aggregated: list[Answer], minute: datetime, now: datetime) -> None:
    """Count the allows above the sampling rate into one row per minute and question, in one
    statement: a new question inserts its row, a known one adds to its `count`.

    The bucket is a unique constraint (`decision_aggregate_bucket_unique`), so two workers counting
    the same question at once add up instead of writing two rows. The ORM has no "add to a column on
    conflict", hence plain SQL (SQLite ≥ 3.24 and PostgreSQL share the syntax)."""
    counts: dict[tuple, int] = {}
    first: dict[tuple, Answer] = {}
    for answer in aggregated:
        key = _bucket(answer)
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, answer)
    if not counts:
        return
    rows = [_aggregate_row(actor, first[key], minute, now, n) for key, n in counts.items()]
    sql, params = insert_statement(DecisionRecord, rows)
    qn = connection.ops.quote_name
    table = qn(DecisionRecord._meta.db_table)
    bucket = ", ".join(qn(DecisionRecord._meta.get_field(f).column) for f in AGGREGATE_BUCKET)
    with connection.cursor() as cursor:
        cursor.execute(
            f"{sql} ON CONFLICT ({bucket}) WHERE {qn('window_start')} IS NOT NULL"
            f" DO UPDATE SET {qn('count')} = {table}.{qn('count')} + EXCLUDED.{qn('count')},"
            f" {qn('at')} = EXCLUDED.{qn('at')}",
            params,
        )


def _record_values(actor: Actor, answer: Answer, now: datetime, **extra) -> dict:
    """One answer as a row's field values; `extra` adds what differs (the scope marks, or an
    aggregate's count)."""
    ask, verdict = answer.ask, answer.verdict
    return {
        "identity_id": answer.identity_id,
        "action": ask.action,
        "resource_kind": ask.resource_kind,
        "resource_name": ask.resource_name,
        "environment": ask.environment,
        "task_ref": ask.task_ref,
        "decision": verdict.decision,
        "reasons": verdict.reasons,
        "policies": verdict.policies,
        "policy_version": verdict.policy_version,
        "at": now,
        "actor": actor.label[:150],
        "on_behalf_of": actor.on_behalf_of[:150],
        **extra,
    }


def _aggregate_row(actor: Actor, answer: Answer, minute: datetime, now: datetime, n: int) -> DecisionRecord:
    row = DecisionRecord(**_record_values(actor, answer, now, window_start=minute, count=n))
    row.reasons = [*row.reasons, f"Aggregated: allows above {sample_above()} a minute for this identity."]
    return row
