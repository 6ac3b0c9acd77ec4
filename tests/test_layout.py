"""The layout rules of ``docs/decisions.md`` ("Layout: one package per part"), read from
the source: no import cycle, and every import points down the documented direction

    core, config, metrics  ←  tagging, feeds, store  ←  alerts  ←  polling, services  ←  web, cli

with the web reaching polling only through ``app.polling`` itself (its face).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parents[1] / "app"

# Each part and the parts it may import (besides itself). Shared modules are at the bottom.
SHARED = {"app", "app.config", "app.metrics", "app.data"}
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "shared": {"core"},
    "tagging": {"core", "shared"},
    "feeds": {"core", "shared"},
    "store": {"core", "shared"},
    "alerts": {"core", "shared", "tagging", "feeds", "store"},
    "polling": {"core", "shared", "tagging", "feeds", "store", "alerts"},
    "services": {"core", "shared", "tagging", "feeds", "store", "alerts"},
    "web": {"core", "shared", "tagging", "feeds", "store", "alerts", "polling", "services"},
    "cli": {
        "core",
        "shared",
        "tagging",
        "feeds",
        "store",
        "alerts",
        "polling",
        "services",
        "web",
    },
}
FACE_ONLY = {("web", "polling")}  # the web starts the in-process poller, through app.polling


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    if module in SHARED or module.startswith("app.data."):
        return "shared"
    return module.split(".")[1]


MODULES = {module_name(p): p for p in sorted(APP.rglob("*.py"))}


def _under_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(module: str) -> dict[str, bool]:
    """Every app module this one imports, at any depth of its code, mapped to whether
    the import runs (False: only under ``TYPE_CHECKING``)."""
    tree = ast.parse(MODULES[module].read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: dict[str, bool] = {}
    for node in ast.walk(tree):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from app.web import api` imports the module app.web.api
            subs = [f"{node.module}.{a.name}" for a in node.names]
            targets = [s for s in subs if s in MODULES] or [node.module]
        for target in targets:
            if target == "app" or target.startswith("app."):
                runs = not _under_type_checking(node, parents)
                found[target] = found.get(target, False) or runs
    return found


GRAPH = {m: imports_of(m) for m in MODULES}


def test_every_import_points_down_the_layers() -> None:
    wrong = []
    for module, targets in GRAPH.items():
        here = part_of(module)
        for target in targets:
            there = part_of(target)
            if there == here:
                continue
            if there not in ALLOWED[here]:
                wrong.append(f"{module} imports {target} ({here} may not import {there})")
            elif (here, there) in FACE_ONLY and target != f"app.{there}":
                wrong.append(f"{module} imports {target}: use the face, app.{there}")
    assert wrong == []


def test_no_import_cycle() -> None:
    runtime = {m: {t for t, runs in ts.items() if runs and t in MODULES} for m, ts in GRAPH.items()}
    cycles = _cycles(runtime)
    assert cycles == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1 or node in graph[node]:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"a"}, "c": set()}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    graph: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert _cycles(graph) == expected


def test_the_layer_rule_sees_a_wrong_import(tmp_path: Path) -> None:
    assert part_of("app.web.api") == "web"
    assert "web" not in ALLOWED["polling"]  # so a poller importing the web would be reported
    assert part_of("app.config") == "shared"
    assert GRAPH["app.web.app"].get("app.polling") is True  # the face, imported at run time
