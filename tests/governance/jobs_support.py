"""Helpers shared by the findings and jobs tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
import time_machine

from governance.findings.models import Finding
from governance.findings.sweep import run_sweep
from governance.jobs import registry

# A Monday morning, so "the same week" and "next week" are easy to reason about.
START = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    """Time frozen at START; `clock.shift(timedelta)` / `clock.move_to(dt)` move it."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def hooks():
    """Let a test register hooks; the registry is restored afterwards."""
    saved = {
        name: copy.copy(getattr(registry, name))
        for name in ("_jobs", "_expirers", "_reminder_sources", "_suppression_sources", "_finding_sources")
    }
    saved["_finding_sources"] = {k: dict(v) for k, v in registry._finding_sources.items()}
    yield registry
    for name, value in saved.items():
        target = getattr(registry, name)
        target.clear()
        target.update(value)


def sweep():
    return run_sweep()


def unresolved(rule: str | None = None, identity=None):
    qs = Finding.objects.unresolved()
    if rule:
        qs = qs.filter(rule=rule)
    if identity is not None:
        qs = qs.filter(identity=identity)
    return qs


def only_finding(rule: str, identity) -> Finding:
    rows = list(unresolved(rule, identity))
    assert len(rows) == 1, f"expected one unresolved {rule} finding, got {rows}"
    return rows[0]
