"""Threat profiles: the facts of any number of AI identities, Cedar's answers, and the rules' verdicts.

One function (`profiles`) computes what the identity page, the sweep's finding, the dashboard card and
the evidence pack's `threat_profiles.csv` show, so they cannot disagree. Its query count does not
grow with the number of identities: the identities, their current grants, live credentials, open
findings and active exceptions are read with one query each (filtered by a subquery, not a list of
ids), the active policies with one each, and Cedar's facts with the decisions' own lookup (one query
per 500 identities, plus grants and exceptions when not cached).
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from django.contrib.postgres.aggregates import JSONBAgg
from django.core.cache import cache
from django.db import connection
from django.db.models import Func, JSONField, OuterRef, Q, QuerySet, Subquery, TextField
from django.db.models.functions import MD5, Cast
from django.utils import timezone

from governance.decisions.services import hypothetical_answers, standing_answers
from governance.exceptions.models import PolicyException
from governance.findings.models import Finding, Rule, Severity
from governance.findings.rules import Hit
from governance.policy import cedar
from governance.policy.models import CedarPolicySet
from governance.policy.services import Policy, current_policy
from governance.threats import rules
from governance.threats.catalogue import Catalogue, catalogue
from inventory.models import Credential, Grant, Identity

LIVE = [s for s in Identity.Status.values if s != Identity.Status.DECOMMISSIONED]
# Uncontrolled threats whose gap is something Cedar allows in prod: the finding is high.
CEDAR_BACKED = ("ASI01", "ASI02", "ASI05", "ASI06", "ASI08", "ASI09")
# Layers drawn top to bottom (MAESTRO's stack: the ecosystem on top, foundation models at the base).
STACK = ("L7", "L6", "L5", "L4", "L3", "L2", "L1", "X")


@dataclass
class ThreatResult:
    code: str
    name: str
    about: str
    layers: tuple[str, ...]
    why: list[str]
    controls: list[str]
    gaps: list[str]

    @property
    def controlled(self) -> bool:
        return not self.gaps

    @property
    def label(self) -> str:
        return f"{self.code} {self.name}"


@dataclass
class LayerRow:
    code: str
    name: str
    about: str
    threats: list[ThreatResult] = field(default_factory=list)

    @property
    def spanned(self) -> bool:
        return bool(self.threats)

    @property
    def uncontrolled(self) -> list[ThreatResult]:
        return [t for t in self.threats if not t.controlled]


@dataclass
class Profile:
    identity_id: int
    identity_name: str
    kind: str
    status: str
    catalogue_version: str
    cedar_version: int | None
    threats: list[ThreatResult]
    layers: list[LayerRow]

    @property
    def uncontrolled(self) -> list[ThreatResult]:
        return [t for t in self.threats if not t.controlled]

    @property
    def spanned_layers(self) -> list[LayerRow]:
        return [layer for layer in self.layers if layer.spanned]

    def gap_lines(self) -> list[str]:
        return [f"{t.label}: {gap}" for t in self.uncontrolled for gap in t.gaps]

    def risk_reasons(self) -> list[str]:
        """What the profile adds to the tier's reasons: each uncontrolled threat with its gaps."""
        return [f"Uncontrolled agentic threat {t.label}: {'; '.join(t.gaps)}." for t in self.uncontrolled]


# ---------------------------------------------------------------- building


def _assess(facts: rules.Facts, book: Catalogue, cedar_version: int | None) -> Profile:
    results = []
    for row in rules.TABLE:
        assessment = row.rule(facts)
        if assessment is None:
            continue
        threat = book.threat(row.threat)
        results.append(
            ThreatResult(
                threat.code, threat.name, threat.about, threat.layers,
                assessment.why, assessment.controls, assessment.gaps,
            )
        )  # fmt: skip
    layers = []
    for code in STACK:
        layer = book.layer(code)
        layers.append(LayerRow(code, layer.name, layer.about, [t for t in results if code in t.layers]))
    return Profile(
        facts.identity_id, facts.name, facts.kind, facts.status, book.version, cedar_version, results, layers
    )


def _ask_cedar(facts: list[rules.Facts], now: datetime) -> int | None:
    """Fill each identity's answers; returns the Cedar version that answered (None: nothing asked)."""
    asked = {f.identity_id: rules.questions(f) for f in facts}
    verdicts = standing_answers(
        {pk: [cedar.Question(a, k, n, rules.PROD) for a, k, n in qs] for pk, qs in asked.items()}, now
    )
    version = None
    for f in facts:
        found = verdicts.get(f.identity_id, [])
        f.answers = tuple(
            _answer(question, verdict) for question, verdict in zip(asked[f.identity_id], found, strict=False)
        )
        version = next((v.policy_version for v in found), version)
    return version


def _answer(question: tuple[str, str, str], verdict: cedar.Verdict) -> rules.CedarAnswer:
    action, kind, name = question
    return rules.CedarAnswer(
        action, kind, name, verdict.decision, tuple(verdict.policies), tuple(verdict.exceptions)
    )


def _active_cedar_version() -> int | None:
    return CedarPolicySet.objects.filter(is_active=True).values_list("version", flat=True).first()


def ai_identities(statuses: Iterable[str] = LIVE) -> QuerySet:
    return Identity.objects.filter(kind__in=rules.AI_KINDS, status__in=list(statuses))


def profiles(
    identities: QuerySet | None = None, *, now: datetime | None = None, policy: Policy | None = None
) -> list[Profile]:
    """Profiles of the AI identities in `identities` (default: every live one), ordered by name."""
    now = now or timezone.now()
    policy = policy or current_policy()
    facts = _facts(identities, now, policy)
    if not facts:
        return []
    version = _ask_cedar(facts, now)
    book = catalogue(policy.get("threat_catalogue"))
    if version is None:  # nothing asked of Cedar: name the version that would answer
        version = _active_cedar_version()
    return [_assess(f, book, version) for f in facts]


BATCH = 2000  # identities profiled at a time by the sweep and the evidence pack


# What an AI identity's facts are read from: these columns of its own (and its owner's), and the related
# rows below. One definition for the facts (`_facts`) and for their fingerprint (`_fingerprints`).
IDENTITY_COLUMNS = (
    "id", "name", "kind", "status", "autonomous", "environments", "data_classification", "vendor",
    "model_name", "last_used_at", "owner_id", "owner__is_active", "next_review_due",
)  # fmt: skip


# Per set of related rows: the columns the facts read from a row, and the order they list the rows in.
# `_facts` reads them; `_fingerprints` digests the same columns in the same order.
READ = {
    "grants": (
        ("resource_kind", "resource_name", "actions", "origin"),
        ("resource_kind", "resource_name", "pk"),
    ),
    "credentials": (("kind", "expires_at"), ("pk",)),
    "findings": (("rule",), ("rule", "pk")),
    "exceptions": (("rule",), ("rule", "pk")),
}


def _read(related: dict[str, QuerySet], name: str) -> QuerySet:
    columns, order = READ[name]
    return related[name].order_by("identity_id", *order).values_list("identity_id", *columns)


def _related(now: datetime, within: Q) -> dict[str, QuerySet]:
    return {
        "grants": Grant.objects.current(now).filter(within),
        "credentials": Credential.objects.filter(within, revoked_at__isnull=True),
        "findings": Finding.objects.filter(within, status=Finding.Status.OPEN).exclude(
            rule=Rule.AGENT_THREAT_UNCONTROLLED
        ),
        "exceptions": PolicyException.objects.active(now).filter(within),
    }


def _facts(identities: QuerySet | None, now: datetime, policy: Policy) -> list[rules.Facts]:
    """The rules' facts of the AI identities in `identities`, ordered by name (Cedar's answers not yet
    asked): one query each for the identities, grants, credentials, findings and exceptions."""
    selected = (identities if identities is not None else ai_identities()).filter(kind__in=rules.AI_KINDS)
    rows = list(selected.order_by("name", "pk").values(*IDENTITY_COLUMNS))
    if not rows:
        return []
    # A batch's ids themselves, not a subquery of `selected`: PostgreSQL ran the subquery as a parallel
    # scan of the identities again for each of the four reads below (the sweep's 25 batches of 2,000
    # at 100,000 identities: 7.3-7.8 s → 6.4-7.3 s). A whole estate's selection stays a subquery: one
    # list of every id would cost more, and SQLite caps its parameters.
    ids = [r["id"] for r in rows]
    within = Q(identity_id__in=ids) if len(ids) <= BATCH else Q(identity__in=selected.values("pk"))
    related = _related(now, within)
    grants: dict[int, list[rules.GrantFacts]] = {}
    for identity_id, kind, name, actions, origin in _read(related, "grants"):
        grants.setdefault(identity_id, []).append(
            rules.GrantFacts(kind, name, frozenset(actions or []), origin == Grant.Origin.JIT)
        )
    static = set(policy.get("static_credential_kinds") or [])
    credentials: dict[int, list[str]] = {}
    never_expire: dict[int, int] = {}
    for identity_id, kind, expires_at in _read(related, "credentials"):
        credentials.setdefault(identity_id, []).append(kind)
        if kind in static and expires_at is None:
            never_expire[identity_id] = never_expire.get(identity_id, 0) + 1
    findings: dict[int, set[str]] = {}
    for identity_id, rule in _read(related, "findings"):
        findings.setdefault(identity_id, set()).add(rule)
    exceptions: dict[int, list[str]] = {}
    for identity_id, rule in _read(related, "exceptions"):
        exceptions.setdefault(identity_id, []).append(rule)
    today = timezone.localdate(now)
    facts = [
        rules.Facts(
            identity_id=r["id"],
            name=r["name"],
            kind=r["kind"],
            status=r["status"],
            autonomous=r["autonomous"],
            environments=tuple(r["environments"] or ()),
            data_classification=r["data_classification"],
            vendor=r["vendor"],
            model_name=r["model_name"],
            last_used_at=r["last_used_at"],
            owner_active=bool(r["owner_id"]) and bool(r["owner__is_active"]),
            next_review_due=r["next_review_due"],
            today=today,
            grants=tuple(grants.get(r["id"], ())),
            credential_kinds=tuple(credentials.get(r["id"], ())),
            static_without_expiry=never_expire.get(r["id"], 0),
            static_kinds=tuple(sorted(static)),
            open_findings=frozenset(findings.get(r["id"], ())),
            exceptions=tuple(exceptions.get(r["id"], ())),
            vendor_allowed=_vendor_allowed(policy, r["kind"], r["vendor"]),
            model_allowed=policy.model_allowed(r["model_name"]),
        )
        for r in rows
    ]
    return facts


def profiles_in_batches(
    identities: QuerySet | None = None, *, now: datetime | None = None, size: int = BATCH
) -> Iterator[Profile]:
    """`profiles`, a batch of `size` identities at a time (in the same order), so that the sweep and the
    evidence pack hold one batch's profiles, not the whole estate's: a fixed number of queries a batch."""
    now = now or timezone.now()
    policy = current_policy()
    selected = (identities if identities is not None else ai_identities()).filter(kind__in=rules.AI_KINDS)
    ids = list(selected.order_by("name", "pk").values_list("pk", flat=True))
    for start in range(0, len(ids), size):
        yield from profiles(Identity.objects.filter(pk__in=ids[start : start + size]), now=now, policy=policy)


def _vendor_allowed(policy: Policy, kind: str, vendor: str) -> bool:
    """As the unapproved_vendor rule reads AI kinds: with an allowed list, no vendor named fails too."""
    return policy.vendor_allowed(vendor)


def profile_of(identity: Identity, *, now: datetime | None = None) -> Profile | None:
    """The identity page's profile; None for identities that are not AI (no profile)."""
    if identity.kind not in rules.AI_KINDS:
        return None
    found = profiles(Identity.objects.filter(pk=identity.pk), now=now)
    return found[0] if found else None


# ---------------------------------------------------------------- the intake's preview


def preview(answers: dict[str, Any], *, now: datetime | None = None) -> Profile | None:
    """The profile an intake's answers would have once approved (active, owned, its grants standing),
    judged by the active Cedar set. None for kinds that get no profile. Writes nothing."""
    kind = answers.get("kind") or ""
    if kind not in rules.AI_KINDS:
        return None
    now = now or timezone.now()
    policy = current_policy()
    grants = tuple(
        rules.GrantFacts(
            g.get("resource_kind") or "", g.get("resource_name") or "", frozenset(g.get("actions") or [])
        )
        for g in answers.get("grants") or []
        if g.get("resource_kind") and g.get("resource_name")
    )
    facts = rules.Facts(
        identity_id=0,
        name=answers.get("name") or "(new)",
        kind=kind,
        autonomous=bool(answers.get("autonomous")),
        environments=tuple(answers.get("environments") or ()),
        data_classification=answers.get("data_classification") or "internal",
        vendor=answers.get("vendor") or "",
        model_name=answers.get("model_name") or "",
        grants=grants,
        static_kinds=tuple(policy.get("static_credential_kinds") or []),
        vendor_allowed=_vendor_allowed(policy, kind, answers.get("vendor") or ""),
        model_allowed=policy.model_allowed(answers.get("model_name") or ""),
    )
    asked = rules.questions(facts)
    if asked:
        subject = cedar.Subject(
            id="preview",
            name=facts.name,
            kind=kind,
            tier="medium",
            status="active",
            environments=tuple(sorted(facts.environments)),
            owner_active=True,
            grants=tuple(
                cedar.GrantFact(f"p{i}", g.resource_kind, g.resource_name, g.actions)
                for i, g in enumerate(grants, start=1)
            ),
        )
        verdicts = hypothetical_answers(
            subject, [cedar.Question(a, k, n, rules.PROD) for a, k, n in asked], now
        )
        facts.answers = tuple(_answer(q, v) for q, v in zip(asked, verdicts, strict=True))
    return _assess(facts, catalogue(policy.get("threat_catalogue")), _active_cedar_version())


# ---------------------------------------------------------------- the sweep's finding


def finding_hits(now: datetime) -> Iterable[Hit]:
    """`agent_threat_uncontrolled`: one hit per active AI identity with an uncontrolled threat, listing
    each with its missing control. High when Cedar allows something in prod that should be held;
    never critical (an open critical finding would itself block prod and hide the gap)."""
    for identity_id, name, verdict in sweep_verdicts(ai_identities([Identity.Status.ACTIVE]), now):
        uncontrolled = verdict.uncontrolled
        if not uncontrolled:
            continue
        high = any(t.code in CEDAR_BACKED for t in uncontrolled)
        yield Hit(
            identity_id,
            Severity.HIGH if high else Severity.MEDIUM,
            {
                "summary": "Uncontrolled: "
                + "; ".join(f"{t.label} ({', '.join(t.gaps)})" for t in uncontrolled),
                "threats": [{"code": t.code, "name": t.name, "gaps": t.gaps} for t in uncontrolled],
                "threat_catalogue": verdict.catalogue_version,
                "cedar_policy_version": verdict.cedar_version,
            },
            name,
        )


# ---------------------------------------------------------------- the sweep's verdicts, remembered
# The hourly sweep profiles every active AI identity, and from one hour to the next almost none of
# them changed. A profile's verdict is a function of its facts, Cedar's facts about the identity (the
# decisions' cache key), the active Cedar set, the policy document and this code: all of that, hashed,
# keys the verdict in the shared cache, so an unchanged identity costs its facts' share of five queries
# and a cache read, not Cedar's answers and the ten rules (three quarters of the sweep's time at
# 100,000 identities, bench/README.md). Anything that changes changes the key: nothing has to
# remember to invalidate. Kept a little longer than the sweep's interval.

VERDICT_SECONDS = 2 * 3600
_CODE: list[str] = []


@dataclass(frozen=True)
class SweepVerdict:
    uncontrolled: tuple[ThreatResult, ...]
    catalogue_version: str
    cedar_version: int | None


def _code_digest() -> str:
    """The digest of the code a verdict comes from (the rules, the catalogue, this module, Cedar's
    evaluator, the decisions' standing answers and subjects, cedarpy's version): a release that
    changes any of them keys new verdicts."""
    if not _CODE:
        from importlib.metadata import version

        from governance.decisions import services, subjects
        from governance.threats import catalogue as catalogue_module

        digest = hashlib.sha256(version("cedarpy").encode())
        for module in (rules, catalogue_module, sys.modules[__name__], cedar, services, subjects):
            digest.update(Path(module.__file__).read_bytes())
        _CODE.append(digest.hexdigest())
    return _CODE[0]


# Every field of `rules.Facts` but Cedar's answers (asked afterwards), each as the key reads it. A test
# fails when Facts gains a field that is not here.
KEYED_FACTS = (
    "identity_id", "name", "kind", "status", "autonomous", "environments", "data_classification",
    "vendor", "model_name", "last_used_at", "owner_active", "next_review_due", "today", "grants",
    "credential_kinds", "static_without_expiry", "static_kinds", "open_findings", "exceptions",
    "vendor_allowed", "model_allowed",
)  # fmt: skip


def _keyed(name: str, value: Any) -> Any:
    """A fact as the key reads it: the same in every process (a frozenset's order is not), and no finer
    than the rules read it (they read the day of the last use; decisions move the time every minute)."""
    if name == "grants":
        return tuple((g.resource_kind, g.resource_name, tuple(sorted(g.actions)), g.jit) for g in value)
    if name == "last_used_at":
        return value.date().isoformat() if value else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, frozenset):
        return tuple(sorted(value))
    return value


def _verdict_key(f: rules.Facts, subject_key: str | None, context: tuple) -> str:
    parts = tuple(_keyed(name, getattr(f, name)) for name in KEYED_FACTS)
    raw = repr((parts, subject_key, context)).encode()
    return "steward:threats:verdict:" + hashlib.sha256(raw).hexdigest()


def _remembering() -> bool:
    """Only with a shared cache (Redis): per-process memory holds 300 entries, which a batch of verdicts
    would only churn, evicting the rate limits and decision facts kept there."""
    from governance.cache import shared

    return shared()


def _inputs(ids: list[int]) -> tuple[dict[int, str], tuple]:
    """What Cedar's answers rest on besides the facts: each identity's subject cache key (the decisions'
    lookup, one query per 500) and the active Cedar set."""
    from governance.decisions import subjects
    from governance.policy.cedar_sets import active_fingerprint

    keys = {}
    for at in range(0, len(ids), 500):
        for row in subjects.lookup(ids=ids[at : at + 500]):
            keys[row.pk] = row.cache_key
    return keys, active_fingerprint()


# Where the fingerprint reads each fact from (a test holds it to `rules.Facts`): the identity's own
# columns (IDENTITY_COLUMNS), a set of related rows (READ), or the key's context (the day; the policy
# document, which names the static credential kinds and the allowed vendors and models).
FINGERPRINTED = {
    "identity_id": ("id",), "name": ("name",), "kind": ("kind",), "status": ("status",),
    "autonomous": ("autonomous",), "environments": ("environments",),
    "data_classification": ("data_classification",), "vendor": ("vendor",), "model_name": ("model_name",),
    "last_used_at": ("last_used_at",), "owner_active": ("owner_id", "owner__is_active"),
    "next_review_due": ("next_review_due",), "today": ("context",), "grants": ("grants",),
    "credential_kinds": ("credentials",), "static_without_expiry": ("credentials", "context"),
    "static_kinds": ("context",), "open_findings": ("findings",), "exceptions": ("exceptions",),
    "vendor_allowed": ("kind", "vendor", "context"), "model_allowed": ("model_name", "context"),
}  # fmt: skip


def _digest(queryset: QuerySet, columns: tuple, order_by: tuple) -> Subquery:
    """The MD5 of an identity's rows of `queryset` as one JSON array of arrays (JSON escapes what a
    joined string could not tell apart), in the facts' order; NULL when it has none."""
    row = Func(*columns, function="jsonb_build_array", output_field=JSONField())
    return Subquery(
        queryset.order_by()
        .values("identity")
        .annotate(digest=MD5(Cast(JSONBAgg(row, order_by=order_by), TextField())))
        .values("digest")
    )


def _fingerprints(ids: list[int], now: datetime) -> dict[int, tuple[str, tuple]]:
    """PostgreSQL only: id → (name, fingerprint) for the AI identities among `ids`, in one query. The
    fingerprint is what the facts are read from: the identity's own columns and a digest of each set of
    related rows, worked out by PostgreSQL, so nothing is decoded in Python. Finer than the facts (a
    grant's actions in another order is another fingerprint), never coarser."""
    digests = {
        f"{name}_digest": _digest(queryset, *READ[name])
        for name, queryset in _related(now, Q(identity=OuterRef("pk"))).items()
    }
    rows = (
        Identity.objects.filter(pk__in=ids, kind__in=rules.AI_KINDS)
        .order_by()  # the caller keeps its batch's order
        .annotate(**digests)
        .values_list(*IDENTITY_COLUMNS, *digests)
    )
    last_used = IDENTITY_COLUMNS.index("last_used_at")
    found = {}
    for row in rows:
        used = row[last_used]
        found[row[0]] = (row[1], (*row[:last_used], used and used.date(), *row[last_used + 1 :]))
    return found


def _fingerprint_key(fingerprint: tuple, subject_key: str | None, context: tuple) -> str:
    raw = repr((fingerprint, subject_key, context)).encode()
    return "steward:threats:verdict:fp:" + hashlib.sha256(raw).hexdigest()


# (id → name, id → verdict key, the facts read to key them or None) for a batch of ids, in name order.
Keyed = tuple[dict[int, str], dict[int, str], list[rules.Facts] | None]


def _keyer(now: datetime, policy: Policy, context: tuple) -> Callable[[list[int]], Keyed]:
    """How a batch's verdicts are keyed. On PostgreSQL by fingerprint: an unchanged identity then costs
    its share of one query and a cache read (the facts are read only for the identities judged afresh).
    Elsewhere by the facts themselves."""
    if connection.vendor == "postgresql":
        today = timezone.localdate(now).isoformat()

        def by_fingerprint(batch: list[int]) -> Keyed:
            found = _fingerprints(batch, now)
            subject_keys, cedar_set = _inputs(list(found))
            in_order = [pk for pk in batch if pk in found]
            keys = {
                pk: _fingerprint_key(found[pk][1], subject_keys.get(pk), (cedar_set, today, *context))
                for pk in in_order
            }
            return {pk: found[pk][0] for pk in in_order}, keys, None

        return by_fingerprint

    def by_facts(batch: list[int]) -> Keyed:
        facts = _facts(Identity.objects.filter(pk__in=batch), now, policy)
        subject_keys, cedar_set = _inputs([f.identity_id for f in facts])
        keys = {
            f.identity_id: _verdict_key(f, subject_keys.get(f.identity_id), (cedar_set, *context))
            for f in facts
        }
        return {f.identity_id: f.name for f in facts}, keys, facts

    return by_facts


def _judge(facts: list[rules.Facts], now: datetime, book: Catalogue) -> dict[int, SweepVerdict]:
    if not facts:
        return {}
    version = _ask_cedar(facts, now)
    if version is None:
        version = _active_cedar_version()
    judged = {}
    for f in facts:
        profile = _assess(f, book, version)
        judged[f.identity_id] = SweepVerdict(
            tuple(profile.uncontrolled), profile.catalogue_version, profile.cedar_version
        )
    return judged


def sweep_verdicts(
    identities: QuerySet, now: datetime, *, size: int = BATCH
) -> Iterator[tuple[int, str, SweepVerdict]]:
    """(id, name, verdict) for the AI identities in `identities`, by name, a batch of `size` at a time:
    what `profiles` would conclude about their uncontrolled threats, from the cache when nothing that
    decides it changed. A verdict is kept only if what it was keyed by still held once it was reached
    (an identity or the Cedar set that changed meanwhile is judged again next time)."""
    policy = current_policy()
    book = catalogue(policy.get("threat_catalogue"))
    document = json.dumps(policy.document, sort_keys=True, default=str)
    context = (policy.version, document, book.version, _code_digest())
    keys_of = _keyer(now, policy, context) if _remembering() else None
    selected = identities.filter(kind__in=rules.AI_KINDS)
    ids = list(selected.order_by("name", "pk").values_list("pk", flat=True))
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        if keys_of is None:
            facts = _facts(Identity.objects.filter(pk__in=batch), now, policy)
            judged = _judge(facts, now, book)
            for f in facts:
                yield f.identity_id, f.name, judged[f.identity_id]
            continue
        names, keys, facts = keys_of(batch)
        known: dict[str, SweepVerdict] = cache.get_many(list(keys.values()))
        todo = {pk for pk in names if keys[pk] not in known}
        if todo and facts is None:
            facts = _facts(Identity.objects.filter(pk__in=todo), now, policy)
        fresh = _judge([f for f in facts or () if f.identity_id in todo], now, book)
        if fresh:
            _names, still, _facts_again = keys_of(list(fresh))
            cache.set_many(
                {keys[pk]: verdict for pk, verdict in fresh.items() if still.get(pk) == keys[pk]},
                VERDICT_SECONDS,
            )
        for pk, name in names.items():
            verdict = fresh.get(pk) or known.get(keys[pk])
            if verdict is not None:  # None: no longer an AI identity by the time its facts were read
                yield pk, name, verdict


# ---------------------------------------------------------------- the evidence pack

CSV_HEADER = [
    "identity", "identity_name", "kind", "status", "threat_catalogue", "cedar_policy_version", "threat",
    "threat_name", "maestro_layers", "controlled", "applies_because", "controls_in_place", "gaps",
]  # fmt: skip


def csv_rows(found: list[Profile]) -> Iterable[list[Any]]:
    """One row per identity and applicable threat, as the identity page's Threats tab lists them."""
    for p in found:
        for t in p.threats:
            yield [
                p.identity_id, p.identity_name, p.kind, p.status, p.catalogue_version,
                p.cedar_version if p.cedar_version is not None else "", t.code, t.name, " ".join(t.layers),
                "yes" if t.controlled else "no", " | ".join(t.why), " | ".join(t.controls),
                " | ".join(t.gaps),
            ]  # fmt: skip
