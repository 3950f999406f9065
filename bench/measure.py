"""The measurements: pages and API lists in-process, raw-SQL floors, ingestion, jobs, gunicorn + wrk."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path

from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.processes import stop_process

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable

# Targets from issue 13 (2 cores, PostgreSQL on the same machine, 100,000 identities).
LIST_FILTERS = "kind=ai_agent&status=active&risk_tier=high&search=codex"
# Terms of at least three characters that each match 8-9 % of the full estate's identities.
SEARCH_TERMS = ("codex", "cursor", "gemini")
API_LIST = "/api/v1/identities/?page_size=50"
MAX_QUERIES = 15


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def summary(samples: list[float]) -> dict:
    return {"n": len(samples), "p50_ms": ms(statistics.median(samples)), "p95_ms": ms(p95(samples))}


# ----------------------------------------------------------------------------------------- set-up


def prepare(estate: dict) -> dict:
    """Users, tokens and a signed-in session for this run."""
    from governance.actors import system
    from governance.people.models import User
    from inventory.tokens import issue_token

    iam = User.objects.get(username="iam")
    run = time.strftime("%Y%m%d-%H%M%S")  # token names are identity names: unique per run
    read_token = issue_token(system("bench"), iam, scope="read", days=1, name=f"bench read {run}")[1]
    write_token = issue_token(system("bench"), iam, scope="write", days=1, name=f"bench write {run}")[1]
    client = Client()
    client.force_login(iam)
    # One client each, reused: a new Client() builds a new handler (loads all middleware) per request.
    token_client = Client(HTTP_AUTHORIZATION=f"Bearer {read_token}")
    return {
        "token_client": token_client,
        "iam": iam,
        "read_token": read_token,
        "write_token": write_token,
        "client": client,
        "session": client.cookies["sessionid"].value,
        "big_identity": estate["big_identity"],
        # An ordinary identity for the detail endpoint: the one in the middle of the estate.
        "detail_identity": _middle_identity(),
    }


def _middle_identity() -> int:
    from inventory.models import Identity

    ids = Identity.objects.order_by("pk").values_list("pk", flat=True)
    return ids[ids.count() // 2]


def endpoints(ctx: dict) -> list[dict]:
    """name, path, how it authenticates, and its targets (p50/p95 in ms)."""
    api = {"auth": "token"}
    page = {"auth": "session"}
    return [
        {"name": "identities API, page of 50", "path": "/api/v1/identities/?page_size=50", **api,
         "p50": 10, "p95": 40, "floor": "api", "rows": 50, "rps8": 200},
        # Issue 23: search over 1-10 % of the estate, alone and with filters; the detail; cursor mode.
        *({"name": f"identities API, search={term}", "path": f"{API_LIST}&search={term}", **api,
           "p95": 40, "rps8": 60} for term in SEARCH_TERMS),
        {"name": "identities API, 3 filters + search", "path": f"{API_LIST}&{LIST_FILTERS}", **api,
         "p95": 40, "rps8": 60},
        {"name": "identities API, cursor mode, page of 50", "path": f"{API_LIST}&cursor=", **api,
         "p95": 40, "rps8": 200},
        {"name": "identity detail (API)", "path": f"/api/v1/identities/{ctx['detail_identity']}/", **api,
         "p95": 40, "rps8": 250},
        {"name": "identities API, page of 100", "path": "/api/v1/identities/?page_size=100", **api,
         "floor": "api", "rows": 100},
        {"name": "inventory page, 3 filters + search", "path": f"/inventory/?{LIST_FILTERS}", **page,
         "p95": 60, "floor": "html", "rows": 50},
        {"name": "inventory page, unfiltered", "path": "/inventory/", **page, "p95": 60, "floor": "html0",
         "rows": 50},
        {"name": "audit list, unfiltered", "path": "/audit/", **page, "p95": 100},
        {"name": "audit list, verb + actor", "path": "/audit/?verb=identity.updated&actor=iam", **page,
         "p95": 100},
        {"name": "approval inbox", "path": "/approvals/", **page, "p95": 150},
        {"name": "dashboard", "path": "/", **page, "p95": 150},
        {"name": "identity page (200 grants, 2,000 events)", "path": f"/inventory/{ctx['big_identity']}/",
         **page, "p95": 150},
        # The dashboard's page is a shell; each card loads on its own (htmx), so each is measured.
        *({"name": f"dashboard card: {card}", "path": f"/dashboard/card/{card}/", **page, "p95": 150,
           "htmx": True, "http": False} for card in DASHBOARD_CARDS),
    ]  # fmt: skip


DASHBOARD_CARDS = (
    "mine", "my-work", "queue", "identities", "ownership", "credentials", "stale", "findings", "ai",
    "revocation", "trends",
)  # fmt: skip


def _get(ctx: dict, spec: dict):
    if spec["auth"] == "token":
        return ctx["token_client"].get(spec["path"])
    if spec.get("htmx"):
        return ctx["client"].get(spec["path"], HTTP_HX_REQUEST="true")
    return ctx["client"].get(spec["path"])


def _caller(ctx: dict, path: str):
    """One warm request of `path` (session or, under /api/, token), or one decision question."""
    if path == "decision":
        body = _decision_bodies(10)[0]
        return lambda: ctx["token_client"].post(DECISIONS_PATH, body, content_type="application/json")
    spec = {"auth": "token" if path.startswith("/api/") else "session", "path": path}
    return lambda: _get(ctx, spec)


def depth_sweep(ctx: dict, path: str, requests: int = 15) -> None:
    """The same request called from 0 to 39 extra Python frames deep. CPython 3.11 keeps frames in
    16 KiB chunks and frees a chunk as soon as the stack drops below it (python/cpython#142183, fixed
    in 3.13/3.14): a loop that calls across a chunk boundary maps and unmaps memory on every call.
    Where a page's row loop falls depends on how deep the page is called, so an in-process figure can
    move by half with no change to the code. A real change moves every depth; that effect moves some."""
    call = _caller(ctx, path)

    def nested(depth: int):
        return call() if depth == 0 else nested(depth - 1)

    for _ in range(3):
        call()
    rows = []
    for depth in range(0, 40, 3):
        samples = []
        for _ in range(requests):
            started = time.perf_counter()
            nested(depth)
            samples.append(time.perf_counter() - started)
        rows.append((depth, summary(samples)["p50_ms"]))
        print(f"{path} at {depth:2d} extra frames: p50 {rows[-1][1]} ms", flush=True)
    figures = sorted(p50 for _, p50 in rows)
    middle = round(statistics.median(figures), 2)
    print(f"{path}: p50 from {figures[0]} to {figures[-1]} ms over the depths, median {middle}")


def profile(ctx: dict, path: str, requests: int = 20) -> None:
    """Where a request's time goes: pyinstrument over `requests` warm requests of `path` (session or,
    under /api/, token), or of one decision question (`decision`). Prints the call tree."""
    from pyinstrument import Profiler

    call = _caller(ctx, path)
    for _ in range(3):
        response = call()
    print(f"{path}: {response.status_code}", flush=True)
    profiler = Profiler(interval=0.0005)
    profiler.start()
    for _ in range(requests):
        call()
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


# ------------------------------------------------------------------------------------- raw floor

FLOOR_SELECT = (
    "SELECT i.*, o.username, b.username, t.slug FROM inventory_identity i "
    "LEFT JOIN governance_user o ON o.id = i.owner_id "
    "LEFT JOIN governance_user b ON b.id = i.backup_owner_id "
    "LEFT JOIN governance_team t ON t.id = i.team_id "
)
SEARCH_SQL = " OR ".join(
    f"i.{f} ILIKE %s" for f in ("name", "vendor", "product", "model_name", "purpose", "external_id")
)
FLOORS = {
    "api": (FLOOR_SELECT + "ORDER BY i.name, i.id LIMIT %s", []),
    "html0": (FLOOR_SELECT + "ORDER BY i.name, i.id LIMIT %s", []),
    "html": (
        FLOOR_SELECT + "WHERE i.kind = %s AND i.status = %s AND i.risk_tier = %s AND (" + SEARCH_SQL + ") "
        "ORDER BY i.name, i.id LIMIT %s",
        ["ai_agent", "active", "high", *["%codex%"] * 6],
    ),
}


def _count_sql(sql: str) -> str:
    """The floor's own COUNT(*): the same WHERE, no joins, order or limit (what the paginator asks)."""
    where = sql.split(" WHERE ", 1)[1].split(" ORDER BY ")[0] if " WHERE " in sql else ""
    return "SELECT COUNT(*) FROM inventory_identity i" + (f" WHERE {where}" if where else "")


def floor(kind: str, rows: int, reps: int) -> dict:
    """The same rows with one hand-written query: the database's share of the request. Also the
    rows plus the exact COUNT(*) the contract's `count` needs (`with_count_p50_ms`), which at
    100,000 identities is most of the database's work."""
    sql, params = FLOORS[kind]
    count_sql = _count_sql(sql)
    count_params = params[: count_sql.count("%s")]
    samples, with_count = [], []
    with connection.cursor() as cursor:
        for n in range(reps + 3):
            started = time.perf_counter()
            cursor.execute(sql, [*params, rows])
            cursor.fetchall()
            middle = time.perf_counter()
            cursor.execute(count_sql, count_params)
            cursor.fetchall()
            if n >= 3:
                samples.append(middle - started)
                with_count.append(time.perf_counter() - started)
    return {**summary(samples), "with_count_p50_ms": ms(statistics.median(with_count))}


# ------------------------------------------------------------------------------------------ pages


def pages(ctx: dict, reps: int) -> list[dict]:
    print(f"\n-- pages and lists, in-process (Django test client), {reps} requests each", flush=True)
    results = []
    for spec in endpoints(ctx):
        for _ in range(3):  # warm-up: connection, template loading, plan caches
            response = _get(ctx, spec)
        assert response.status_code == 200, (spec["path"], response.status_code)
        with CaptureQueriesContext(connection) as captured:
            _get(ctx, spec)
        # Read now: the next request's request_started signal empties the connection's query log.
        queries = list(captured.captured_queries)
        samples = []
        for _ in range(reps):
            started = time.perf_counter()
            _get(ctx, spec)
            samples.append(time.perf_counter() - started)
        row = {
            "name": spec["name"],
            "via": "test client",
            **summary(samples),
            "queries": len(queries),
            "targets": {k: spec[k] for k in ("p50", "p95") if k in spec},
        }
        if "floor" in spec:
            row["floor"] = floor(spec["floor"], spec["rows"], reps)
            row["floor_ratio"] = round(row["p50_ms"] / max(row["floor"]["p50_ms"], 0.01), 1)
            row["floor_with_count_ratio"] = round(
                row["p50_ms"] / max(row["floor"]["with_count_p50_ms"], 0.01), 1
            )
            if spec["floor"] == "api" and spec["rows"] == 50:
                row["targets"]["floor_ratio"] = 4
        row["slowest_queries"] = sorted(
            ({"ms": float(q["time"]) * 1000, "sql": q["sql"][:300]} for q in queries),
            key=lambda q: -q["ms"],
        )[:3]
        results.append(row)
        print(_line(row), flush=True)
    return results


def after_writes(ctx: dict, reps: int) -> list[dict]:
    """The identities API again right after ingestion, before any vacuum: what a busy estate sees
    between autovacuum runs (the exact COUNT(*) reads the heap where the visibility map was cleared)."""
    spec = next(e for e in endpoints(ctx) if e["name"] == "identities API, page of 50")
    for _ in range(3):
        _get(ctx, spec)
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        _get(ctx, spec)
        samples.append(time.perf_counter() - started)
    row = {"name": "identities API, page of 50, after ingestion", "via": "test client", **summary(samples)}
    print(_line(row), flush=True)
    return [row]


# -------------------------------------------------------------------------------------- ingestion


def _usage_batches(batches: int, size: int = 1000) -> list[list[dict]]:
    rng = random.Random(7)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT g.identity_id, g.resource_kind, g.resource_name, g.actions->>0 FROM inventory_grant g "
            "JOIN inventory_identity i ON i.id = g.identity_id "
            "WHERE g.ended_at IS NULL AND i.status = 'active' ORDER BY random() LIMIT 20000"
        )
        grants = cursor.fetchall()
    now = timezone.now()
    return [
        [
            {
                "identity": identity_id,
                "at": (now - timedelta(seconds=rng.randrange(3600))).isoformat(),
                "action": action,
                "resource": {"kind": kind, "name": name},
                "environment": "prod",
            }
            for identity_id, kind, name, action in (rng.choice(grants) for _ in range(size))
        ]
        for _ in range(batches)
    ]


def ingestion(ctx: dict, batches: int) -> list[dict]:
    print(f"\n-- usage ingestion through the batch API, {batches} batches of 1,000", flush=True)
    payloads = [json.dumps(b) for b in _usage_batches(batches + 1)]
    client = Client()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {ctx['write_token']}"}
    response = client.post("/api/v1/usage-events/", payloads[0], content_type="application/json", **auth)
    assert response.status_code == 201, response.content[:500]
    with CaptureQueriesContext(connection) as captured:
        client.post("/api/v1/usage-events/", payloads[1], content_type="application/json", **auth)
    queries = len(captured.captured_queries)
    samples = []
    for body in payloads[1:]:
        started = time.perf_counter()
        response = client.post("/api/v1/usage-events/", body, content_type="application/json", **auth)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 201, response.content[:500]
    row = {
        "name": "usage ingestion (batches of 1,000)",
        "via": "test client",
        **summary(samples),
        "queries": queries,
        "events_per_s": round(1000 * len(samples) / sum(samples)),
        "targets": {"events_per_s": 8000},
    }
    print(_line(row), flush=True)
    ctx["usage_payloads"] = payloads
    return [row]


# ------------------------------------------------------------------------------------ decisions

DECISIONS_PATH = "/api/v1/decisions/"
DECISION_TARGETS = {"p95": 10}  # issue 23 (was 15)
DECISIONS_PER_S = 1000  # issue 23, one question a request, 8 clients (was 500)


def _decision_bodies(count: int = 1000) -> list[str]:
    """Questions spread over `count` identities, as a gateway would ask them: seven in ten inside a
    current grant (mostly allow), two out of scope (deny), one a prod merge (step_up without JIT)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT ON (g.identity_id) g.identity_id, g.resource_kind, g.resource_name, "
            "g.actions->>0, i.environments->>0 FROM inventory_grant g "
            "JOIN inventory_identity i ON i.id = g.identity_id "
            "WHERE g.ended_at IS NULL AND i.status = 'active' AND jsonb_array_length(g.actions) > 0 "
            "AND jsonb_array_length(i.environments) > 0 ORDER BY g.identity_id, g.id"
        )
        rows = cursor.fetchall()
    rng = random.Random(11)
    rows = rng.sample(rows, min(count, len(rows)))
    bodies = []
    for n, (identity_id, kind, name, action, environment) in enumerate(rows):
        question = {
            "identity": identity_id,
            "action": action,
            "resource": {"kind": kind, "name": name.replace("*", "bench")},
            "environment": environment,
            "task_ref": f"bench-{n}",
        }
        if n % 10 in (7, 8):
            question.update(action="write_secrets", resource={"kind": "secret_store", "name": "bench/none"})
        elif n % 10 == 9:
            question.update(action="merge", resource={"kind": "repository", "name": "bench/main"},
                            environment="prod")  # fmt: skip
        bodies.append(json.dumps(question))
    return bodies


def capacity_inputs(ctx: dict, questions: int = 2000) -> dict:
    """What one decision costs the shared parts, for bench/README.md's capacity model: rows and bytes
    written to PostgreSQL (tables and their indexes), SQL statements, Redis commands and round trips,
    and the web process's CPU, over `questions` single questions asked in-process in the gateway's
    mix (one identity a question, the once-a-minute marks already set as in a steady state)."""
    from django.core.cache import caches

    from governance.decisions.models import DecisionRecord
    from governance.models import AuditEvent
    from inventory.models import UsageEvent

    bodies = ctx.get("decision_bodies") or _decision_bodies()
    client = ctx["token_client"]
    for body in bodies:  # steady state: facts cached, marks set
        client.post(DECISIONS_PATH, body, content_type="application/json")
    tables = [m._meta.db_table for m in (DecisionRecord, UsageEvent, AuditEvent)]

    def sizes() -> dict:
        with connection.cursor() as cursor:
            return {
                t: (
                    _one(cursor, f"SELECT count(*) FROM {t}"),
                    _one(cursor, "SELECT pg_total_relation_size(%s)", [t]),
                )
                for t in tables
            }

    backend = caches["default"]
    redis = backend._cache.get_client(write=True) if hasattr(backend, "_cache") else None

    def redis_calls() -> int:
        if redis is None:
            return 0
        stats = redis.info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k not in ("cmdstat_info",))

    before, calls_before = sizes(), redis_calls()
    cpu_before, statements = time.process_time(), 0
    with CaptureQueriesContext(connection) as captured:
        for n in range(questions):
            client.post(DECISIONS_PATH, bodies[n % len(bodies)], content_type="application/json")
        statements = len(captured.captured_queries)
    cpu = time.process_time() - cpu_before
    after, calls_after = sizes(), redis_calls()
    rows = {t: after[t][0] - before[t][0] for t in tables}
    grown = {t: after[t][1] - before[t][1] for t in tables}
    written = rows[DecisionRecord._meta.db_table] + rows[UsageEvent._meta.db_table]
    found = {
        "questions": questions,
        "rows_per_decision": {t: round(rows[t] / questions, 3) for t in tables},
        "bytes_per_decision": round(sum(grown.values()) / questions),
        "bytes_per_row_written": round(sum(grown.values()) / written) if written else None,
        "sql_statements_per_decision": round(statements / questions, 2),
        "redis_commands_per_decision": round((calls_after - calls_before) / questions, 2) if redis else None,
        "cpu_ms_per_decision_in_process": round(cpu * 1000 / questions, 2),
    }
    print(f"\n-- capacity inputs over {questions:,} questions: {json.dumps(found)}", flush=True)
    return found


def _one(cursor, sql: str, params=None):
    cursor.execute(sql, params or [])
    return cursor.fetchone()[0]


def decisions(ctx: dict, reps: int) -> list[dict]:
    """The request-time decision endpoint (issue 12): one question and a batch of 100, cached facts."""
    from governance.decisions import services

    bodies = _decision_bodies()
    ctx["decision_bodies"] = bodies
    singles = bodies[:200]
    batch = "[" + ",".join(bodies[200:300]) + "]"
    client = ctx["token_client"]

    def post(body: str):
        return client.post(DECISIONS_PATH, body, content_type="application/json")

    print(f"\n-- decisions, in-process, {len(bodies):,} questions prepared", flush=True)
    for body in singles:  # fill the caches (facts, compiled policy, the once-a-minute usage marks)
        response = post(body)
        assert response.status_code == 200, response.content[:500]
    post(batch)
    with CaptureQueriesContext(connection) as captured:
        post(singles[0])
    request_queries = len(captured.captured_queries)
    ask = services.parse(json.loads(singles[1]))[0]
    ctx["iam"].roles  # noqa: B018 - in a request, authentication has read them already
    with CaptureQueriesContext(connection) as captured:
        services.decide(ctx["iam"], ask, record=False)
    decide_queries = len(captured.captured_queries)
    samples = []
    for n in range(reps * 10):
        started = time.perf_counter()
        post(singles[n % len(singles)])
        samples.append(time.perf_counter() - started)
    one = {
        "name": "decision, one question (cached facts)",
        "via": "test client",
        **summary(samples),
        "queries": request_queries,
        "decide_queries": decide_queries,
        "decisions_per_s": round(len(samples) / sum(samples)),
        "targets": {**DECISION_TARGETS, "decide_queries": 1},
    }
    with CaptureQueriesContext(connection) as captured:
        post(batch)
    batch_queries = len(captured.captured_queries)
    samples = []
    for _ in range(reps):
        started = time.perf_counter()
        post(batch)
        samples.append(time.perf_counter() - started)
    many = {
        "name": "decisions, batch of 100 (cached facts)",
        "via": "test client",
        **summary(samples),
        "queries": batch_queries,
        "decisions_per_s": round(100 * len(samples) / sum(samples)),
        "targets": {"decisions_per_s": DECISIONS_PER_S},
    }
    for row in (one, many):
        print(_line(row), flush=True)
    return [one, many]


# ------------------------------------------------------------------------------------------- jobs


def run_job(name: str) -> None:
    """Inside a child process: run one job, print a JSON line (the parent reads peak memory)."""
    from governance.models import User

    out: dict = {}
    now = timezone.now()
    if name == "sweep":
        from governance.jobs.runner import run_job as run_registered

        # Through the job runner, as beat runs it: the run is recorded (JobRun), so the evidence pack
        # after it does not sweep first. Run directly, the first pack on a new estate swept as well
        # ("a fresh install sweeps before its first pack"): +35 s and the sweep's 690 MiB peak.
        # Twice: the run starts with an emptied cache, where the hourly sweep of a live install finds
        # the verdicts of the hour before (governance.threats.profiles.sweep_verdicts). The second is
        # the steady state the target is for; the first is reported beside it.
        started = time.monotonic()
        run_registered("sweep", trigger="bench")
        cold = time.monotonic() - started
        with CaptureQueriesContext(connection) as captured:
            started = time.monotonic()
            result = run_registered("sweep", trigger="bench").summary
            out["seconds"] = time.monotonic() - started
        out["queries"] = len(captured.captured_queries)
        out["detail"] = {k: result.get(k) for k in ("opened", "resolved", "unresolved")}
        out["detail"]["after_emptied_cache_seconds"] = round(cold, 2)
    elif name == "launch":
        from governance.reviews.services import close_campaign, launch_campaign
        from inventory.models import Identity

        iam = User.objects.get(username="iam")
        with CaptureQueriesContext(connection) as captured:
            started = time.monotonic()
            campaign = launch_campaign(
                iam, "bench launch", {"risk_tiers": ["high"]}, now + timedelta(days=30)
            )
            out["seconds"] = time.monotonic() - started
        out["queries"] = len(captured.captured_queries)
        started = time.monotonic()
        close_campaign(iam, campaign)  # leaves the estate as it was for the next run
        out["detail"] = {
            "items": campaign.population_count,
            "high_tier_identities": Identity.objects.filter(risk_tier="high").count(),
            "close_seconds": round(time.monotonic() - started, 1),
        }
        _forget_bench_campaigns()
    elif name == "evidence":
        from governance.evidence.builder import build_pack
        from governance.evidence.models import EvidenceExport
        from governance.evidence.services import default_period

        auditor = User.objects.get(username="auditor")
        start, end = default_period()
        export = EvidenceExport.objects.create(requested_by=auditor, period_start=start, period_end=end)
        with CaptureQueriesContext(connection) as captured:
            started = time.monotonic()
            export = build_pack(export.pk)
            out["seconds"] = time.monotonic() - started
        out["queries"] = len(captured.captured_queries)
        out["detail"] = {"state": export.state, "zip_mib": round((export.size or 0) / 2**20, 1)}
        if export.state != "ready":
            out["detail"]["error"] = export.error
        try:  # the pack itself is not needed; do not let runs fill the disk
            export.file.delete(save=False)
        except Exception:  # noqa: BLE001
            pass
    else:
        raise SystemExit(f"unknown job {name}")
    out["peak_mib"] = _own_peak_mib()
    print("BENCH-JOB " + json.dumps(out, default=str), flush=True)


def _own_peak_mib() -> float | None:
    """This process's own peak RSS since exec (Linux's VmHWM), or None elsewhere.

    Not `wait4`'s `ru_maxrss` in the parent: a child started by fork/vfork and exec inherits the
    parent's high-water mark at exec, so after the in-process reads (the parent holds 600 MiB and
    more on the full estate) every job would report at least the parent's size."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def _forget_bench_campaigns() -> None:
    """Delete the closed campaigns this job launched (benchmark data only), so that runs do not grow
    the review tables and later figures stay comparable."""
    from governance.reviews.models import ReviewCampaign, ReviewItem

    done = ReviewCampaign.objects.filter(name="bench launch", closed_at__isnull=False)
    ReviewItem.objects.filter(campaign__in=done).delete()
    done.delete()


JOBS = [
    ("governance sweep (steady state)", "sweep", {"seconds": 20}),
    ("campaign launch, all high-tier", "launch", {"seconds": 30}),
    ("evidence pack, 90 days", "evidence", {"seconds": 120, "peak_mib": 300}),
]


def jobs(size: str, env: dict) -> list[dict]:
    print("\n-- jobs, each in its own process (wall time, SQL queries, the process's peak RSS)", flush=True)
    results = []
    for label, job, targets in JOBS:
        process = subprocess.Popen(
            [PY, str(ROOT / "bench" / "run.py"), "--size", size, "--job", job],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            text=True,
        )
        output = process.stdout.read()
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        line = next((x for x in output.splitlines() if x.startswith("BENCH-JOB ")), None)
        if line is None:
            row = {"name": label, "via": "process", "error": f"exit {process.returncode}: {output[-500:]}"}
        else:
            found = json.loads(line.removeprefix("BENCH-JOB "))
            row = {
                "name": label,
                "via": "process",
                "seconds": round(found["seconds"], 2),
                "queries": found["queries"],
                # The job's own peak; wait4's ru_maxrss includes this (parent) process's size.
                "peak_mib": found.get("peak_mib") or round(usage.ru_maxrss / 1024, 1),
                "ru_maxrss_mib": round(usage.ru_maxrss / 1024, 1),
                "detail": found["detail"],
                "targets": targets,
            }
        results.append(row)
        print(_line(row), flush=True)
    return results


# ------------------------------------------------------------------------------ gunicorn + wrk

WRK_LUA = ROOT / "bench" / "wrk_report.lua"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wrk(url: str, headers: dict, clients: int, seconds: int, bodies: Path | None = None) -> dict:
    """GET `url`; with `bodies` (a file, one JSON body a line) POST them in turn."""
    command = [
        "wrk", f"-t{min(clients, 2)}", f"-c{clients}", f"-d{seconds}s", "--timeout", "10s",
        "-s", str(WRK_LUA), *[a for k, v in headers.items() for a in ("-H", f"{k}: {v}")], url,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_WRK_BODIES": str(bodies or "")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, env=env)
    line = next((x for x in done.stdout.splitlines() if x.startswith("BENCH-WRK ")), None)
    if line is None:
        return {"error": done.stdout[-300:] + done.stderr[-300:]}
    raw = json.loads(line.removeprefix("BENCH-WRK "))
    return {
        "requests": raw["requests"],
        "rps": round(raw["requests"] / (raw["duration_us"] / 1e6), 1),
        "p50_ms": round(raw["p50_us"] / 1000, 2),
        "p95_ms": round(raw["p95_us"] / 1000, 2),
        "p99_ms": round(raw["p99_us"] / 1000, 2),
        "errors": raw["errors"],
        "status_errors": raw.get("status_errors", 0),
    }


def _timed(request: urllib.request.Request, timeout: int, samples: list[float], errors: list[int]) -> None:
    """Send one request; add its time to `samples` and count a failure in `errors[0]`."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            r.read()
    except (urllib.error.URLError, OSError):
        errors[0] += 1
    samples.append(time.perf_counter() - started)


def _in_threads(worker, clients: int) -> float:
    """Run `worker` in `clients` threads; the seconds until all are done."""
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - began


def _python_load(url: str, headers: dict, clients: int, seconds: int, bodies: Path | None = None) -> dict:
    """Fallback when wrk is missing: a bounded loop of urllib requests from `clients` threads."""
    samples: list[float] = []
    errors = [0]
    stop = time.monotonic() + seconds
    posts = [b.encode() for b in bodies.read_text().splitlines() if b] if bodies else []
    if posts:
        headers = {**headers, "Content-Type": "application/json"}

    def worker():
        while time.monotonic() < stop and len(samples) < 100_000:
            data = posts[len(samples) % len(posts)] if posts else None
            _timed(urllib.request.Request(url, data=data, headers=headers), 10, samples, errors)

    took = _in_threads(worker, clients)
    return {
        "requests": len(samples),
        "rps": round(len(samples) / took, 1),
        **{k: v for k, v in summary(samples).items() if k != "n"},
        "errors": errors[0],
    }


def _post_load(base: str, token: str, payloads: list[str], clients: int) -> dict:
    """Ingestion over HTTP: every payload once, from `clients` threads."""
    queue = list(payloads)
    lock = threading.Lock()
    samples: list[float] = []
    errors = [0]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def worker():
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            url = base + "/api/v1/usage-events/"
            _timed(urllib.request.Request(url, data=body.encode(), headers=headers), 60, samples, errors)

    took = _in_threads(worker, clients)
    accepted = len(samples) - errors[0]
    return {**summary(samples), "events_per_s": round(1000 * accepted / took), "errors": errors[0]}


def http(ctx: dict, env: dict, seconds: int, skip: set[str] = frozenset()) -> list[dict]:
    """Through gunicorn: the pages (unless `pages` is skipped), then the decision endpoint and the
    ingestion payloads prepared by the in-process parts that ran."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    load = _wrk if shutil.which("wrk") else _python_load
    tool = "wrk" if load is _wrk else "python loop"
    # As production runs it (config/gunicorn.py: a threaded worker per core); BENCH_GUNICORN adds
    # arguments (e.g. "--worker-class sync" for the previous figures), BENCH_PGBOUNCER=1 puts
    # PgBouncer (transaction pooling) between the web processes and PostgreSQL.
    extra = os.environ.get("BENCH_GUNICORN", "").split()
    bouncer, env = _pgbouncer(env) if os.environ.get("BENCH_PGBOUNCER") == "1" else (None, env)
    print(
        f"\n-- through gunicorn (config/gunicorn.py {' '.join(extra)}) on {base}"
        f"{' via PgBouncer' if bouncer else ''}, {tool}, {seconds}s per run",
        flush=True,
    )
    results, server = [], None
    try:
        server = _gunicorn(port, env, extra)
        for spec in [] if "pages" in skip else [e for e in endpoints(ctx) if e.get("http", True)]:
            headers = (
                {"Authorization": f"Bearer {ctx['read_token']}"}
                if spec["auth"] == "token"
                else {"Cookie": f"sessionid={ctx['session']}"}
            )
            loaded = spec.get("rps8") or spec["name"].startswith("inventory page, 3")
            runs = [1, 8] if loaded else [1]
            for clients in runs:
                load(base + spec["path"], headers, clients, 1)  # warm both workers
                found = load(base + spec["path"], headers, clients, seconds)
                row = {"name": spec["name"], "via": f"gunicorn, {tool}, {clients} client(s)", **found}
                if clients == 1:
                    row["targets"] = {k: spec[k] for k in ("p50", "p95") if k in spec}
                elif spec.get("rps8"):
                    row["targets"] = {"rps": spec["rps8"]}
                results.append(row)
                print(_line(row), flush=True)
        if "decisions" not in skip:
            results += _http_decisions(ctx, base, load, tool, seconds, server.pid)
        payloads = None if "ingest" in skip else ctx.get("usage_payloads")
        if payloads:
            found = _post_load(base, ctx["write_token"], payloads, clients=2)
            row = {"name": "usage ingestion (batches of 1,000)", "via": "gunicorn, 2 clients", **found}
            row["targets"] = {"events_per_s": 5000}
            results.append(row)
            print(_line(row), flush=True)
    finally:
        if server is not None:
            stop_process(server, timeout=30)
        if bouncer is not None:
            stop_process(bouncer, timeout=30)
    return results


FLOOR_PATHS = (
    ("floor: Django, empty view", "/bench-floor/empty/"),
    ("floor: Django, one Redis counter + one INSERT", "/bench-floor/write/"),
    ("decision, one question (cached facts)", DECISIONS_PATH),
)


def decision_floor(ctx: dict, env: dict, seconds: int, rounds: int = 3) -> list[dict]:
    """The decision endpoint beside its floor (bench/floor.py), 8 clients, through gunicorn: each path
    in turn, `rounds` times, with the CPU each part spent a request."""
    from bench.floor import create_table

    if not shutil.which("wrk"):
        raise SystemExit("bench/run.py --floor needs wrk (apt-get install wrk)")
    create_table()
    bodies = _scratch_dir() / "decision-bodies.jsonl"
    bodies.write_text("\n".join(_decision_bodies()) + "\n")
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    extra = os.environ.get("BENCH_GUNICORN", "").split()  # as for `http`
    print(
        f"\n-- the decision endpoint and its floor (bench/floor.py), gunicorn (config/gunicorn.py "
        f"{' '.join(extra)}), wrk, 8 clients, {seconds}s a run",
        flush=True,
    )
    server = _gunicorn(port, {**env, "DJANGO_SETTINGS_MODULE": "bench.floor_settings"}, extra)
    headers = {"Authorization": f"Bearer {ctx['read_token']}"}
    results = []
    try:
        for _label, path in FLOOR_PATHS:
            _wrk(base + path, headers, 8, 2, bodies)  # warm every worker (and the decisions' caches)
        for turn in range(1, rounds + 1):
            for label, path in FLOOR_PATHS:
                before = _cpu_seconds(server.pid)
                found = _wrk(base + path, headers, 8, seconds, bodies)
                spent = {k: v - before.get(k, 0.0) for k, v in _cpu_seconds(server.pid).items()}
                row = {"name": label, "via": f"gunicorn, wrk, 8 clients, turn {turn}", **found}
                if found.get("requests"):
                    row["cpu_ms_per_request"] = {
                        k: round(v * 1000 / found["requests"], 3) for k, v in sorted(spent.items())
                    }
                results.append(row)
                print(_line(row), row.get("cpu_ms_per_request", ""), flush=True)
    finally:
        stop_process(server, timeout=30)
    return results


def _gunicorn(port: int, env: dict, extra: list[str]) -> subprocess.Popen:
    """gunicorn as production runs it (config/gunicorn.py, `extra` added), once it answers."""
    server = subprocess.Popen(
        [str(Path(PY).with_name("gunicorn")), "-c", "config/gunicorn.py", *extra, "config.wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "--timeout", "120"],
        cwd=ROOT, env={**os.environ, **env},
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).read()
            return server
        except urllib.error.HTTPError:
            return server  # it answers
        except (urllib.error.URLError, OSError):
            if time.monotonic() > deadline or server.poll() is not None:
                stop_process(server, timeout=30)
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.5)


def _pgbouncer(env: dict) -> tuple[subprocess.Popen, dict]:
    """Debian's PgBouncer on a free port, transaction pooling, in front of the bench database; the
    environment for gunicorn pointed at it (STEWARD_PGBOUNCER=1: no prepared statements, no
    server-side cursors). PgBouncer refuses to run as root, so it runs as `postgres` then."""
    from urllib.parse import urlsplit, urlunsplit

    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        raise SystemExit("BENCH_PGBOUNCER=1 needs PgBouncer: apt-get install pgbouncer")
    url = urlsplit(env["DATABASE_URL"])
    port, folder = _free_port(), _scratch_dir() / "pgbouncer"
    folder.mkdir(exist_ok=True)
    os.chmod(folder, 0o777)
    name = url.path.lstrip("/")
    (folder / "pgbouncer.ini").write_text(
        f"[databases]\n{name} = host={url.hostname or '127.0.0.1'} port={url.port or 5432} dbname={name}\n"
        f"[pgbouncer]\nlisten_addr = 127.0.0.1\nlisten_port = {port}\nauth_type = trust\n"
        f"auth_file = {folder / 'users.txt'}\npool_mode = transaction\ndefault_pool_size = 20\n"
        f"max_client_conn = 500\nunix_socket_dir =\nlogfile = {folder / 'pgbouncer.log'}\n"
        f"pidfile = {folder / 'pgbouncer.pid'}\n"
    )
    (folder / "users.txt").write_text(f'"{url.username or "postgres"}" ""\n')
    for child in folder.iterdir():
        os.chmod(child, 0o666)
    command = [binary, str(folder / "pgbouncer.ini")]
    if os.geteuid() == 0:
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command)
    for _ in range(50):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.1)
    bounced = urlunsplit(url._replace(netloc=f"{url.username or 'postgres'}@127.0.0.1:{port}"))
    return process, {**env, "DATABASE_URL": bounced, "STEWARD_PGBOUNCER": "1"}


def _http_decisions(ctx: dict, base: str, load, tool: str, seconds: int, server_pid: int) -> list[dict]:
    """The decision endpoint under load: one question a request (1 and 8 clients), then batches."""
    bodies = ctx.get("decision_bodies")
    if not bodies:
        return []
    var = _scratch_dir()
    singles, batches = var / "decision-bodies.jsonl", var / "decision-batches.jsonl"
    singles.write_text("\n".join(bodies) + "\n")
    batches.write_text(
        "\n".join("[" + ",".join(bodies[i : i + 100]) + "]" for i in range(0, len(bodies), 100)) + "\n"
    )
    headers = {"Authorization": f"Bearer {ctx['read_token']}"}
    url = base + DECISIONS_PATH
    load(url, headers, 8, 2, singles)  # warm both workers' caches over every identity
    results = []
    for label, path, per, clients in (
        ("decision, one question (cached facts)", singles, 1, 1),
        ("decision, one question (cached facts)", singles, 1, 8),
        ("decisions, batch of 100 (cached facts)", batches, 100, 8),
    ):
        before = _cpu_seconds(server_pid)
        found = load(url, headers, clients, seconds, path)
        spent = {k: v - before.get(k, 0.0) for k, v in _cpu_seconds(server_pid).items()}
        row = {"name": label, "via": f"gunicorn, {tool}, {clients} client(s)", **found}
        row["decisions_per_s"] = round(found.get("rps", 0) * per)
        if found.get("requests"):  # CPU each part spent per decision: the capacity model's inputs
            decided = found["requests"] * per
            row["cpu_ms_per_decision"] = {k: round(v * 1000 / decided, 3) for k, v in spent.items()}
        row["targets"] = dict(DECISION_TARGETS) if clients == 1 else {"decisions_per_s": DECISIONS_PER_S}
        results.append(row)
        print(_line(row), flush=True)
    return results


def _cpu_seconds(server_pid: int) -> dict[str, float]:
    """CPU time (user + system) so far of the web workers (gunicorn's children), PostgreSQL's
    processes, Redis and PgBouncer, read from /proc. Linux only; {} elsewhere. (The load generator is
    left out: wrk has exited by the time it would be read.)"""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals: dict[str, float] = {}
    try:
        children = Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    except OSError:
        return totals
    workers = {int(c) for c in children}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(entry.name) == server_pid:
            # Workers gunicorn recycled (max_requests) and reaped: their CPU is the master's cutime,
            # cstime (without it a recycled worker's CPU vanished and the web part could go negative).
            part, seconds = "web", (int(fields[13]) + int(fields[14])) / tick
        elif int(entry.name) in workers:
            part = "web"
        elif comm.startswith("postgres"):
            # The postmaster reaps backends that ended (a recycled worker's connections): their CPU
            # is its cutime, cstime. A backend has no children of its own, so adding these is exact.
            part, seconds = "postgresql", seconds + (int(fields[13]) + int(fields[14])) / tick
        elif comm.startswith("redis"):
            part = "redis"
        elif comm == "pgbouncer":
            part = "pgbouncer"
        else:
            continue
        totals[part] = totals.get(part, 0.0) + seconds
    return totals


def _scratch_dir() -> Path:
    var = ROOT / "bench" / "results" / "var"
    var.mkdir(parents=True, exist_ok=True)
    return var


# ------------------------------------------------------------------------------------- reporting


def auth_indexes() -> dict:
    """Every authentication lookup is by an indexed column (API token hash, session key, user id)."""
    wanted = {
        "governance_apitoken": "token_hash",
        "django_session": "session_key",
        "governance_user": "id",
    }
    found = {}
    with connection.cursor() as cursor:
        for table, column in wanted.items():
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = %s", [table])
            found[f"{table}.{column}"] = any(f"({column})" in r[0] for r in cursor.fetchall())
    return found


def verdict(row: dict) -> str:
    targets = row.get("targets") or {}
    if not targets or "error" in row:
        return "" if "error" not in row else "ERROR"
    ok = True
    for key, limit in targets.items():
        if key == "floor_ratio":
            ok &= row.get("floor_ratio", math.inf) <= limit
        elif key == "decide_queries":
            ok &= row.get(key, math.inf) <= limit
        elif key in ("rps", "events_per_s", "decisions_per_s"):
            ok &= row.get(key, 0) >= limit
        else:
            ok &= row.get(key if key != "p50" and key != "p95" else f"{key}_ms", math.inf) <= limit
    if row.get("errors"):
        ok = False
    if row.get("queries") is not None and row["via"] == "test client" and "events_per_s" not in row:
        ok &= row["queries"] <= MAX_QUERIES
    return "met" if ok else "MISSED"


def _target_text(row: dict) -> str:
    parts = []
    for key, limit in (row.get("targets") or {}).items():
        parts.append(
            {
                "p50": f"p50≤{limit}",
                "p95": f"p95≤{limit}",
                "floor_ratio": f"≤{limit}×floor",
                "rps": f"≥{limit} req/s",
                "events_per_s": f"≥{limit:,} ev/s",
                "decisions_per_s": f"≥{limit:,} decisions/s",
                "decide_queries": f"≤{limit} query to decide",
                "seconds": f"≤{limit}s",
                "peak_mib": f"≤{limit} MiB",
            }[key]  # fmt: skip
        )
    return ", ".join(parts)


def _figure(row: dict) -> str:
    if "error" in row:
        return "ERROR " + row["error"][:200]
    if "seconds" in row:
        figure = f"{row['seconds']:.2f} s, peak {row['peak_mib']:.0f} MiB"
    else:
        figure = f"p50 {row['p50_ms']:.1f} / p95 {row['p95_ms']:.1f} ms"
    if "rps" in row:
        figure += f", {row['rps']:.0f} req/s"
    if "events_per_s" in row:
        figure += f", {row['events_per_s']:,} ev/s"
    if "decisions_per_s" in row:
        figure += f", {row['decisions_per_s']:,} decisions/s"
    if "floor_ratio" in row:
        figure += f", {row['floor_ratio']}x floor ({row['floor']['p50_ms']:.1f} ms)"
        if "with_count_p50_ms" in row["floor"]:
            figure += (
                f", {row['floor_with_count_ratio']}x floor+count ({row['floor']['with_count_p50_ms']:.1f} ms)"
            )
    if row.get("queries") is not None:
        figure += f", {row['queries']} q"
    if row.get("decide_queries") is not None:
        figure += f" ({row['decide_queries']} to decide)"
    if row.get("errors"):
        figure += f", {row['errors']} errors"
    cold = (row.get("detail") or {}).get("after_emptied_cache_seconds")
    if cold is not None:
        figure += f" (right after an emptied cache: {cold:.2f} s)"
    return figure


def _line(row: dict) -> str:
    return f"  {row['name']:<42} {row['via']:<28} {_figure(row)}  {verdict(row)}"


def table(report: dict) -> str:
    m = report["machine"]
    e = report["estate"]
    lines = [
        f"Machine: {m.get('cpu', '?')}, {m['cores']} cores, {m.get('ram_gib', '?')} GiB, "
        f"PostgreSQL {m.get('postgresql', '?')}, Python {m['python']}, load {m['loadavg_at_start']}, "
        f"cache {m.get('cache', '?')}, CPU reference loop {m.get('cpu_reference_s_at_start', '?')} s at the "
        f"start and {m.get('cpu_reference_s_at_end', '?')} s at the end (lower is faster)",
        f"Estate ({report['size']}): {e['identities']:,} identities, {e['grants']:,} grants, "
        f"{e['credentials']:,} credentials, {e['audit_events']:,} audit events, {e['usage_events']:,} usage "
        f"events, {e['campaign_items']:,} review items, {e['pending_requests']:,} pending requests",
        "",
        "| measure | via | figure | target | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in report["results"]:
        cells = [row["name"], row["via"], _figure(row), _target_text(row), verdict(row)]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(f"Authentication lookups indexed: {report.get('auth_indexes')}")
    return "\n".join(lines)
