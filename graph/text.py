"""The graph's names for the shared text toolkit, :mod:`retrieval.text` (kept while modules still import them here)."""

from __future__ import annotations

from retrieval.text import STOPWORDS, clean, content_stems, cut_sentences, overlap, sentences, words

__all__ = ["STOPWORDS", "clean", "content_stems", "cut_sentences", "overlap", "sentences", "words"]
