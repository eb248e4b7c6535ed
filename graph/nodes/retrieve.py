"""Retrieve the passages for the query (hybrid dense + BM25 search), in the customer's language first."""

from __future__ import annotations

from typing import Any

from graph.deps import Deps
from graph.nodes.detect_language import query_language
from graph.state import ChatState


def run(state: ChatState, deps: Deps) -> dict[str, Any]:
    """Search with the cached query vector; passages are the contract's source dicts. The extractive generator also
    reads more of the top article (:func:`_with_article`).

    A language-model generator reads the top ``llm_passages`` when set (for instance as many as its RAFT examples
    showed in training, ``data prepare --raft-k``), and the output rails check its answer against exactly those.
    Off by default: three instead of five passages for the shipped adapter did not carry from the dev questions to
    the test split (docs/finetune.md, "Copy bias and three passages")."""
    query, lang = state.get("query", ""), state.get("lang", "en")
    results = deps.kb.search_vector(
        query, deps.embed(query), k=deps.config.k, query_lang=query_language(state), prefer=lang
    )
    if deps.config.llm_passages and state.get("generator", "extractive") != "extractive":
        results = results[: deps.config.llm_passages]
    passages = [
        {"doc_id": r.doc_id, "chunk_id": r.chunk_id, "title": r.title, "url": r.url, "lang": r.lang,
         "score": r.score, "dense_score": r.dense_score, "text": r.text}
        for r in results
    ]  # fmt: skip
    if passages and deps.config.article_chunks and state.get("generator", "extractive") == "extractive":
        passages = _with_article(passages, deps)
    return {"passages": passages}


def _with_article(passages: list[dict[str, Any]], deps: Deps) -> list[dict[str, Any]]:
    """The passages with, after the first, up to ``article_chunks`` more chunks of its article in the article's
    order: the search shows each article by its best chunk, and that was often not the one that answers. "me habéis
    cobrado dos veces" found *Cobro duplicado* by its chunk on ordering twice by mistake, and the answer quoted a
    payment-plan and a delivery article; the opening chunk says what to do about two charges. On the QA dev split
    extractive chrF 0.358 -> 0.373 (docs/graph.md, "The top article's other chunks")."""
    chunks = deps.kb.article_chunks(passages[0]["doc_id"]) if hasattr(deps.kb, "article_chunks") else []
    top = passages[0]
    more = [{**top, "chunk_id": chunk_id, "text": text} for chunk_id, text in chunks if chunk_id != top["chunk_id"]]
    return [top, *more[: deps.config.article_chunks], *passages[1:]]
