"""The one-way import rule of docs/architecture.md: a module imports only from its own layer or the layers
below it, and no two modules import each other, however many steps round. Every import counts, a
function-level one too (an import moved into a function to dodge a loop is still a loop); only imports
under `if TYPE_CHECKING:` are left out of the loops, since they never run. Read from the source (nothing
is imported), so a new arrow against the layers or a new loop fails here, named by file and line."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
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
            "governance.lists", "governance.fields", "governance.prepared", "governance.queueing",
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
EDGE_MODULE = re.compile(r"^(views\w*|\w+_views|api\w*|urls|admin\w*|apps|tasks|jobs|builtin)$")
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


@dataclass(frozen=True)
class Import:
    file: str  # where the import is written
    module: str  # the module that imports
    is_package: bool
    line: int
    name: str  # what it imports: `a.b` for `import a.b`, `a.b.c` for `from a.b import c`
    typing_only: bool  # under `if TYPE_CHECKING:`


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    inside = set()
    for node in ast.walk(tree):
        test = node.test if isinstance(node, ast.If) else None
        if isinstance(test, ast.Name | ast.Attribute) and ast.unparse(test).endswith("TYPE_CHECKING"):
            inside.update(id(child) for part in node.body for child in ast.walk(part))
    return inside


def _source_files() -> list[tuple[Path, bool, str]]:
    """(path, is a package's __init__, module name) of every Steward source file but migrations."""
    found = []
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = path.relative_to(ROOT)
            if "migrations" not in rel.parts:
                is_package = rel.name == "__init__.py"
                found.append(
                    (
                        path,
                        is_package,
                        ".".join(rel.parent.parts if is_package else rel.with_suffix("").parts),
                    )
                )
    return found


@cache
def source_modules() -> frozenset[str]:
    return frozenset(module for _path, _is_package, module in _source_files())


@cache
def imports() -> tuple[Import, ...]:
    """Every absolute import in Steward's source (relative imports are the config package's own)."""
    found = []
    for path, is_package, module in _source_files():
        rel = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(), rel)
        typing_only = _type_checking_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            found += [
                Import(rel, module, is_package, node.lineno, name, id(node) in typing_only) for name in names
            ]
    return tuple(found)


def upward_arrows() -> list[tuple[str, int, str, str, str]]:
    found = []
    for item in imports():
        mine = layer_of(item.module, is_package=item.is_package)
        theirs = layer_of(item.name)
        if mine is not None and theirs is not None and theirs > mine:
            found.append((item.file, item.line, item.name, LAYERS[mine][0], LAYERS[theirs][0]))
    return found


def import_loops() -> list[list[Import]]:
    """Groups of Steward modules that import each other, directly or round several steps (the strongly
    connected components of the import graph), each with the imports that close it."""
    modules = source_modules() | {item.module for item in imports()}

    def target(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    def packages(name: str) -> list[str]:
        """`a.b` and `a` for `a.b.c`: importing a module runs its packages' `__init__` first."""
        parts = name.split(".")
        return [".".join(parts[:n]) for n in range(len(parts) - 1, 0, -1) if ".".join(parts[:n]) in modules]

    graph: dict[str, dict[str, list[Import]]] = {module: {} for module in modules}
    for item in imports():
        theirs = target(item.name)
        if not theirs or item.typing_only:
            continue
        # The importer's own packages ran before it did, so they close no loop through this import.
        mine = {item.module, *packages(item.module)}
        for other in (theirs, *packages(theirs)):
            if other not in mine:
                graph[item.module].setdefault(other, []).append(item)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    loops = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        for other in graph[module]:
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            group = set()
            while not group or module not in group:
                group.add(stack.pop())
            if len(group) > 1:
                loops.append(
                    [
                        item
                        for m in sorted(group)
                        for other, items in graph[m].items()
                        if other in group
                        for item in items
                    ]
                )

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return loops


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


def test_no_two_modules_import_each_other():
    loops = import_loops()
    assert not loops, "import loops (each module of a loop, and the imports that close it):\n" + "\n\n".join(
        "\n".join(f"{item.file}:{item.line} imports {item.name}" for item in loop) for loop in loops
    )


def test_the_loop_check_sees_a_loop_and_leaves_out_typing_only_imports(monkeypatch):
    def item(module, name, typing_only=False):
        return Import(f"{module}.py", module, False, 1, name, typing_only)

    looped = (
        item("inventory.a", "inventory.b.thing"),
        item("inventory.b", "inventory.c"),
        item("inventory.c", "inventory.a"),
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["imports"]), "imports", lambda: looped)
    assert [sorted({i.module for i in loop}) for loop in import_loops()] == [
        ["inventory.a", "inventory.b", "inventory.c"]
    ]
    typed = (item("inventory.a", "inventory.b"), item("inventory.b", "inventory.a", typing_only=True))
    monkeypatch.setattr(__import__(__name__, fromlist=["imports"]), "imports", lambda: typed)
    assert import_loops() == []
    # Through a package's __init__: importing inventory.x.w runs inventory/x/__init__.py, which imports
    # inventory.x.y, which imports inventory.z again. A package importing its own modules is no loop.
    through_init = (
        item("inventory.z", "inventory.x.w"),
        Import("inventory/x/__init__.py", "inventory.x", True, 1, "inventory.x.y", False),
        item("inventory.x.y", "inventory.z"),
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["imports"]), "imports", lambda: through_init)
    assert [sorted({i.module for i in loop}) for loop in import_loops()] == [
        ["inventory.x", "inventory.x.y", "inventory.z"]
    ]
