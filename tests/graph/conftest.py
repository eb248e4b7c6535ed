"""One ChatService per test session over the bundled index (the scope rail is fitted once, the models load once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graph.config import GraphConfig
from graph.service import ChatService

HOME = Path(os.environ["SUPPORTBOT_HOME"])


def make_config(index: Path, folder: Path, **overrides: object) -> GraphConfig:
    """A config whose databases live in ``folder`` and whose caches (spaCy, exports) are the test data home's."""
    values: dict[str, object] = {
        "index_dir": index,
        "checkpoint_db": folder / "checkpoints.sqlite",
        "store_db": folder / "support.sqlite",
        "cache_dir": HOME,
    }
    values.update(overrides)
    return GraphConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def service(bundled_index: Path, tmp_path_factory: pytest.TempPathFactory) -> ChatService:
    """The rag + extractive agent over the bundled index."""
    return ChatService(make_config(bundled_index, tmp_path_factory.mktemp("graph-service")))


@pytest.fixture(scope="session")
def deps(service: ChatService):  # type: ignore[no-untyped-def]
    """The service's run-time dependencies, for calling nodes one at a time."""
    return service.deps
