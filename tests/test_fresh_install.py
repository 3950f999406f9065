"""A fresh install tells the truth (issue 22 item 7): `make run` sweeps after seeding, names the address
it binds in STEWARD_BASE_URL, prints one line per step, and the Celery worker starts without the
superuser warning (while Celery still refuses a root worker that would accept pickle)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent


def _dry_run(*args: str, env: dict | None = None) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    environment = {k: v for k, v in os.environ.items() if k != "STEWARD_BASE_URL"}
    environment.update(env or {})
    # -n prints the commands without running them; -W marks the prerequisites as up to date.
    result = subprocess.run(
        [
            "make",
            "-n",
            "run",
            *args,
            "-W",
            "pyproject.toml",
            "-o",
            ".venv/.installed",
            "-o",
            "static/vendor/.copied",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if line.strip()]


def _line(lines: list[str], needle: str) -> str:
    [found] = [line for line in lines if needle in line]
    return found


def test_make_run_sweeps_after_seeding_and_before_starting():
    lines = _dry_run()
    seed = lines.index(_line(lines, "manage.py seed_demo"))
    sweep = lines.index(_line(lines, "manage.py run_governance_jobs --job sweep"))
    start = lines.index(_line(lines, "honcho -f Procfile.dev start"))
    assert seed < sweep < start


def test_the_base_url_is_the_address_make_run_binds_unless_set():
    lines = _dry_run("HOST=10.1.2.3", "PORT=9123")
    for step in ("seed_demo", "run_governance_jobs", "honcho"):
        assert "STEWARD_BASE_URL=http://10.1.2.3:9123 " in _line(lines, step), step
    assert "HOST=10.1.2.3 PORT=9123" in _line(lines, "honcho")
    assert "http://10.1.2.3:9123/" in _line(lines, "Ctrl-C stops")
    chosen = _dry_run("PORT=9123", env={"STEWARD_BASE_URL": "https://steward.example.com"})
    assert "STEWARD_BASE_URL=https://steward.example.com " in _line(chosen, "honcho")


def test_every_step_is_quiet_but_for_one_line():
    lines = _dry_run()
    migrate = _line(lines, "manage.py migrate")
    assert "-v0" in migrate and 'echo "database: migrated"' in migrate
    assert "DJANGO_RUNSERVER_HIDE_WARNING=true" in _line(lines, "honcho")
    procfile = (ROOT / "Procfile.dev").read_text()
    assert "celery -A config --quiet worker" in procfile and "celery -A config --quiet beat" in procfile
    makefile = (ROOT / "Makefile").read_text()
    assert '@echo ""' not in makefile  # no boxed banner around the start line
    assert (
        settings.CELERY_BROKER_URL.startswith("filesystem://localhost") or "CELERY_BROKER_URL" in os.environ
    )


CHECK = """
import os, warnings
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
import config.celery  # noqa: F401 - installs the filter the worker gets with -A config
from celery import platforms
os.getuid = os.geteuid = lambda: 0
platforms.check_privileges({"json"})
try:
    platforms.check_privileges({"pickle"})
except platforms.SecurityError:
    print("pickle refused")
"""


def test_a_root_worker_accepting_json_starts_without_the_superuser_warning():
    assert settings.CELERY_ACCEPT_CONTENT == ["json"] and settings.CELERY_TASK_SERIALIZER == "json"
    env = {k: v for k, v in os.environ.items() if k != "C_FORCE_ROOT"}
    # -W error: any warning left (the superuser one included) fails the run.
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", CHECK], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "superuser" not in result.stderr
    assert result.stdout.strip() == "pickle refused"
