"""The import rules of ``qbosync.sync``: flows stand side by side, and no module imports itself round.

Flows are ``push``, ``pull``, ``bulk``, ``retry`` and ``reconcile``. A flow may import the shared
``records`` package and the support modules (``configuration``, ``reference``, ...), never another flow;
only the composition root (``wiring``) sees them all. Every import counts, including those inside a
function, since a lazy import hides a cycle without removing it.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

SYNC_ROOT = Path(__file__).resolve().parents[2] / "layers" / "common" / "qbosync" / "sync"
PACKAGE = "qbosync.sync"
FLOWS = frozenset({"push", "pull", "bulk", "retry", "reconcile"})


def _module_name(path: Path) -> str:
    relative = path.relative_to(SYNC_ROOT).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    return ".".join([PACKAGE, *parts])


def read_sync_modules() -> dict[str, str]:
    """Every module of ``qbosync.sync`` by dotted name, with its source."""
    return {_module_name(path): path.read_text(encoding="utf-8") for path in sorted(SYNC_ROOT.rglob("*.py"))}


def imports_of(source: str, known: set[str]) -> set[str]:
    """The ``qbosync.sync`` modules a source imports, wherever the import statement is."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in known)
    return found


def import_graph(modules: Mapping[str, str]) -> dict[str, set[str]]:
    known = set(modules)
    packages = {name for name in known if any(other.startswith(f"{name}.") for other in known)}
    # Importing a package's module runs the package's __init__, which holds no imports here: not an edge.
    return {name: imports_of(source, known) - packages - {name} for name, source in modules.items()}


def flow_of(module: str) -> str | None:
    parts = module.removeprefix(f"{PACKAGE}.").split(".")
    return parts[0] if parts[0] in FLOWS and module != PACKAGE else None


def flow_violations(graph: Mapping[str, set[str]]) -> list[str]:
    """``a -> b`` for every import of one flow's module by another flow's."""
    violations = []
    for module, imported in sorted(graph.items()):
        source_flow = flow_of(module)
        for target in sorted(imported):
            target_flow = flow_of(target)
            if source_flow and target_flow and source_flow != target_flow:
                violations.append(f"{module} -> {target}")
    return violations


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules that import each other (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_given_the_sync_package_when_its_imports_are_read_then_no_flow_imports_another() -> None:
    graph = import_graph(read_sync_modules())

    assert flow_violations(graph) == []


def test_given_the_sync_package_when_its_imports_are_read_then_no_modules_import_each_other_round() -> None:
    graph = import_graph(read_sync_modules())

    assert cycles(graph) == []


def test_given_every_flow_when_its_package_is_listed_then_it_exists() -> None:
    modules = read_sync_modules()

    assert {flow for flow in map(flow_of, modules) if flow} == FLOWS


def test_given_a_pull_module_importing_the_push_when_checked_then_the_import_is_named() -> None:
    modules = {
        **read_sync_modules(),
        "qbosync.sync.pull.planted": "def late():\n    from qbosync.sync.push.service import PushService\n",
    }

    assert flow_violations(import_graph(modules)) == [
        "qbosync.sync.pull.planted -> qbosync.sync.push.service"
    ]


def test_given_two_modules_importing_each_other_lazily_when_checked_then_the_cycle_is_named() -> None:
    modules = {
        **read_sync_modules(),
        "qbosync.sync.records.planted": "from qbosync.sync import wiring\n",
        "qbosync.sync.planted_support": "def f():\n    import qbosync.sync.records.planted\n",
    }
    modules[f"{PACKAGE}.wiring"] += "\nfrom qbosync.sync.planted_support import f\n"

    assert cycles(import_graph(modules)) == [
        ["qbosync.sync.planted_support", "qbosync.sync.records.planted", "qbosync.sync.wiring"]
    ]
