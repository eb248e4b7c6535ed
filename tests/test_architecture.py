"""Imports point one way: supportbot -> api, ui, evaluation -> graph -> retrieval, finetune."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

PACKAGES = ["supportbot", "api", "ui", "evaluation", "graph", "retrieval", "finetune"]
# What each package may import from the project (itself excluded).
ALLOWED = {
    "supportbot": {"api", "ui", "evaluation", "graph", "retrieval", "finetune"},
    "api": {"graph", "retrieval", "finetune"},
    # ui -> api: only api.keys, for the in-process console sign-in (same key file as the API). The key store is
    # shared state and moves below graph with the Postgres work (#17/#18); then this exception goes.
    "ui": {"graph", "retrieval", "finetune", "api"},
    "evaluation": {"graph", "retrieval", "finetune"},
    "graph": {"retrieval", "finetune"},
    "retrieval": set(),
    "finetune": {"retrieval"},  # RAFT examples and conversation dedup reuse retrieval's code
}


def project_imports(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (REPO / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(REPO)))
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    forbidden = {top: files for top, files in project_imports(package).items() if top not in ALLOWED[package]}
    assert forbidden == {}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for package in PACKAGES for path in (REPO / package).rglob("*.py")}


def imported_modules(module: str) -> Iterator[tuple[str, str]]:
    """(project module, imported name) for every import in a module, also those inside functions."""

    def owner(name: str) -> str | None:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        return name or None

    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if found := owner(alias.name):
                    yield found, ""
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in MODULES:
                    yield submodule, ""
                elif found := owner(node.module):
                    yield found, alias.name


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), counting lazy imports inside functions too."""
    graph = {module: {target for target, _ in imported_modules(module) if target != module} for module in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            group = []
            while (top := stack.pop()) != module:
                group.append(top)
            if group:
                cycles.append(sorted([module, *group]))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles() -> None:
    """A cycle, even through an import inside a function, means two modules are one: split out what both need."""
    assert import_cycles() == []


def test_no_private_names_across_modules() -> None:
    """A name another module imports is part of its module's interface, so it is public (no leading underscore)."""
    private = sorted(
        f"{module} imports {name} from {target}"
        for module in MODULES
        for target, name in imported_modules(module)
        if target != module and name.startswith("_") and not name.startswith("__")
    )
    assert private == []
