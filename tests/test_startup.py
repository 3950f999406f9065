"""A loaded worker freezes what is alive, so full garbage collections skip the loaded code
(config/startup.py); STEWARD_GC_FREEZE=0 leaves the collector alone."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref

import pytest
from celery.signals import worker_process_init
from django.conf import settings

from config.startup import settle


@pytest.fixture
def unfrozen():
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the suite runs with the collector as it found it


def test_settle_freezes_what_is_alive(unfrozen):
    assert gc.get_freeze_count() == 0
    gc.collect()
    alive = len(gc.get_objects())
    settle()
    assert gc.get_freeze_count() >= alive
    assert len(gc.get_objects()) < alive // 10  # what the collector still walks: only what came after


def test_settle_can_be_turned_off(unfrozen, settings):
    settings.STEWARD_GC_FREEZE = False
    settle()
    assert gc.get_freeze_count() == 0


def _frozen_after_import(module: str, **env: str) -> int:
    code = f"import gc, {module}; print(gc.get_freeze_count())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        check=True,
    )
    return int(done.stdout.split()[-1])


def test_the_web_entry_points_settle():
    """gunicorn and an ASGI server import these modules: the URL patterns and everything Django loaded
    are frozen before the first request."""
    for module in ("config.wsgi", "config.asgi"):
        assert _frozen_after_import(module) > 50_000, module
    assert _frozen_after_import("config.wsgi", STEWARD_GC_FREEZE="0") == 0


def test_celery_pool_processes_settle(unfrozen):
    from config import celery

    connected = [ref() if isinstance(ref, weakref.ref) else ref for _, ref in worker_process_init.receivers]
    assert celery._settle in connected
    celery._settle()
    assert gc.get_freeze_count() > 0


def test_settle_collects_before_it_freezes(unfrozen):
    """Garbage left unreachable by loading is collected, not frozen for the process's life."""

    class Cycle:
        pass

    garbage = Cycle()
    garbage.me = garbage
    marker = weakref.ref(garbage)
    del garbage
    settle()
    assert marker() is None
