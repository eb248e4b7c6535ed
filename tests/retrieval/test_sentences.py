"""Sentence vectors stored with the index (retrieval.sentences): one per sentence the extractive generator splits,
from the right encoder per language, kept in step with the chunks through re-ingest and deletion, and what they
change in the extractive answer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from graph.deps import VectorCache
from graph.generators.extractive import select
from retrieval.ingest import delete_documents, ingest
from retrieval.search import KnowledgeBase
from retrieval.sentences import EMBEDDER, USE, SentenceScorer, sentence_texts
from retrieval.store import read_version


def _check_aligned(index: Path) -> KnowledgeBase:
    """Every chunk has one unit vector per sentence, from USE for a Spanish chunk and the embedder otherwise, and
    each is the vector of that sentence."""
    kb = KnowledgeBase.open(index)
    for chunk_id, lang, text in zip(kb.data.chunk_ids, kb.data.chunk_langs, kb.data.chunk_texts, strict=True):
        found = kb.sentence_vectors(chunk_id)
        assert found is not None
        name, vectors = found
        assert name == (USE if lang == "es" else EMBEDDER) and len(vectors) == len(sentence_texts(text))
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    row = next(i for i, lang in enumerate(kb.data.chunk_langs) if lang == "en")
    first = sentence_texts(kb.data.chunk_texts[row])[0]
    stored = kb.sentence_vectors(kb.data.chunk_ids[row])
    assert stored is not None and float(stored[1][0] @ kb.embedder.encode([first])[0]) > 0.999
    return kb


def test_stored_vectors_follow_the_chunks_through_reingest_and_delete(index: Path, small_kb: Path,
                                                                    tmp_path: Path) -> None:  # fmt: skip
    _check_aligned(index)
    before = read_version(index, with_search=False).sentences
    assert before is not None
    changed = tmp_path / "changed.jsonl"
    record = {"id": "get-invoice-en", "lang": "en", "title": "Invoices", "tags": ["invoices"],
              "text": "Invoices now come by carrier pigeon. Ask for one in Account > Orders."}  # fmt: skip
    changed.write_text(json.dumps(record) + "\n")
    ingest([changed], index)
    kb = _check_aligned(index)
    row = kb.rows_of["get-invoice-en"][0]
    assert sentence_texts(kb.data.chunk_texts[row])[0] == "Invoices now come by carrier pigeon."
    delete_documents(index, ["track-order-en", "return-policy-es"])
    _check_aligned(index)


def test_an_index_without_them_answers_by_words(index: Path) -> None:
    version = next(index.glob("v-*"))
    for name in ("sentence-spans.npy", "sentences.npy", "sentences-use.npy"):
        (version / name).unlink()
    kb = KnowledgeBase.open(index)
    assert kb.sentence_vectors(kb.data.chunk_ids[0]) is None
    scorer = SentenceScorer(kb, VectorCache(kb.embedder.encode))
    assert scorer("how do I return an item?", kb.data.chunk_ids[0]) is None


def test_the_sentence_that_answers_in_other_words_is_picked(bundled_index: Path, tmp_path: Path) -> None:
    """From the dev conversations (benchmarks/conversations.py): the answering sentence shares no content word with
    the question, and word overlap alone picked the article's opening instead."""
    index = tmp_path / "index"
    shutil.copytree(bundled_index, index)
    kb = KnowledgeBase.open(index)
    scorer = SentenceScorer(kb, VectorCache(kb.embedder.encode))

    def passage(words: str) -> dict[str, str]:
        row = next(i for i, text in enumerate(kb.data.chunk_texts) if words in text)
        return {"lang": kb.data.chunk_langs[row], "chunk_id": kb.data.chunk_ids[row], "text": kb.data.chunk_texts[row]}

    cases = [
        ("i also put the wrong birthday when I signed up", "en", "date of birth can only be changed once"),
        ("se puede pagar a plazos? y si un mes no puedo pagar el plazo que pasa", "es", "recargo por impago"),
    ]
    for question, lang, answer in cases:
        chunk = passage(answer)
        assert not any(answer in s for _, _, s in select(question, [chunk], lang))
        assert any(answer in s for _, _, s in select(question, [chunk], lang, scorer))
