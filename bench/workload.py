"""Workload identity at speed (issue 21): what an exchanged JWT costs a decision, and token exchanges
per second through gunicorn.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/steward_bench python bench/workload.py

PostgreSQL only (as bench/run.py). The database `<name>_workload` belongs to this benchmark: it is
dropped and created afresh at every run. A test issuer (tests/workload/servers.py: RS256, GitHub
Actions token shape) serves its JWKS on loopback; one identity is bound to its `sub`.

- **In-process** (Django test client, DEBUG=0, warm cache): the same decision question asked with a
  static `stw_` token and with an exchanged access token, interleaved, `--decisions` each; p50/p95 of
  each and the difference (target: at most 2 ms more at p95 with the JWT).
- **Through gunicorn** (2 sync workers on 127.0.0.1, `--clients` threads for `--seconds`): token
  exchanges, each with a fresh subject token (its own `jti`: a replay is refused), signed beforehand
  so the client does not compete for the CPU while measuring (target: ≥ 200 exchanges/s on two cores).
Results: a table on stdout and bench/results/workload-latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.connectors import database_url, fresh_database  # noqa: E402
from bench.measure import PY, _free_port, _in_threads, _timed, summary  # noqa: E402
from bench.run import RESULTS, bench_environment, machine  # noqa: E402
from tests.processes import stop_process  # noqa: E402

QUESTION = {
    "action": "read_code",
    "resource": {"kind": "repository", "name": "acme/payments"},
    "environment": "prod",
}


def setup_estate(issuer_server):
    from governance.actors import system
    from governance.people.models import Role
    from inventory.tokens import issue_token
    from tests.factories import GrantFactory, IdentityFactory, TeamFactory, UserFactory
    from workload import services

    team = TeamFactory(slug="payments", name="Payments")
    owner = UserFactory(username="bench-owner", roles=[Role.OWNER], team=team)
    security = UserFactory(username="bench-security", roles=[Role.SECURITY], team=team)
    iam = UserFactory(username="bench-iam", roles=[Role.IAM], team=team)
    identity = IdentityFactory(owner=owner, name="payments-deploy", kind="workload", environments=["prod"])
    GrantFactory(identity=identity, resource_name="acme/payments", actions=["read_code", "open_pr"])
    issuer = services.propose_issuer(
        security,
        {
            "name": "bench issuer",
            "issuer": issuer_server.url,
            "jwks_uri": issuer_server.jwks_uri,
            "audience": "steward",
        },
    )
    services.approve_issuer(iam, issuer.pk)
    services.create_binding(
        system("bench"),
        identity=identity,
        issuer_id=issuer.pk,
        claims={"sub": "repo:acme/payments:environment:prod"},
    )
    _row, static = issue_token(owner, owner, scope="write", name="bench static")
    return identity, static


def exchange_form(issuer_server) -> str:
    """The token exchange a GitHub Actions job posts, with a fresh subject token (its own `jti`)."""
    from workload.exchange import GRANT_TYPE
    from workload.tokens import JWT_TOKEN_TYPE

    subject_token = issuer_server.github(lifetime=3600)
    return urlencode(
        {"grant_type": GRANT_TYPE, "subject_token": subject_token, "subject_token_type": JWT_TOKEN_TYPE}
    )


def in_process(issuer_server, identity, static: str, n: int) -> dict:
    from rest_framework.test import APIClient

    client = APIClient()
    form = exchange_form(issuer_server)
    answer = client.post("/api/v1/token/", form, content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200, answer.content
    jwt_value = answer.json()["access_token"]
    static_q, jwt_q = {**QUESTION, "identity": identity.pk}, QUESTION
    timings: dict[str, list[float]] = {"static": [], "jwt": []}
    for i in range(n + 20):
        for kind, token, body in (("static", static, static_q), ("jwt", jwt_value, jwt_q)):
            started = time.perf_counter()
            response = client.post(
                "/api/v1/decisions/", body, format="json", HTTP_AUTHORIZATION=f"Bearer {token}"
            )
            took = time.perf_counter() - started
            assert response.status_code == 200 and response.json()["decision"] == "allow", response.content
            if i >= 20:  # warm-up
                timings[kind].append(took)
    static_s, jwt_s = summary(timings["static"]), summary(timings["jwt"])
    return {
        "name": "decision, static token vs exchanged JWT",
        "via": "in-process test client",
        "static_p50_ms": static_s["p50_ms"],
        "static_p95_ms": static_s["p95_ms"],
        "jwt_p50_ms": jwt_s["p50_ms"],
        "jwt_p95_ms": jwt_s["p95_ms"],
        "p95_difference_ms": round(jwt_s["p95_ms"] - static_s["p95_ms"], 2),
        "target": "≤ 2 ms more at p95",
        "n": n,
    }


def through_gunicorn(issuer_server, env: dict, clients: int, seconds: int, workers: int = 2) -> dict:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen(
        [
            str(Path(PY).with_name("gunicorn")),
            "config.wsgi:application",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        # Enough fresh subject tokens for the whole run, signed before the clock starts.
        budget = 600 * seconds
        bodies = [exchange_form(issuer_server).encode() for _ in range(budget)]
        url = base + "/api/v1/token/"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for body in bodies[:20]:  # warm-up: workers import, connect, read the issuer's keys
            urllib.request.urlopen(urllib.request.Request(url, data=body, headers=headers), timeout=10).read()
        queue = bodies[20:]
        lock = threading.Lock()
        samples: list[float] = []
        errors = [0]
        stop = time.monotonic() + seconds

        def worker():
            while time.monotonic() < stop:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                _timed(urllib.request.Request(url, data=body, headers=headers), 10, samples, errors)

        took = _in_threads(worker, clients)
        s = summary(samples)
        return {
            "name": "token exchange (RFC 8693)",
            "via": f"gunicorn {workers} sync workers, {clients} Python clients",
            "exchanges_per_s": round((len(samples) - errors[0]) / took, 1),
            "p50_ms": s["p50_ms"],
            "p95_ms": s["p95_ms"],
            "errors": errors[0],
            "target": "≥ 200 exchanges/s",
        }
    finally:
        stop_process(process, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    args = parser.parse_args()
    url = database_url("_workload", "python bench/workload.py")
    fresh_database(url)
    env = bench_environment(url)
    env["STEWARD_SIGNING_KEY_DIR"] = str(RESULTS / "var" / "workload-keys")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    from tests.workload.servers import TestIssuer

    call_command("migrate", verbosity=0)
    issuer_server = TestIssuer("RSA").start()
    try:
        identity, static = setup_estate(issuer_server)
        rows = [in_process(issuer_server, identity, static, args.decisions)]
        print(json.dumps(rows[-1], indent=1), flush=True)
        rows.append(through_gunicorn(issuer_server, env, args.clients, args.seconds, args.workers))
        print(json.dumps(rows[-1], indent=1), flush=True)
    finally:
        issuer_server.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "workload-latest.json").write_text(
        json.dumps({"machine": machine(), "results": rows}, indent=1)
    )


if __name__ == "__main__":
    main()
