"""``kb dedup``: the duplicate report for a set of inputs, without building an index."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.chunking import chunk_document
from retrieval.config import RetrievalConfig
from retrieval.dedup import DedupItem, find_duplicates
from retrieval.documents import load_documents
from retrieval.embeddings import load_embedder
from retrieval.language import detect_language


def dedup_paths(paths: Sequence[Path], config: RetrievalConfig, cache_dir: Path | None = None) -> dict[str, Any]:
    """Load ``paths`` and report exact, near and semantic duplicates (document vectors = mean of chunk vectors)."""
    documents = load_documents(paths)
    for document in documents:
        document.lang = document.lang or detect_language(f"{document.title}\n{document.text}", default="en")
    embedder = load_embedder(config.embedder, config.embedder_backend, cache_dir)
    vectors = np.zeros((len(documents), embedder.dim), dtype=np.float32)
    for i, document in enumerate(documents):
        chunks = chunk_document(document, config.chunk_max_chars, config.chunk_overlap_sentences)
        mean = embedder.encode([f"{document.title}\n{c.text}" for c in chunks]).mean(axis=0)
        vectors[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    items = [DedupItem(d.id, d.text, d.lang, d.updated, d.translation_of) for d in documents]
    report = find_duplicates(
        items,
        vectors,
        config.jaccard_threshold,
        config.cosine_threshold,
        config.minhash_perm,
        review_cosine=config.review_cosine,
    )
    return {"documents": len(documents), **report.to_dict()}
