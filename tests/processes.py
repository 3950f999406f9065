"""Child processes the tests and benchmarks start (gunicorn, a Celery worker, moto, PgBouncer)."""

from __future__ import annotations

import subprocess


def stop_process(process: subprocess.Popen, timeout: float) -> None:
    """Ask `process` to end (SIGTERM) and wait up to `timeout` seconds; kill it if it has not ended."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
