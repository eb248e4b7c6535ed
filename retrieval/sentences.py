"""Vectors of the sentences of every chunk, stored with the index, for the extractive answer's choice of sentences
(:mod:`graph.generators.extractive`): the sentence that answers is often worded otherwise than the question ("how
long does it take to Canarias?" -> "Canarias, Ceuta y Melilla: 7-10 días"), so word overlap alone picks a
neighbouring sentence that repeats the question's words.

Each chunk's sentences (:func:`sentence_texts`: the extractive generator's split, cross-references to other articles
left out) are encoded once, at ingest: a Spanish chunk with USE multilingual v3 when the index stores its vectors
(the bundled MiniLM reads English only), every other chunk with the index's embedder. Answering then costs one dot
product per sentence: the query's vectors are the ones retrieval computed (cached). An index written before, or by
the Elasticsearch backend, has none, and answers pick sentences by their words alone. Measured in docs/graph.md
("Sentence similarity").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.text import CROSS_REFERENCE, sentence_items

EMBEDDER, USE = "embedder", "use"
ENCODERS = (EMBEDDER, USE)
FILES = {EMBEDDER: "sentences.npy", USE: "sentences-use.npy"}
SPANS_FILE = "sentence-spans.npy"  # one row per chunk: encoder (index in ENCODERS), first vector row, count

Progress = Callable[[str, int, int], None]


def sentence_texts(text: str) -> list[str]:
    """The sentences of a chunk as the extractive generator splits it, each without its cross-references."""
    return [CROSS_REFERENCE.sub(" ", sentence) for sentence, _ in sentence_items(text)]


def encoder_for(lang: str, multilingual: bool) -> str:
    """The encoder of a chunk's sentences: USE for Spanish when the index has it, else the index's embedder."""
    return USE if lang == "es" and multilingual else EMBEDDER


@dataclass
class SentenceVectors:
    """The sentence vectors of an index's chunks (row ``i`` of ``spans`` is chunk row ``i``)."""

    spans: np.ndarray  # int32 (chunks, 3): encoder number, first row in its matrix, sentence count
    matrices: dict[str, np.ndarray]  # encoder -> unit vectors

    def of(self, row: int) -> tuple[str, np.ndarray]:
        """The encoder and the sentence vectors of chunk ``row``."""
        encoder, start, count = (int(v) for v in self.spans[row])
        name = ENCODERS[encoder]
        return name, self.matrices[name][start : start + count]

    def rows(self, rows: Sequence[int]) -> SentenceVectors:
        """The vectors of the chunks at ``rows`` only, in that order (chunks removed from an index)."""
        parts: dict[str, list[np.ndarray]] = {name: [] for name in self.matrices}
        spans, next_row = np.zeros((len(rows), 3), np.int32), dict.fromkeys(self.matrices, 0)
        for i, row in enumerate(rows):
            name, vectors = self.of(row)
            spans[i] = (ENCODERS.index(name), next_row[name], len(vectors))
            parts[name].append(vectors)
            next_row[name] += len(vectors)
        return SentenceVectors(spans, {name: _stack(parts[name], m.shape[1]) for name, m in self.matrices.items()})

    def save(self, folder: Path) -> None:
        """Write the arrays into an index version's folder."""
        np.save(folder / SPANS_FILE, self.spans)
        for name, matrix in self.matrices.items():
            np.save(folder / FILES[name], matrix)

    @classmethod
    def load(cls, folder: Path, chunks: int) -> SentenceVectors | None:
        """The vectors of an index version (None when it has none, or they do not match its ``chunks``)."""
        if not (folder / SPANS_FILE).is_file():
            return None
        spans = np.load(folder / SPANS_FILE)
        matrices = {name: np.load(folder / FILES[name], mmap_mode="r") for name in ENCODERS
                    if (folder / FILES[name]).is_file()}  # fmt: skip
        if len(spans) != chunks or any(ENCODERS[int(e)] not in matrices for e in set(spans[:, 0].tolist())):
            return None
        return cls(spans, matrices)


class SentenceScorer:
    """The cosines of a question with the sentences of one chunk, from the vectors its index stores."""

    def __init__(self, kb: Any, embed_query: Callable[[str], np.ndarray]) -> None:
        """``kb``: a knowledge base (one without ``sentence_vectors``, Elasticsearch's, scores nothing);
        ``embed_query``: the index embedder's unit vector of a text (the cache retrieval fills)."""
        self.kb, self.embed_query = kb, embed_query

    def __call__(self, question: str, chunk_id: str) -> tuple[str, np.ndarray] | None:
        """The encoder and one cosine per sentence of the chunk (:func:`sentence_texts` order); None without
        vectors."""
        found = self.kb.sentence_vectors(chunk_id) if hasattr(self.kb, "sentence_vectors") else None
        if found is None or not question.strip():
            return None
        name, vectors = found
        if name == USE:
            from retrieval.multilingual import encode

            query = encode([question])[0]
        else:
            query = self.embed_query(question)
        return name, np.asarray(vectors, np.float32) @ np.asarray(query, np.float32)


def _stack(parts: list[np.ndarray], dim: int) -> np.ndarray:
    return np.vstack(parts).astype(np.float32) if parts else np.zeros((0, dim), np.float32)


def build(
    chunks: Sequence[tuple[str, str]], encoders: dict[str, tuple[Callable[[list[str]], np.ndarray], int]],
    previous: SentenceVectors | None, previous_chunks: Sequence[tuple[str, str]], multilingual: bool,
    progress: Progress,
) -> SentenceVectors:  # fmt: skip
    """Encode the sentences of ``chunks`` ((lang, text) per chunk row), reusing the previous version's vector of a
    sentence encoded by the same encoder.

    Args:
        chunks: the chunks of the new version, in row order.
        encoders: encoder name -> (a function from texts to unit vectors, their dimension); both when
            ``multilingual``.
        previous: the previous version's vectors, if any; ``previous_chunks`` its chunks.
        multilingual: whether Spanish chunks are encoded with USE.
        progress: called as ("sentences", done, total).
    """
    known: dict[tuple[str, str], np.ndarray] = {}
    if previous is not None:
        for row, (_, text) in enumerate(previous_chunks):
            name, vectors = previous.of(row)
            known.update(((name, s), v) for s, v in zip(sentence_texts(text), vectors, strict=False))
    wanted: dict[str, list[str]] = {name: [] for name in encoders}
    spans, filled = np.zeros((len(chunks), 3), np.int32), dict.fromkeys(encoders, 0)
    plan: list[tuple[str, list[str]]] = []
    for row, (lang, text) in enumerate(chunks):
        name = encoder_for(lang, multilingual)
        texts = sentence_texts(text)
        spans[row] = (ENCODERS.index(name), filled[name], len(texts))
        filled[name] += len(texts)
        plan.append((name, texts))
        wanted[name] += [t for t in texts if (name, t) not in known]
    missing = {name: list(dict.fromkeys(texts)) for name, texts in wanted.items()}
    total, done, batch = sum(len(t) for t in missing.values()), 0, 64
    for name, texts in missing.items():
        for start in range(0, len(texts), batch):
            part = texts[start : start + batch]
            known.update(((name, t), v) for t, v in zip(part, encoders[name][0](part), strict=True))
            done += len(part)
            progress("sentences", done, total)
    matrices: dict[str, np.ndarray] = {}
    for name, (_, dim) in encoders.items():
        rows = [known[(name, t)] for n, texts in plan if n == name for t in texts]
        matrices[name] = np.asarray(rows, np.float32).reshape(len(rows), dim)
    return SentenceVectors(spans, matrices)
