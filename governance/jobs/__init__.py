"""Scheduled governance jobs: the registry, the runner, reminders, expiry and posture snapshots."""

from governance import health as _health
from governance.jobs.health import sweep_health as _sweep_health

_health.register("sweep", _sweep_health)
