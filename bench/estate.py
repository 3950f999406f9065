"""Build the benchmark estate once per database and remember it (the `bench_estate` table).

The identities, grants and credentials come from the project's own bulk builder
(`inventory.demo_large.build_large`, what `seed_demo --size large` runs). On top of it this adds what a
year of operation leaves behind: more owners and teams, rotated-out credentials, a hash-chained audit
log, usage events folded into `last_used_at`, pending approval requests, one launched review campaign
and one identity with a long history. Everything is written with COPY or the product's services; the
audit chain is computed exactly as `governance.audit` does, so `verify_audit_chain` passes.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

ESTATE_VERSION = 1  # bump when the shape of the estate changes: a cached estate of another version is rebuilt


@dataclass(frozen=True)
class Size:
    name: str
    identities: int
    extra_credentials: int
    audit_events: int
    usage_events: int
    campaign_items: int
    pending_requests: int
    owners: int = 200
    teams: int = 20
    # The one identity whose page is measured: fixed size at every scale.
    big_grants: int = 200
    big_audit: int = 2000


SIZES = {
    "full": Size("full", 100_000, 50_000, 1_000_000, 2_000_000, 20_000, 5_000),
    "quick": Size("quick", 10_000, 5_000, 100_000, 200_000, 2_000, 500),
}
BIG_IDENTITY = "bench-long-history"
BENCH_OWNER_PREFIX = "bench-owner-"


def _say(message: str) -> None:
    print(f"  [estate] {message}", flush=True)


def cached(size: Size) -> dict | None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_estate') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT spec, built FROM bench_estate WHERE version = %s", [ESTATE_VERSION])
        row = cursor.fetchone()
    if row is None or json.loads(row[0]) != asdict(size):
        return None
    return json.loads(row[1])


def guard_foreign_data() -> None:
    """Refuse a database that holds identities the bench did not put there: it would be overwritten."""
    from inventory.models import Identity

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_estate') IS NOT NULL")
        ours = cursor.fetchone()[0]
    if not ours and Identity.objects.exists():
        raise SystemExit(
            "This database already holds identities that the benchmark did not build. Point DATABASE_URL "
            "at a throwaway database (e.g. postgresql://postgres@127.0.0.1:5432/steward_bench)."
        )


def _reset() -> None:
    """Empty every application table (TRUNCATE: the audit log refuses DELETE by trigger)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN "
            "('django_migrations', 'django_content_type', 'auth_permission', 'bench_estate')"
        )
        tables = [r[0] for r in cursor.fetchall()]
        cursor.execute("TRUNCATE {} RESTART IDENTITY CASCADE".format(", ".join(f'"{t}"' for t in tables)))
        cursor.execute("DROP TABLE IF EXISTS bench_estate")


def _copy(table: str, columns: list[str], rows) -> int:
    n = 0
    raw = connection.connection  # psycopg 3
    with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def _people(size: Size):
    from governance.demo import seed_people
    from governance.people.models import Role, Team, User

    with transaction.atomic():
        users = seed_people()
        teams = [
            Team.objects.get_or_create(slug=f"team-{t:02d}", defaults={"name": f"Team {t:02d}"})[0]
            for t in range(size.teams)
        ]
        owner_group = Group.objects.get(name=Role.OWNER)
        made = User.objects.bulk_create(
            [
                User(
                    username=f"{BENCH_OWNER_PREFIX}{i:04d}",
                    email=f"owner{i}@example.com",
                    display_name=f"Bench Owner {i}",
                    team=teams[i % len(teams)],
                    password="!",  # unusable: these people never sign in
                )
                for i in range(size.owners)
            ]
        )
        owner_group.user_set.add(*made)
    owners = {u.username: u for u in User.objects.filter(username__startswith=BENCH_OWNER_PREFIX)}
    return users, owners


def _extra_credentials(size: Size, rng: random.Random, now) -> int:
    from inventory.models import Identity

    ids = list(Identity.objects.order_by("pk").values_list("pk", flat=True))
    picked = rng.sample(ids, min(size.extra_credentials, len(ids)))

    def rows():
        for n, pk in enumerate(picked):
            issued = now - timedelta(days=rng.randint(200, 900))
            revoked = issued + timedelta(days=rng.randint(30, 180))
            yield (
                pk, "static_key", f"old-key-{n:06d}", "Vault kv/synthetic", issued, issued, None,
                revoked, revoked, "bench", "rotated out",
            )  # fmt: skip

    return _copy(
        "inventory_credential",
        [
            "identity_id",
            "kind",
            "label",
            "storage",
            "issued_at",
            "last_rotated_at",
            "expires_at",
            "revoked_at",
            "revocation_confirmed_at",
            "revocation_confirmed_by",
            "revocation_note",
        ],  # fmt: skip
        rows(),
    )


def _big_identity(users, size: Size, now) -> int:
    from inventory.models import Credential, Grant, Identity

    owner = users["owner"]
    identity = Identity.objects.create(
        name=BIG_IDENTITY,
        kind="ai_agent",
        vendor="Anthropic",
        product="Claude Code",
        purpose="The identity with a long history whose page the benchmark measures.",
        owner=owner,
        backup_owner=users["pat"],
        team=owner.team,
        environments=["dev", "prod"],
        risk_tier="high",
        status="active",
        approved_at=now - timedelta(days=400),
        created_at=now - timedelta(days=400),
        last_used_at=now - timedelta(hours=2),
        source="bench",
        external_id=BIG_IDENTITY,
    )
    Grant.objects.bulk_create(
        Grant(
            identity=identity,
            resource_kind="repository",
            resource_name=f"platform/service-{g:03d}",
            actions=["read_code", "open_pr"] if g % 3 else ["read_code"],
            origin=Grant.Origin.IMPORT,
            ended_at=now - timedelta(days=g) if g % 10 == 0 else None,
            end_reason="scope change" if g % 10 == 0 else "",
        )
        for g in range(size.big_grants)
    )
    Credential.objects.bulk_create(
        Credential(identity=identity, kind="oauth_token", label=f"token-{c}", issued_at=now) for c in range(3)
    )
    return identity.pk


VERBS = [
    "identity.updated", "identity.created", "grant.added", "grant.ended", "credential.rotated",
    "usage.reported", "identity.suspended", "identity.reactivated", "review.certified", "finding.opened",
]  # fmt: skip


def _audit_history(size: Size, rng: random.Random, now, big_pk: int) -> int:
    """Append `size.audit_events` events over the last year, chained from the current head."""
    from governance.audit import compute_hash
    from governance.models import AuditChainHead, AuditEvent
    from inventory.models import Identity

    identities = list(Identity.objects.order_by("pk").values_list("pk", "name"))
    big_name = Identity.objects.get(pk=big_pk).name
    actors = ["iam", "iam2", "security", "owner", "owner2", "system:sweep", "system:usage"]
    total = size.audit_events
    big_every = max(total // size.big_audit, 1)
    columns = [
        "seq", "at", "actor", "actor_kind", "on_behalf_of", "verb", "subject_type", "subject_id",
        "subject_label", "before", "after", "reason", "request_id", "prev_hash", "hash",
    ]  # fmt: skip
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        seq, prev = head.seq, head.hash
        start = now - timedelta(days=365)
        step = timedelta(days=364) / total

        def rows():
            nonlocal seq, prev
            event = AuditEvent()
            for n in range(total):
                seq += 1
                if n % big_every == 0 and n // big_every < size.big_audit:
                    pk, name = big_pk, big_name
                else:
                    pk, name = identities[rng.randrange(len(identities))]
                actor = rng.choice(actors)
                verb = VERBS[n % len(VERBS)]
                event.seq = seq
                event.at = start + step * n
                event.actor = actor
                event.actor_kind = "system" if actor.startswith("system:") else "person"
                event.on_behalf_of = ""
                event.verb = verb
                event.subject_type = "inventory.identity"
                event.subject_id = str(pk)
                event.subject_label = name
                event.before = {"status": "active"} if n % 2 else None
                event.after = {"field": verb.split(".")[1], "n": n}
                event.reason = "benchmark history" if n % 7 == 0 else ""
                event.request_id = ""
                event.prev_hash = prev
                digest = compute_hash(event.hashed_fields())
                yield (
                    seq, event.at, actor, event.actor_kind, "", verb, "inventory.identity", str(pk), name,
                    json.dumps(event.before) if event.before is not None else None, json.dumps(event.after),
                    event.reason, "", prev, digest,
                )  # fmt: skip
                prev = digest
                if n and n % 200_000 == 0:
                    _say(f"audit events: {n:,} / {total:,}")

        written = _copy("governance_auditevent", columns, rows())
        AuditChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
    return written


def _usage_history(size: Size, rng: random.Random, now) -> int:
    """Usage events over the last year, then folded into last_used_at as `inventory.usage` does.

    The product's ingestion moves `last_used_at` forward to the newest event per identity and per
    matched grant. Here the same fold runs as two set-based UPDATEs after one COPY (the ingestion
    path itself is measured separately, through the batch API).
    """
    grants = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.identity_id, g.resource_kind, g.resource_name, g.actions::text, i.status "
            "FROM inventory_grant g JOIN inventory_identity i ON i.id = g.identity_id "
            "WHERE g.ended_at IS NULL"
        )
        grants = cursor.fetchall()
    total = size.usage_events
    span = 365 * 86400

    def rows():
        for n in range(total):
            identity_id, rkind, rname, actions, status = grants[rng.randrange(len(grants))]
            at = now - timedelta(seconds=rng.randrange(span))
            yield (
                identity_id, at, json.loads(actions)[0], rkind, rname, "prod", status,
                status in ("suspended", "decommissioned"), False, "system:bench", at,
            )  # fmt: skip
            if n and n % 500_000 == 0:
                _say(f"usage events: {n:,} / {total:,}")

    columns = [
        "identity_id", "at", "action", "resource_kind", "resource_name", "environment", "identity_status",
        "after_revocation", "out_of_scope", "reported_by", "received_at",
    ]  # fmt: skip
    with transaction.atomic():
        written = _copy("inventory_usageevent", columns, rows())
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE inventory_identity i SET last_used_at = u.last FROM "
                "(SELECT identity_id, max(at) AS last FROM inventory_usageevent GROUP BY identity_id) u "
                "WHERE u.identity_id = i.id AND (i.last_used_at IS NULL OR i.last_used_at < u.last)"
            )
            cursor.execute(
                "UPDATE inventory_grant g SET last_used_at = u.last FROM "
                "(SELECT identity_id, resource_kind, resource_name, max(at) AS last "
                " FROM inventory_usageevent GROUP BY 1, 2, 3) u "
                "WHERE u.identity_id = g.identity_id AND u.resource_kind = g.resource_kind "
                "AND u.resource_name = g.resource_name AND g.ended_at IS NULL "
                "AND (g.last_used_at IS NULL OR g.last_used_at < u.last)"
            )
    return written


def _campaign(size: Size, users, now) -> int:
    """One launched campaign of `size.campaign_items` items over low and medium tiers (high stays free
    for the launch the benchmark measures)."""
    from governance.reviews.services import launch_campaign
    from inventory.models import Identity

    pks = list(
        Identity.objects.filter(risk_tier__in=["low", "medium"], status="active")
        .order_by("pk")
        .values_list("pk", flat=True)[: size.campaign_items]
    )
    campaign = launch_campaign(
        users["iam"],
        "Quarterly review (bench)",
        {"risk_tiers": ["low", "medium"]},
        now + timedelta(days=30),
        only=Q(pk__lte=pks[-1]),
    )
    return campaign.population_count


def _pending_requests(size: Size, users) -> int:
    from approvals.services.intake import create_and_submit
    from governance.people.models import User

    requesters = list(
        User.objects.filter(username__startswith=BENCH_OWNER_PREFIX).select_related("team")[:50]
    )
    shapes = [
        ("high", ["prod"], [("repository", "org/app", ["merge", "open_pr"])]),
        ("medium", ["staging"], [("repository", "org/app", ["open_pr", "read_code"])]),
        ("low", ["dev"], [("repository", "org/docs", ["read_code"])]),
    ]
    made = 0
    for n in range(size.pending_requests):
        _tier, envs, grants = shapes[n % len(shapes)]
        requester = requesters[n % len(requesters)]
        create_and_submit(
            requester,
            {
                "name": f"bench-request-{n:05d}",
                "kind": "ai_assistant",
                "vendor": "Anthropic",
                "product": "Claude Code",
                "model_name": "",
                "purpose": "Helps the team review and write code faster (benchmark request).",
                "owner": requester,
                "team": requester.team,
                "environments": envs,
                "grants": [
                    {"resource_kind": k, "resource_name": r, "actions": a, "expires_at": None}
                    for k, r, a in grants
                ],
                "credential_kind": "oidc_federation",
                "data_classification": "internal",
                "autonomous": False,
            },
        )
        made += 1
        if made % 1000 == 0:
            _say(f"pending requests: {made:,} / {size.pending_requests:,}")
    return made


def build(size: Size, rebuild: bool = False) -> dict:
    """The estate for `size`, from the cache when it was built already."""
    guard_foreign_data()
    if not rebuild:
        found = cached(size)
        if found is not None:
            _say(f"cached estate '{size.name}' ({found['identities']:,} identities), built {found['at']}")
            return found
    from governance.jobs.runner import run_job
    from inventory.demo import build_small
    from inventory.demo_large import build_large
    from inventory.models import Credential, Grant, Identity

    _say(f"building the '{size.name}' estate (once; cached in this database afterwards)")
    _reset()
    rng = random.Random(13)
    now = timezone.now()
    timings: dict[str, float] = {}

    def phase(name, func, *args):
        started = time.monotonic()
        result = func(*args)
        timings[name] = round(time.monotonic() - started, 1)
        shown = sum(len(r) for r in result) if isinstance(result, tuple) else result
        _say(f"{name}: {shown if shown is not None else ''} in {timings[name]}s")
        return result

    users, owners = phase("people", _people, size)
    phase("small demo estate", build_small, users)
    phase("bulk identities (demo_large)", build_large, owners, size.identities - 1 - Identity.objects.count())
    big_pk = phase("long-history identity", _big_identity, users, size, now)
    phase("rotated-out credentials", _extra_credentials, size, rng, now)
    phase("audit history", _audit_history, size, rng, now, big_pk)
    phase("usage history", _usage_history, size, rng, now)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    # Through the job runner, so the run is recorded as on a live install (the evidence pack sweeps
    # first when no sweep ever ran).
    phase("first sweep (opens findings)", lambda: run_job("sweep", trigger="bench").summary["opened"])
    phase("launched campaign", _campaign, size, users, now)
    phase("pending approval requests", _pending_requests, size, users)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    built = {
        "at": timezone.now().isoformat(timespec="seconds"),
        "identities": Identity.objects.count(),
        "grants": Grant.objects.count(),
        "credentials": Credential.objects.count(),
        "big_identity": big_pk,
        "seconds": timings,
    }
    from django.apps import apps

    built["audit_events"] = apps.get_model("governance", "AuditEvent").objects.count()
    built["usage_events"] = apps.get_model("inventory", "UsageEvent").objects.count()
    pending = apps.get_model("approvals", "ApprovalRequest").objects.filter(state="pending")
    built["pending_requests"] = pending.count()
    built["campaign_items"] = apps.get_model("governance", "ReviewItem").objects.count()
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_estate (version int, spec text, built text)")
        cursor.execute(
            "INSERT INTO bench_estate VALUES (%s, %s, %s)",
            [ESTATE_VERSION, json.dumps(asdict(size)), json.dumps(built)],
        )
    _say(f"built: {built}")
    return built
