"""The aws_iam connector at scale: sync N IAM users from moto's server and measure time and memory.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/steward_bench python bench/connectors.py --users 10000

PostgreSQL only (as bench/run.py). The database `<name>_connectors` belongs to this benchmark: it is
dropped and created afresh at every run. moto's IAM server runs as a separate process on loopback
(its memory is not ours); the estate is created there with boto3: N users with one access key each.
Measured, in this process: the first sync (every user new: identities, credentials, audit events)
and a second sync (nothing changed), each with its wall time, its peak resident memory above the
baseline before the sync, and the peak of Python allocations (tracemalloc, with --tracemalloc: slower).
Results: a table on stdout and bench/results/connectors-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.run import RESULTS, SQLITE_REFUSAL, bench_environment, machine  # noqa: E402
from tests.processes import stop_process  # noqa: E402


def database_url(suffix: str = "_connectors", script: str = "python bench/connectors.py") -> str:
    """DATABASE_URL's database with `suffix`: a database of this benchmark's own (PostgreSQL only)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url or url.startswith("sqlite"):
        sys.exit(SQLITE_REFUSAL.replace("make bench BENCH=quick", script))
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + suffix))


def fresh_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class PeakRss:
    """Samples this process's resident memory every 50 ms while a block runs."""

    def __enter__(self):
        self.baseline = rss_kib()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_kib())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_kib())

    @property
    def above_baseline_mib(self) -> float:
        return round((self.peak - self.baseline) / 1024, 1)


def start_moto(port: int) -> subprocess.Popen:
    env = {**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"}
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit("moto_server did not start")


def build_estate(url: str, users: int) -> float:
    """N users with one access key each; a few with policies (AdministratorAccess, an inline one)."""
    from concurrent.futures import ThreadPoolExecutor

    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )

    def one(n: int) -> None:
        name = f"svc-{n:05d}"
        iam.create_user(UserName=name)
        iam.create_access_key(UserName=name)
        if n % 500 == 0:
            iam.attach_user_policy(UserName=name, PolicyArn="arn:aws:iam::aws:policy/AdministratorAccess")

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(users)))
    return time.perf_counter() - started


def measure_sync(connector, trace: bool) -> dict:
    import tracemalloc

    from connectors.services import start_run
    from connectors.sync import execute_run
    from governance.actors import system

    run = start_run(system("bench"), connector, enqueue=False, trigger="command")
    if trace:
        tracemalloc.start()
    with PeakRss() as rss:
        started = time.perf_counter()
        run = execute_run(run.pk)
        seconds = time.perf_counter() - started
    result = {
        "state": run.state,
        "seen": run.seen,
        "discovered": run.discovered,
        "changed": run.changed,
        "vanished": run.vanished,
        "errors": run.errors,
        "seconds": round(seconds, 1),
        "identities_per_second": round(run.seen / seconds, 1) if seconds else None,
        "peak_rss_above_baseline_mib": rss.above_baseline_mib,
        "rss_baseline_mib": round(rss.baseline / 1024, 1),
    }
    if trace:
        result["tracemalloc_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--page-size", type=int, default=100)
    parser.add_argument("--tracemalloc", action="store_true", help="also the peak of Python allocations")
    args = parser.parse_args()
    url = database_url()
    fresh_database(url)
    os.environ.update(bench_environment(url))
    for key in ("AWS_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        os.environ.pop(key, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = start_moto(port)
    moto_url = f"http://127.0.0.1:{port}"
    try:
        import django

        django.setup()
        from django.core.management import call_command

        print(f"connector benchmark: {args.users} users, page size {args.page_size}", flush=True)
        call_command("migrate", verbosity=0)
        from governance.actors import system

        build_seconds = build_estate(moto_url, args.users)
        print(f"  moto estate built in {build_seconds:.0f}s", flush=True)
        from connectors.services import create_connector

        connector = create_connector(
            system("bench"),
            {
                "name": "bench-aws",
                "kind": "aws_iam",
                "config": {"endpoint_url": moto_url, "page_size": args.page_size},
                "schedule": "manual",
            },
        )
        first = measure_sync(connector, args.tracemalloc)
        print(f"  first sync: {first}", flush=True)
        second = measure_sync(connector, args.tracemalloc)
        print(f"  second sync: {second}", flush=True)
    finally:
        stop_process(moto, timeout=30)
    report = {
        "machine": machine(),
        "users": args.users,
        "page_size": args.page_size,
        "estate_build_seconds": round(build_seconds, 1),
        "first_sync": first,
        "second_sync": second,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "connectors-latest.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print("\n| sync | identities | seconds | identities/s | peak RSS above baseline |")
    print("|---|---|---|---|---|")
    for label, row in (("first (all new)", first), ("second (no change)", second)):
        print(
            f"| {label} | {row['seen']} | {row['seconds']} | {row['identities_per_second']} "
            f"| {row['peak_rss_above_baseline_mib']} MiB |"
        )
    print(f"\nwritten: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
