"""Shared fixtures of the evaluation tests: the bundled embedder, loaded once."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The bundled sentence embedder the similarity KPIs use."""
    from retrieval.embeddings import load_embedder

    return load_embedder()
