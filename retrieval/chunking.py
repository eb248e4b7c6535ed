"""Split documents into retrieval chunks: by paragraph, then by sentence, under a size limit, with overlap."""

from __future__ import annotations

from dataclasses import dataclass

from retrieval.documents import Document
from retrieval.text import split_sentences


@dataclass(frozen=True)
class Chunk:
    """A piece of a document that is embedded and indexed on its own."""

    chunk_id: str
    doc_id: str
    position: int
    text: str


def _hard_wrap(sentence: str, max_chars: int) -> list[str]:
    words, pieces, current = sentence.split(), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > max_chars:
            pieces.append(current)
            current = word
        else:
            current = f"{current} {word}".strip()
    if current:
        pieces.append(current)
    return pieces


def chunk_document(document: Document, max_chars: int = 800, overlap_sentences: int = 1) -> list[Chunk]:
    """Pack whole paragraphs into chunks of at most ``max_chars``; split long paragraphs by sentence.

    Consecutive chunks of one paragraph share ``overlap_sentences`` sentences so that an answer spanning the
    boundary is still found in one chunk.
    """
    if max_chars < 50:
        raise ValueError("max_chars must be at least 50")
    units: list[list[str]] = []  # paragraphs as lists of sentences
    for paragraph in document.text.split("\n\n"):
        sentences = []
        for sentence in split_sentences(paragraph):
            sentences.extend(_hard_wrap(sentence, max_chars) if len(sentence) > max_chars else [sentence])
        if sentences:
            units.append(sentences)

    texts: list[str] = []
    current = ""
    for sentences in units:
        paragraph = " ".join(sentences)
        if len(paragraph) <= max_chars:
            if current and len(current) + 2 + len(paragraph) > max_chars:
                texts.append(current)
                current = ""
            current = f"{current}\n\n{paragraph}" if current else paragraph
            continue
        if current:
            texts.append(current)
            current = ""
        window: list[str] = []
        for sentence in sentences:
            if window and len(" ".join([*window, sentence])) > max_chars:
                texts.append(" ".join(window))
                window = window[-overlap_sentences:] if overlap_sentences else []
                if window and len(" ".join([*window, sentence])) > max_chars:
                    window = []
            window.append(sentence)
        current = " ".join(window)
    if current:
        texts.append(current)
    return [Chunk(f"{document.id}#{i}", document.id, i, text) for i, text in enumerate(texts)]
