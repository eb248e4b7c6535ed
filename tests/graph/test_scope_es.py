"""The scope rail on the Elasticsearch backend: fitted from the articles and chunks an ES index holds.

Without a server: the ``_source`` records that ``retrieval.es_backend`` bulk-indexes (built by its own
``article_actions`` / ``chunk_actions`` from the bundled index) are turned into scope material and fitted, with and
without the chunk vectors (ES 9 may leave them out of ``_source``). With ``SUPPORTBOT_ES_URL``: the graph's service
on a real index fits the rail from the server and refuses an off-topic message."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from graph.scope import fit_scope
from graph.scope_kb import content_key, es_material
from retrieval.chunking import Chunk
from retrieval.es_backend import article_actions, chunk_actions
from retrieval.store import read_version

ES_URL = os.environ.get("SUPPORTBOT_ES_URL")


def _es_sources(index: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any]:
    """What an ES ingest of ``index`` would store: (article sources, chunk sources, the local IndexData)."""
    data = read_version(index, with_search=False)
    docs = list(data.documents.values())
    verdicts = [(d, d.duplicate_of, np.zeros(4, np.float32)) for d in docs]
    articles = [a["_source"] for a in article_actions("kb-docs", verdicts)]
    rows = []
    for i, (chunk_id, doc_id) in enumerate(zip(data.chunk_ids, data.chunk_doc_ids, strict=True)):
        chunk = Chunk(chunk_id, doc_id, i, data.chunk_texts[i])
        use = data.multilingual[i] if data.multilingual is not None else None
        rows.append((data.documents[doc_id], chunk, data.chunk_langs[i], data.vectors[i], use))
    chunks = [a["_source"] for a in chunk_actions("kb", rows)]
    return articles, chunks, data


def test_es_sources_give_the_local_index_material(bundled_index: Path, deps: Any) -> None:
    articles, chunks, data = _es_sources(bundled_index)
    material = es_material(articles, chunks, deps.kb.embedder.encode)
    assert set(material.documents) == set(data.documents)
    assert material.vectors.shape == data.vectors.shape and material.meta["reembedded"] == 0
    assert material.multilingual is not None and np.allclose(material.multilingual, data.multilingual)
    no_use = [{k: v for k, v in c.items() if k != "use_vector"} for c in chunks[:5]]
    assert es_material(articles, no_use, deps.kb.embedder.encode).multilingual is None  # then the fit encodes them
    assert np.allclose(np.sort(material.vectors.sum(axis=1)), np.sort(data.vectors.sum(axis=1)), atol=1e-4)
    # Without the vectors in _source (ES 9): the chunks are embedded again, as ingest embedded them.
    bare = [{k: v for k, v in c.items() if k != "vector"} for c in chunks[:12]]
    again = es_material(articles, bare, deps.kb.embedder.encode)
    assert again.meta["reembedded"] == 12
    by_id = dict(zip(data.chunk_ids, data.vectors, strict=True))
    expected = np.stack([by_id[c["chunk_id"]] for c in bare])
    assert np.allclose(np.sum(again.vectors * expected, axis=1), 1.0, atol=1e-3)
    # The cache key follows the articles' content.
    changed = [dict(a, content_hash="x") if i == 0 else a for i, a in enumerate(articles)]
    assert content_key(articles) == content_key(list(reversed(articles))) != content_key(changed)


def test_scope_fitted_from_es_sources_separates_like_the_local_one(bundled_index: Path, deps: Any) -> None:
    articles, chunks, _ = _es_sources(bundled_index)
    encode = deps.kb.embedder.encode
    # the cache folder load_or_fit_es uses (per embedder): the texts the local fit embedded are not embedded again
    cache = deps.config.cache_dir / "scope" / deps.kb.embedder.name.replace("/", "_")
    model = fit_scope(es_material(articles, chunks, encode), encode, cache=cache)
    texts = ["how long does a refund take to reach my card?", "¿cuánto tarda el reembolso?",
             "who won the football world cup in 1998?", "dame una receta de paella"]  # fmt: skip
    langs = ["en", "es", "en", "es"]
    probs = model.probabilities(encode(texts), texts, langs)
    verdicts = [p >= model.threshold(lang) for p, lang in zip(probs, langs, strict=True)]
    assert verdicts == [True, True, False, False], (probs, model.thresholds)


@pytest.mark.skipif(not ES_URL, reason="SUPPORTBOT_ES_URL not set: no Elasticsearch server to test against")
def test_the_graph_on_elasticsearch_has_a_scope_rail(tmp_path: Path) -> None:
    from graph.config import GraphConfig
    from graph.service import ChatService
    from retrieval.backends import ingest_knowledge_base
    from retrieval.es_backend import es_drop
    from tests.conftest import DATA
    from tests.graph.conftest import HOME

    name = f"scope-test-{uuid.uuid4().hex[:8]}"
    ingest_knowledge_base("elasticsearch", [DATA / "kb"], name, es_url=ES_URL, cache_dir=HOME)
    try:
        config = GraphConfig(index_dir=name, search_backend="elasticsearch", es_url=ES_URL, cache_dir=HOME,  # type: ignore[arg-type]
                             checkpoint_db=tmp_path / "c.sqlite", store_db=tmp_path / "s.sqlite")  # fmt: skip
        service = ChatService(config)
        assert service.deps.scope is not None and list((HOME / "scope" / "es" / name).glob("scope-*.npz"))
        off = service.chat("who won the football world cup in 1998?", mode="rag")
        assert off["route"] == "out_of_scope", off
        on = service.chat("how long does a refund take?", mode="rag")
        assert on["guardrails"]["scope"]["in_scope"], on
        service.close()
    finally:
        es_drop(ES_URL, name)
