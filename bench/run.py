"""Steward's benchmark: build a large estate once (cached), then measure it. `make bench` runs this.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/steward_bench make bench            # 100,000
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/steward_bench make bench BENCH=quick  # 10,000

PostgreSQL only. The database is created when missing, and it belongs to the benchmark: the estate
is built into it and the measured jobs (sweep, campaign launch, evidence pack, usage ingestion) write
to it. The quick estate lives in `<name>_quick`, so both stay cached. A database holding identities
the benchmark did not build is refused. Results: a table on stdout and bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
sys.path.insert(0, str(ROOT))

SQLITE_REFUSAL = (
    "make bench runs on PostgreSQL only. SQLite (the default when DATABASE_URL is unset) serialises "
    "writers, runs in-process with no network round trip, has no parallel query and a "
    "different optimiser, so its figures say nothing about a production estate; the targets are "
    "defined for PostgreSQL on the same machine.\n"
    "Set DATABASE_URL to a throwaway PostgreSQL database, e.g.\n"
    "    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/steward_bench make bench BENCH=quick"
)

# Per size: repetitions per in-process endpoint, seconds per wrk run, ingestion batches of 1,000.
PROFILES = {
    "quick": {"reps": 30, "http_seconds": 5, "batches": 10},
    "full": {"reps": 60, "http_seconds": 10, "batches": 20},
}


def database_url(size: str) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url or url.startswith("sqlite"):
        sys.exit(SQLITE_REFUSAL)
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        sys.exit(f"DATABASE_URL must name a PostgreSQL database, not '{parts.scheme}'.\n\n{SQLITE_REFUSAL}")
    if size == "quick" and not parts.path.rstrip("/").endswith("_quick"):
        parts = parts._replace(path=parts.path.rstrip("/") + "_quick")
    return urlunsplit(parts)


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            print(f"creating database {name}", flush=True)
            conn.execute(f'CREATE DATABASE "{name}"')


def bench_environment(url: str) -> dict[str, str]:
    """What the benchmarked processes (this one, jobs, gunicorn) run with."""
    var = RESULTS / "var"
    var.mkdir(parents=True, exist_ok=True)
    return {
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",  # DEBUG keeps every query in memory and renders slower: not what production runs
        "STEWARD_VAR_DIR": str(var),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        # The per-token rate limit (3000/min by default) would turn a load test into 429s. The
        # throttle still runs on every request; only its ceiling is raised.
        "STEWARD_API_RATE": "10000000/min",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "60",
        # As in production (README): one shared cache for every web process (rate limits, decision
        # facts, once-a-minute marks). Per-process memory holds only 300 keys and is not shared.
        **({"STEWARD_CACHE_URL": cache_url()} if cache_url() else {}),
    }


def cache_url() -> str:
    """BENCH_CACHE_URL, or the local Redis (database 14, emptied at the start of a run) when it
    answers; '' when neither (the figures then use per-process memory and say so)."""
    url = os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/14")
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - no Redis here: fall back, reported in the machine section
        return ""
    return url


def cpu_reference() -> float:
    """Seconds this process takes for a fixed pure-Python loop (median of three): the machine's own
    speed at that moment. A shared virtual machine's drifts by a quarter from minute to minute
    (bench/README.md, "Issue 23, fourth pass"); taken at the start and the end of a run, it tells a
    slow phase of the machine from a slower Steward."""

    def loop() -> float:
        started = time.perf_counter()
        total = 0
        for n in range(2_000_000):
            total += n * n
        return time.perf_counter() - started

    return round(statistics.median(loop() for _ in range(3)), 3)


def machine() -> dict:
    info: dict = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
        "cpu_reference_s_at_start": cpu_reference(),
    }
    try:
        cpu = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in cpu.splitlines() if "model name" in line)
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["ram_gib"] = round(int(mem) / 2**20, 1)
    except (OSError, StopIteration):
        pass
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        info["git_dirty"] = bool(
            subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=ROOT,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
    except OSError:
        pass
    return info


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", choices=["quick", "full"], default="full")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the estate even when cached")
    parser.add_argument("--reps", type=int, help="repetitions per in-process endpoint")
    parser.add_argument("--http-seconds", type=int, help="seconds per load-generator run")
    parser.add_argument("--skip", default="", help="comma-separated: pages,decisions,ingest,jobs,http")
    parser.add_argument(
        "--profile",
        metavar="PATH",
        help="profile 20 requests of PATH (e.g. /inventory/, or 'decision') with pyinstrument and stop",
    )
    parser.add_argument(
        "--depth-sweep",
        metavar="PATH",
        help="time PATH (or 'decision') called from 0 to 39 extra Python frames deep and stop: tells "
        "CPython 3.11's stack-chunk effect (bench/README.md) from a real change",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="the decision endpoint beside what Django itself costs (bench/floor.py), three turns, and stop",
    )
    parser.add_argument("--job", help=argparse.SUPPRESS)  # internal: run one measured job in this process
    args = parser.parse_args()
    url = database_url(args.size)
    if not args.job:
        ensure_database(url)
    os.environ.update(bench_environment(url))
    import django

    django.setup()
    from bench import measure

    # Settled as a worker is once loaded (config/wsgi.py, Celery's pool processes): what is loaded
    # is frozen out of the garbage collector's full passes (config/startup.py).
    from config.startup import settle

    if args.job:
        settle()
        measure.run_job(args.job)
        return
    from django.core.management import call_command

    from bench.estate import SIZES, build

    profile = {**PROFILES[args.size]}
    if args.reps:
        profile["reps"] = args.reps
    if args.http_seconds:
        profile["http_seconds"] = args.http_seconds
    skip = {s for s in args.skip.split(",") if s}
    started = time.time()
    report: dict = {"machine": machine(), "size": args.size, "profile": profile}
    report["machine"]["cache"] = os.environ.get("STEWARD_CACHE_URL") or "per-process memory (no Redis)"
    if os.environ.get("STEWARD_CACHE_URL"):
        import redis

        redis.Redis.from_url(os.environ["STEWARD_CACHE_URL"]).flushdb()  # the benchmark's own database
    print(f"Steward benchmark, size {args.size}, database {urlsplit(url).path.lstrip('/')}", flush=True)
    call_command("migrate", verbosity=0)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        report["machine"]["postgresql"] = cursor.fetchone()[0]
    report["estate"] = build(SIZES[args.size], rebuild=args.rebuild)
    # The previous run's jobs and ingestion left dead rows; autovacuum would catch up on a live
    # system, here it is done up front so that runs compare.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    results: list[dict] = []
    context = measure.prepare(report["estate"])
    settle()  # the in-process figures are a settled web worker's (config/wsgi.py)
    if args.profile:
        measure.profile(context, args.profile)
        return
    if args.depth_sweep:
        measure.depth_sweep(context, args.depth_sweep)
        return
    if args.floor:
        report["results"] = measure.decision_floor(context, bench_environment(url), profile["http_seconds"])
        report["machine"]["cpu_reference_s_at_end"] = cpu_reference()
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"floor-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
            json.dumps(report, indent=2, default=str)
        )
        return
    env, seconds = bench_environment(url), profile["http_seconds"]
    # Reads first (in-process, then through gunicorn), on the freshly vacuumed estate; then the
    # writers: ingestion moves last_used_at on ~20,000 identities, which leaves dead rows and clears
    # the visibility map that COUNT(*) reads (bench/README.md shows the difference), then the jobs.
    if "pages" not in skip:
        results += measure.pages(context, profile["reps"])
    if "decisions" not in skip:
        results += measure.decisions(context, profile["reps"])
        report["capacity_inputs"] = measure.capacity_inputs(context)
    if "http" not in skip:
        results += measure.http(context, env, seconds, skip | {"ingest"})
    if "ingest" not in skip:
        results += measure.ingestion(context, profile["batches"])
        results += measure.after_writes(context, profile["reps"])
        if "http" not in skip:
            results += measure.http(context, env, seconds, {"pages", "decisions"})
    if "jobs" not in skip:
        results += measure.jobs(args.size, env)
    report["results"] = results
    report["auth_indexes"] = measure.auth_indexes()
    report["machine"]["loadavg_at_end"] = os.getloadavg()
    report["machine"]["cpu_reference_s_at_end"] = cpu_reference()
    report["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started))
    report["seconds"] = round(time.time() - started, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "latest.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    (RESULTS / f"{args.size}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(out.read_text())
    print()
    print(measure.table(report))
    print(f"\nwritten: {out.relative_to(ROOT)} ({report['seconds']}s)")


if __name__ == "__main__":
    main()
