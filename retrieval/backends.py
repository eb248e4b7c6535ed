"""Where the knowledge base lives: the local FAISS index (default) or Elasticsearch, chosen here and nowhere else.

``index`` names the knowledge base in the backend's terms: a folder for FAISS, an index name for Elasticsearch.
Each backend's heavy dependencies are imported inside its branch.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from retrieval.config import RetrievalConfig
from retrieval.ingest import Progress, silent
from retrieval.search import SearchResult

BACKENDS = ("faiss", "elasticsearch")


class SearchableKnowledgeBase(Protocol):
    """What callers of either backend may rely on."""

    @property
    def size(self) -> int:
        """Number of indexed chunks."""
        ...

    def search(
        self,
        query: str,
        k: int = 5,
        lang: str | None = None,
        tags: list[str] | None = None,
        query_lang: str | None = None,
    ) -> list[SearchResult]:
        """The ``k`` best articles for ``query``."""
        ...

    def search_vector(
        self,
        query: str,
        vector: np.ndarray,
        k: int = 5,
        lang: str | None = None,
        tags: list[str] | None = None,
        query_lang: str | None = None,
    ) -> list[SearchResult]:
        """:meth:`search` with the query already embedded."""
        ...

    def search_batch(self, queries: list[str], k: int = 5) -> list[list[SearchResult]]:
        """Search many queries."""
        ...

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """A stored article by id (None when unknown)."""
        ...


def _es_url(es_url: str | None) -> str:
    if not es_url:
        raise ValueError("search_backend 'elasticsearch' needs a server URL: set SUPPORTBOT_ES_URL")
    return es_url


def _unknown(search_backend: str) -> ValueError:
    return ValueError(f"unknown search backend {search_backend!r}: use one of {', '.join(BACKENDS)}")


def open_knowledge_base(
    search_backend: str,
    index: str | Path,
    *,
    es_url: str | None = None,
    cache_dir: Path | None = None,
    config: RetrievalConfig | None = None,
) -> SearchableKnowledgeBase:
    """Open the knowledge base ``index`` of ``search_backend`` (``faiss`` or ``elasticsearch``) for searching.

    Args:
        search_backend: ``faiss`` (local folder) or ``elasticsearch``.
        index: the index folder (faiss) or the Elasticsearch index name.
        es_url: the Elasticsearch URL (required by ``elasticsearch``).
        cache_dir: where the embedder caches exports (the data home).
        config: search-time overrides of the stored retrieval config; the embedder is always the stored one.

    Raises:
        ValueError: an unknown backend, or ``elasticsearch`` without a URL.
    """
    match search_backend:
        case "faiss":
            from retrieval.search import KnowledgeBase

            return KnowledgeBase.open(Path(index), cache_dir=cache_dir, config=config)
        case "elasticsearch":
            from retrieval.es_backend import EsKnowledgeBase

            return EsKnowledgeBase.open(_es_url(es_url), str(index), cache_dir=cache_dir, config=config)
        case _:
            raise _unknown(search_backend)


def ingest_knowledge_base(
    search_backend: str,
    paths: Sequence[Path],
    index: str | Path,
    *,
    es_url: str | None = None,
    config: RetrievalConfig | None = None,
    replace: bool = False,
    cache_dir: Path | None = None,
    progress: Progress = silent,
) -> dict[str, Any]:
    """Build or update the knowledge base ``index`` from ``paths``; the same report from either backend.

    ``skipped`` in the report lists the files inside the input folders that were not read for their extension.
    """
    from retrieval.documents import skipped_input_files

    match search_backend:
        case "faiss":
            from retrieval.ingest import ingest

            report = ingest(paths, Path(index), config, replace=replace, cache_dir=cache_dir, progress=progress)
        case "elasticsearch":
            from retrieval.es_backend import es_ingest

            report = es_ingest(paths, _es_url(es_url), str(index), config, replace, cache_dir, progress)
        case _:
            raise _unknown(search_backend)
    return {**report, "skipped": [str(p) for p in skipped_input_files(paths)]}


def delete_from_knowledge_base(
    search_backend: str,
    index: str | Path,
    doc_ids: Sequence[str],
    *,
    es_url: str | None = None,
    cache_dir: Path | None = None,
) -> dict[str, Any]:
    """Remove articles by id; unknown ids are an error and nothing is changed. With FAISS, the duplicates dropped in
    favour of a deleted article are judged again (one takes its place: ``restored``), embedded with the data home
    ``cache_dir``'s copy of the embedder."""
    match search_backend:
        case "faiss":
            from retrieval.ingest import delete_documents

            return delete_documents(Path(index), doc_ids, cache_dir=cache_dir)
        case "elasticsearch":
            from retrieval.es_backend import es_delete

            return es_delete(_es_url(es_url), str(index), doc_ids)
        case _:
            raise _unknown(search_backend)
