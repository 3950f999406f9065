"""A real Celery worker process on the Redis broker runs the scheduled sweep against the real database.

Needs Redis (STEWARD_TEST_REDIS_URL, default redis://127.0.0.1:6379/15) and a database a second
process can open: PostgreSQL, or SQLite in a file (set STEWARD_TEST_SQLITE=/tmp/steward-test.sqlite3;
the default in-memory test database is invisible to another process). Skipped otherwise, unless
STEWARD_REQUIRE_SERVICES=1, which turns a missing service into a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

from governance.findings.models import Finding
from governance.jobs.models import JobRun
from tests.conftest import requires_services
from tests.factories import IdentityFactory
from tests.processes import stop_process

REDIS_URL = os.environ.get("STEWARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]


def _unavailable(reason: str):
    if requires_services():
        pytest.fail(reason)
    pytest.skip(reason)


def _redis():
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        _unavailable(f"Redis is not reachable at {REDIS_URL}: {exc.__class__.__name__}")
    return client


def _database_url_for_worker() -> str:
    s = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(s["NAME"])
        if name == ":memory:" or "mode=memory" in name or name.startswith("file:memorydb"):
            # A database limit, not a missing service: CI's PostgreSQL pass runs this test for real.
            pytest.skip("in-memory SQLite test database; set STEWARD_TEST_SQLITE to a file path")
        return f"sqlite:///{name}"
    if connection.vendor == "postgresql":
        auth = quote(s["USER"] or "")
        if s.get("PASSWORD"):
            auth += ":" + quote(s["PASSWORD"])
        host = s.get("HOST") or "127.0.0.1"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgresql://{auth}@{host}{port}/{s['NAME']}"
    _unavailable(f"no worker database URL for {connection.vendor}")
    return ""


def test_a_real_worker_runs_the_scheduled_sweep_from_redis(owner, tmp_path):
    redis_client = _redis()
    database_url = _database_url_for_worker()
    identity = IdentityFactory(owner=owner, name="crossing-bot", environments=["prod", "dev"])

    queue = f"steward-test-{uuid.uuid4().hex[:12]}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "STEWARD_VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-Q", queue,
                "-n", f"{queue}@%h", "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--loglevel=INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        from celery import Celery

        # Send once the worker consumes its queue: a message published to a Redis queue nobody has
        # bound yet can be dropped by kombu's fanout-free routing, which under load lost the sweep.
        started = time.monotonic() + 90
        while b" ready." not in log_path.read_bytes():
            if worker.poll() is not None or time.monotonic() > started:
                pytest.fail(f"the worker did not start:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.2)
        producer = Celery("steward-test-producer", broker=REDIS_URL)
        # The task beat sends for the "governance sweep" entry (see the schedule migration).
        producer.send_task("governance.sweep", queue=queue)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if worker.poll() is not None:
                pytest.fail(f"worker exited early:\n{log_path.read_text()[-4000:]}")
            if JobRun.objects.filter(name="sweep", ok__isnull=False).exists():
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the worker did not run the sweep in time:\n{log_path.read_text()[-4000:]}")
        run = JobRun.objects.get(name="sweep")
        assert run.ok is True and run.trigger == "celery", run.error
        finding = Finding.objects.get(rule="environment_crossing", identity=identity)
        assert finding.status == "open"
    finally:
        stop_process(worker, timeout=20)
        redis_client.delete(queue)
