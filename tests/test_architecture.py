"""Imports point one way: supportbot -> api, ui, evaluation -> graph -> retrieval, finetune."""

from __future__ import annotations

import ast

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
