"""The one-way import rule of docs/architecture.md: a module imports only from its own layer or the layers
below it. Every import counts, a function-level one too. Read from the source (nothing is imported), so
a new arrow against the layers fails here, named by file and line."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Lowest first. A module belongs to the layer of its longest matching package prefix; the modules that
# face the outside world or wire the apps together (below, by name, and anything in a `views` package) are the
# top layer whatever their package.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "kernel",
        (
            "governance.errors", "governance.ids", "governance.actors", "governance.access",
            "governance.cache", "governance.bulk", "governance.paging", "governance.safe_json",
            "governance.zips", "governance.csv_safety", "governance.serializers", "governance.health",
            "governance.audit_models", "governance.audit", "governance.filters", "governance.throttling",
            "governance.api_common", "governance.signing", "governance.checkpoints", "governance.people",
            "governance.middleware", "governance.permissions", "governance.context_processors",
            "governance.jobs", "governance.progress",
            "governance.lists", "governance.fields", "governance.prepared",
        ),
    ),
    ("inventory", ("inventory",)),
    # The threat catalogue is data the policy names (its version); the profiles judge with it.
    ("rules", ("governance.policy", "approvals", "governance.threats.catalogue")),
    # Flows that run on the approval engine sit above it: approvals.flows, exceptions, JIT (decisions).
    (
        "processes",
        (
            "approvals.flows", "governance.findings", "governance.threats", "governance.decisions",
            "governance.exceptions", "governance.reviews", "workload",
            # Approve from chat: Slack messages and clicks on the approval engine (issue 28).
            "chat",
        ),
    ),
    ("assurance", ("governance.evidence", "governance.dashboard", "governance.demo", "connectors")),
    ("site", ("config", "bench", "governance.models", "governance.templatetags", "governance.management")),
]  # fmt: skip
SITE = len(LAYERS) - 1
# Views, APIs, URL confs, admin, app configs, Celery tasks and job registrations: the top layer.
EDGE_MODULE = re.compile(r"^(views\w*|\w+_views|api\w*|urls|admin|apps|tasks|jobs|builtin)$")
SOURCES = ("governance", "inventory", "approvals", "connectors", "workload", "chat", "config", "bench")

# Arrows that still run up, each with where it is going (issue 24 item 4). The list may only shrink:
# an arrow that is gone must leave it too (the test says so).
KNOWN: set[tuple[str, str]] = set()


def _reexports() -> dict[str, str]:
    """`governance.models` is the app's model module: it re-exports the models of every feature
    package. An import of a name from it counts as an import from where the name is defined."""
    found = {}
    for node in ast.parse((ROOT / "governance" / "models.py").read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            found.update(
                {f"governance.models.{alias.name}": f"{node.module}.{alias.name}" for alias in node.names}
            )
    return found


REEXPORTS = _reexports()


def layer_of(module: str, *, is_package: bool = False) -> int | None:
    module = REEXPORTS.get(module, module)
    parts = module.split(".")
    in_views_package = "views" in parts[1:-1] or (is_package and parts[-1] == "views")
    edge = in_views_package or (not is_package and EDGE_MODULE.match(parts[-1]))
    if edge and parts[0] in SOURCES:
        return SITE
    best: tuple[int, int] | None = None
    for index, (_name, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (index, len(prefix))
    return None if best is None else best[0]


def _owner(name: str) -> str:
    """The package an arrow goes to, as KNOWN names it."""
    for _layer, prefixes in LAYERS:
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "."):
                return prefix
    return name


def upward_arrows() -> list[tuple[str, int, str, str, str]]:
    found = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" in rel.parts:
                continue
            is_package = rel.name == "__init__.py"
            module = ".".join(rel.parent.parts if is_package else rel.with_suffix("").parts)
            mine = layer_of(module, is_package=is_package)
            if mine is None:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(rel))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [f"{node.module}.{alias.name}" for alias in node.names]
                else:
                    continue
                for name in names:
                    theirs = layer_of(name)
                    if theirs is not None and theirs > mine:
                        found.append((str(rel), node.lineno, name, LAYERS[mine][0], LAYERS[theirs][0]))
    return found


def test_no_module_imports_against_the_layers():
    arrows = upward_arrows()
    new = [a for a in arrows if (a[0], _owner(a[2])) not in KNOWN]
    assert not new, "imports against the layers (docs/architecture.md):\n" + "\n".join(
        f"{file}:{line} imports {name} ({mine} may not import {theirs})"
        for file, line, name, mine, theirs in new
    )


def test_the_list_of_known_upward_arrows_only_shrinks():
    still = {(file, _owner(name)) for file, _line, name, _m, _t in upward_arrows()}
    gone = KNOWN - still
    assert not gone, f"these arrows are gone: remove them from KNOWN: {sorted(gone)}"


def test_the_rule_sees_an_arrow_against_it():
    assert layer_of("inventory.models") < layer_of("approvals.services.intake")
    assert layer_of("governance.audit") == 0 and layer_of("governance.evidence.builder") == 4
    assert layer_of("inventory.views") == SITE and layer_of("governance.jobs", is_package=True) == 0
