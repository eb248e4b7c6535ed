"""BM25 with language-aware analysis: Snowball stemming and stopwords for Spanish and English (bm25s)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.language import LANGS, strip_accents
from retrieval.text import WORD, bm25_stopwords, stem_words


def analyze(text: str, lang: str, also_stop: frozenset[str] = frozenset()) -> list[str]:
    """Lower-case, drop stopwords, stem with the language's Snowball stemmer, then drop accents."""
    stop = bm25_stopwords(lang) | also_stop
    words = [w for w in WORD.findall(text.lower()) if strip_accents(w) not in stop]
    return stem_words(words, lang)


def analyze_query(text: str, lang: str | None) -> list[str]:
    """Query terms: analysed in the detected language, plus the other language's analysis for code-switching."""
    langs = [lang] if lang in LANGS else []
    langs += [other for other in LANGS if other not in langs]
    terms: list[str] = []
    for current in langs:
        # The secondary pass drops the primary language's stopwords too ("de", "mi" are not English content).
        terms.extend(t for t in analyze(text, current, bm25_stopwords(langs[0])) if t not in terms)
    return terms


class LexicalIndex:
    """A BM25 index over chunk texts, each analysed in its own language."""

    def __init__(self, retriever: Any, size: int) -> None:
        self.retriever = retriever
        self.size = size
        self.vocab: set[str] = set(retriever.vocab_dict) if size else set()

    @classmethod
    def build(cls, texts: list[str], langs: list[str]) -> LexicalIndex:
        """Index ``texts`` (``langs[i]`` is the language of ``texts[i]``)."""
        import bm25s

        retriever = bm25s.BM25()
        if texts:
            corpus = [analyze(t, lang) or ["<empty>"] for t, lang in zip(texts, langs, strict=True)]
            retriever.index(corpus, show_progress=False)
        return cls(retriever, len(texts))

    def search(
        self, query: str, lang: str | None, k: int, extra_terms: list[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and BM25 scores of the best ``k`` chunks (score > 0 only).

        ``extra_terms`` are already-analysed terms to add (the query's translations, see retrieval.lexicon).
        """
        terms = analyze_query(query, lang)
        terms += [t for t in extra_terms or [] if t not in terms]
        terms = [t for t in terms if t in self.vocab]
        if not terms or self.size == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows, scores = self.retriever.retrieve([terms], k=min(k, self.size), show_progress=False)
        keep = scores[0] > 0
        return rows[0][keep].astype(np.int64), scores[0][keep].astype(np.float32)

    def save(self, folder: Path) -> None:
        """Write the index into ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        if self.size:
            self.retriever.save(str(folder), show_progress=False)
        (folder / "size.json").write_text(json.dumps({"size": self.size}))

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        """Read an index written by :meth:`save`."""
        import bm25s

        size = json.loads((folder / "size.json").read_text())["size"]
        retriever = bm25s.BM25.load(str(folder)) if size else bm25s.BM25()
        return cls(retriever, size)
