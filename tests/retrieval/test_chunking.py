"""Chunking by paragraph and sentence, with a size limit and sentence overlap."""

from __future__ import annotations

from itertools import pairwise

from retrieval.chunking import chunk_document
from retrieval.documents import Document
from retrieval.text import split_sentences


def test_short_paragraphs_are_packed_together() -> None:
    doc = Document(id="d", text="First paragraph.\n\nSecond paragraph.")
    [chunk] = chunk_document(doc, max_chars=200)
    assert chunk.text == "First paragraph.\n\nSecond paragraph." and chunk.chunk_id == "d#0"


def test_long_paragraphs_split_by_sentence_with_overlap_and_limit() -> None:
    sentences = [f"Sentence number {i} says something useful about refunds." for i in range(20)]
    doc = Document(id="d", text=" ".join(sentences))
    chunks = chunk_document(doc, max_chars=200, overlap_sentences=1)
    assert len(chunks) > 3
    assert all(len(c.text) <= 200 for c in chunks)
    for before, after in pairwise(chunks):
        assert split_sentences(before.text)[-1] == split_sentences(after.text)[0]
    covered = " ".join(c.text for c in chunks)
    assert all(s in covered for s in sentences)


def test_a_sentence_longer_than_the_limit_is_wrapped_by_words() -> None:
    doc = Document(id="d", text="word " * 300)
    chunks = chunk_document(doc, max_chars=120)
    assert all(len(c.text) <= 120 for c in chunks) and sum(len(c.text.split()) for c in chunks) >= 300


def test_spanish_sentence_boundaries() -> None:
    assert split_sentences("¿Cuánto tarda? Tarda 3 días. ¡Genial!") == ["¿Cuánto tarda?", "Tarda 3 días.", "¡Genial!"]
