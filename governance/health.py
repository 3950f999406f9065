"""Health checks other features register (the sweep age, for one). Each returns {"ok": bool, ...}."""

from collections.abc import Callable

_CHECKS: dict[str, Callable[[], dict]] = {}


def register(name: str, check: Callable[[], dict]) -> None:
    _CHECKS[name] = check


def extra_checks():
    for name, check in _CHECKS.items():
        try:
            yield name, check()
        except Exception as exc:  # noqa: BLE001 - a failing check reports, never crashes /healthz
            yield name, {"ok": False, "error": exc.__class__.__name__}
