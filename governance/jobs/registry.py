"""Where features plug into the scheduled jobs.

Everything is registered by name with either a callable or a dotted path. A dotted path is imported
only when needed, and a path whose module does not exist (a feature not merged in this build) is
skipped quietly — so `governance.reviews.services.run_cadence` can be listed before that module exists.

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

Register from your own module at import time and add that module to `HOOK_MODULES` below (one line),
or add a dotted path to the defaults in `_defaults()`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# Modules imported once to let features register their hooks. Missing ones are skipped.
HOOK_MODULES = [
    "governance.jobs.builtin",
    "governance.reviews.jobs",
    "governance.exceptions.jobs",
    "approvals.jobs",
    "governance.decisions.jobs",
    "inventory.jobs",
]


@dataclass
class Hook:
    name: str
    target: Callable[..., Any] | str
    description: str = ""

    def resolve(self) -> Callable[..., Any] | None:
        """The callable, or None when its module is not part of this build."""
        if callable(self.target):
            return self.target
        module_path, _, attr = self.target.rpartition(".")
        try:
            module = importlib.import_module(module_path)
        except ModuleNotFoundError as exc:
            # Only a missing feature module is "skip"; a broken import inside it must surface.
            if exc.name and module_path.startswith(exc.name):
                return None
            raise
        func = getattr(module, attr, None)
        if func is None:
            log.warning("hook %s: %s has no attribute %s; skipped", self.name, module_path, attr)
        return func


_jobs: dict[str, Hook] = {}
_expirers: dict[str, Hook] = {}
_reminder_sources: dict[str, Hook] = {}
_suppression_sources: dict[str, Hook] = {}
_finding_sources: dict[str, dict[str, Hook]] = {}
_loaded = False


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


def load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in HOOK_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if not (exc.name and module.startswith(exc.name)):
                raise


def jobs() -> dict[str, Hook]:
    load()
    return dict(_jobs)


def _resolved(hooks: dict[str, Hook]) -> list[tuple[str, Callable[..., Any]]]:
    load()
    found = []
    for name, hook in hooks.items():
        func = hook.resolve()
        if func is not None:
            found.append((name, func))
        else:  # also reported by the `steward.E201` system check at start
            log.error("hook %s: %s not found in this build; skipped", name, hook.target)
    return found


def unresolved() -> list[tuple[str, Hook]]:
    """Every registered hook whose target cannot be found, as (hook kind, hook).

    A misspelt dotted path would otherwise be skipped as "feature not in this build" and its work
    would silently never happen (a reminder source that never reminds); the system check in
    `governance.jobs.checks` turns each one into an error.
    """
    load()
    groups: list[tuple[str, dict[str, Hook]]] = [
        ("job", _jobs),
        ("expirer", _expirers),
        ("reminder source", _reminder_sources),
        ("suppression source", _suppression_sources),
    ]
    groups += [(f"finding source ({rule})", hooks) for rule, hooks in _finding_sources.items()]
    missing = []
    for kind, hooks in groups:
        for hook in hooks.values():
            try:
                func = hook.resolve()
            except ImportError:
                func = None
            if func is None:
                missing.append((kind, hook))
    return missing


def expirers():
    return _resolved(_expirers)


def reminder_sources():
    return _resolved(_reminder_sources)


def suppression_sources():
    return _resolved(_suppression_sources)


def finding_sources(rule: str):
    load()
    return _resolved(_finding_sources.get(rule, {}))
