"""Retrieve the passages for the query (hybrid dense + BM25 search), in the customer's language first."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Search with the cached query vector; passages are the contract's source dicts."""
    query, lang = state.get("query", ""), state.get("lang", "en")
    results = deps.kb.search_vector(query, deps.embed(query), k=deps.config.k, query_lang=lang)
    passages = [
        {"doc_id": r.doc_id, "chunk_id": r.chunk_id, "title": r.title, "url": r.url, "lang": r.lang,
         "score": r.score, "dense_score": r.dense_score, "text": r.text}
        for r in results
    ]  # fmt: skip
    return {"passages": passages}
