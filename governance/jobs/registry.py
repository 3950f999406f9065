"""Where features plug into the scheduled jobs.

Every hook is registered by name with a callable, from the feature's own ``jobs`` module, which its
app's ``AppConfig.ready()`` imports (``governance.jobs.builtin`` for governance, ``approvals.jobs``,
``inventory.jobs``). A lower layer never names a higher one: approvals registers its own reminder
source here rather than governance listing it.

Hooks:

- **jobs** — `register_job(name, target, description)`; `target(now) -> dict` (a JSON summary).
  `python manage.py run_governance_jobs [--job NAME]` and the Celery tasks run these.
- **expirers** — `register_expirer(name, target)`; `target(now) -> int` (rows ended). The `expiry`
  job runs each one (grants are built in; exceptions add theirs).
- **reminder sources** — `register_reminder_source(name, target)`; `target(now) -> Iterable[Due]`
  (see `governance.jobs.reminders` for the `Due` record).
- **suppressions** — `register_suppression_source(name, target)`; `target(now) ->
  Iterable[(identity_id, rule)]`: pairs whose findings are suppressed (active exceptions).
- **finding sources** — `register_finding_source(rule, name, target)`; `target(now) ->
  Iterable[Hit]` for rules that another feature detects (e.g. `exception_expired`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Hook:
    name: str
    target: Callable[..., Any]
    description: str = ""

    def __post_init__(self):
        if not callable(self.target):
            raise TypeError(f"hook {self.name!r}: register the function itself, not {self.target!r}")


_jobs: dict[str, Hook] = {}
_expirers: dict[str, Hook] = {}
_reminder_sources: dict[str, Hook] = {}
_suppression_sources: dict[str, Hook] = {}
_finding_sources: dict[str, dict[str, Hook]] = {}


def register_job(name: str, target, description: str = "") -> None:
    _jobs[name] = Hook(name, target, description)


def register_expirer(name: str, target) -> None:
    _expirers[name] = Hook(name, target)


def register_reminder_source(name: str, target) -> None:
    _reminder_sources[name] = Hook(name, target)


def register_suppression_source(name: str, target) -> None:
    _suppression_sources[name] = Hook(name, target)


def register_finding_source(rule: str, name: str, target) -> None:
    _finding_sources.setdefault(rule, {})[name] = Hook(name, target)


def jobs() -> dict[str, Hook]:
    return dict(_jobs)


def _pairs(hooks: dict[str, Hook]) -> list[tuple[str, Callable[..., Any]]]:
    return [(name, hook.target) for name, hook in hooks.items()]


def expirers():
    return _pairs(_expirers)


def reminder_sources():
    return _pairs(_reminder_sources)


def suppression_sources():
    return _pairs(_suppression_sources)


def finding_sources(rule: str):
    return _pairs(_finding_sources.get(rule, {}))
