"""No decision lost: every answer a client received is in the decision log, even when a web worker is
killed in the middle of the load (issue 23).

Gunicorn runs as production does (two sync workers, the lean path on) against this test's PostgreSQL
database; four clients ask questions with a unique task reference each; one worker gets SIGKILL while
they ask, and gunicorn starts another. Every 200 a client read must have its row, with the same
answer, because the row is committed before the answer is written to the socket. Requests cut by the
kill got no answer and promise nothing. PostgreSQL only: the SQLite test database lives in this
process's memory, where a server in another process cannot see it.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.db import connection

from governance.actors import system
from governance.decisions.models import DecisionRecord
from inventory.tokens import issue_token
from tests.decisions.conftest import question
from tests.processes import stop_process

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("gunicorn")]


def _database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    auth = f"{user}:{s['PASSWORD']}" if s.get("PASSWORD") else user
    return f"postgresql://{auth}@{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}/{s['NAME']}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(master: int) -> list[int]:
    path = Path(f"/proc/{master}/task/{master}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _ask(port: int, token: str, body: dict) -> dict | None:
    """The answer, or None when the connection broke (a killed worker's request)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request(
            "POST",
            "/api/v1/decisions/",
            json.dumps(body),
            {"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        payload = response.read()
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    assert response.status == 200, payload[:300]
    return json.loads(payload)


@pytest.fixture
def server(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: another process cannot see the in-memory SQLite test database")
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "STEWARD_VAR_DIR": str(tmp_path),
        "STEWARD_API_RATE": "1000000/min",
        "STEWARD_DECISION_SAMPLE_ABOVE": "100000",  # every allow one row, so each answer is findable
        "STEWARD_LEAN_DECISIONS": "1",
        "LOG_LEVEL": "ERROR",
    }
    env.pop("STEWARD_CACHE_URL", None)  # each worker's own memory: nothing shared to lose either
    gunicorn = Path(sys.executable).with_name("gunicorn")
    process = subprocess.Popen(
        [str(gunicorn), "config.wsgi:application", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "--log-level", "error", "--timeout", "60"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)
    while len(_workers(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    yield process, port
    stop_process(process, timeout=20)


def test_a_killed_worker_loses_no_answered_decision(server, agent, iam):
    process, port = server
    token = issue_token(system("test"), iam, scope="read", days=1)[1]
    kinds = [
        {},  # allow: inside the grant
        {"action": "write_code"},  # deny
        {"action": "merge", "environment": "prod"},  # step_up
    ]
    answered: list[tuple[str, str]] = []
    cut = [0]
    lock = threading.Lock()

    def client(n: int) -> None:
        for i in range(60):
            ref = f"c{n}-{i}"
            answer = _ask(port, token, question(agent, task_ref=ref, **kinds[i % 3]))
            with lock:
                if answer is None:
                    cut[0] += 1
                else:
                    answered.append((ref, answer["decision"]))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    while len(answered) < 40:  # under load
        time.sleep(0.01)
    victim = _workers(process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads)

    assert victim not in _workers(process.pid)  # it really died (gunicorn started another)
    assert len(answered) >= 200  # most questions were answered, before and after the kill
    logged = dict(DecisionRecord.objects.filter(identity=agent).values_list("task_ref", "decision"))
    missing = [(ref, decision) for ref, decision in answered if logged.get(ref) != decision]
    assert missing == [], f"answered but not in the log: {missing[:10]}"
    assert {d for _r, d in answered} == {"allow", "deny", "step_up"}
