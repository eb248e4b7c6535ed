"""Retrieve the passages for the query (hybrid dense + BM25 search), in the customer's language first."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Search with the cached query vector; passages are the contract's source dicts.

    A language-model generator reads the top ``llm_passages`` when set (for instance as many as its RAFT examples
    showed in training, ``data prepare --raft-k``), and the output rails check its answer against exactly those.
    Off by default: three instead of five passages for the shipped adapter did not carry from the dev questions to
    the test split (docs/finetune.md, "Copy bias and three passages")."""
    query, lang = state.get("query", ""), state.get("lang", "en")
    results = deps.kb.search_vector(query, deps.embed(query), k=deps.config.k, query_lang=lang)
    if deps.config.llm_passages and state.get("generator", "extractive") != "extractive":
        results = results[: deps.config.llm_passages]
    passages = [
        {"doc_id": r.doc_id, "chunk_id": r.chunk_id, "title": r.title, "url": r.url, "lang": r.lang,
         "score": r.score, "dense_score": r.dense_score, "text": r.text}
        for r in results
    ]  # fmt: skip
    return {"passages": passages}
