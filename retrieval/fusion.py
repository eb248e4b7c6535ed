"""Fusion of the dense and lexical (BM25) chunk rankings, and of the articles whose titles are nearest the query,
into one score per chunk.

Shared by every backend so that they rank alike. Two methods:

- ``rrf``: weighted reciprocal rank fusion, ``sum(w / (k + rank))``. It sees only ranks, so a BM25 hit far ahead
  of the rest counts no more than a narrow win, and a chunk second in both lists beats one first in a single list.
- ``minmax`` (the default): per list, a min-max normalised score plus a reciprocal-rank term,
  ``w * (s' + b * (k + 1) / (k + rank))``, summed over the two lists. ``s'`` is the list's score scaled to [0, 1]
  over its own candidates (a chunk absent from a list gets nothing there), so the size of a retriever's lead
  survives fusion; the rank term (b = 0.5, k = 1: 0.5 for a list's first chunk, 0.33 for its second, 0.25 for its
  third) rewards the chunk each retriever puts first even when its score lead is a hair, which is where normalised
  scores alone flip near-ties the wrong way; exactly equal scores share a rank, so an exact tie stays a tie.
  Score and rank views of each list weigh 2:1 at the top. Chosen on the
  dev corpora of ``benchmarks/retrieval_corpora.py`` (docs/retrieval.md: "Choosing the fusion").
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

METHODS = ("minmax", "rrf")
RANK_BONUS = 0.5  # minmax's rank term for a list's first chunk, as a share of the list's weight (docs/retrieval.md)
RANK_K = 1  # minmax's rank term: b * (k + 1) / (k + rank), so the first chunk gets b and the second 2b/3


@dataclass
class Signals:
    """One query's candidate chunks from each retriever, best first, with their raw scores."""

    dense_rows: np.ndarray
    dense_scores: np.ndarray  # cosine similarities
    lexical_rows: np.ndarray
    lexical_scores: np.ndarray  # BM25 scores (> 0)
    qlang: str | None = None
    cross: bool = False  # few indexed articles are in the query's language: BM25 with translations carries it
    bilingual: bool = False  # the embedder maps es and en into one space (a `kb distill` student)
    multilingual: bool = False  # the dense list came from USE multilingual v3, not the index's embedder
    # the articles whose titles are nearest the query (each as its best chunk's row), by the same embedder as the
    # dense list: a short question ("my order hasn't arrived yet") reads like a title ("My order is late") more
    # than like any 700-character chunk of the article
    title_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    title_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # cosine similarities
    # a partly translated index: the USE multilingual list of a query whose dense list is the index's (English-only)
    # embedder, scored over every chunk but counted only for the chunks of articles with no version in the query's
    # language (``foreign_keep``): the English embedder cannot read them, the other lists do not see them
    foreign_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    foreign_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))  # USE cosines
    foreign_keep: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    # and the titles by USE, likewise counted for the untranslated articles only (the title list's weight share)
    foreign_title_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    foreign_title_scores: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    foreign_title_keep: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))


def reciprocal_ranks(count: int, weight: float, k: int) -> np.ndarray:
    """RRF's term of each place of a ranking of ``count`` rows: weight / (k + rank), rank starting at 1."""
    return weight / (k + np.arange(1, count + 1, dtype=np.float64))


def _add(fused: dict[int, float], rows: np.ndarray, values: np.ndarray) -> None:
    for row, value in zip(rows.tolist(), values.tolist(), strict=True):
        fused[int(row)] = fused.get(int(row), 0.0) + value


def rrf(rankings: list[tuple[np.ndarray, float]], k: int) -> dict[int, float]:
    """Reciprocal rank fusion: sum over rankings of weight / (k + rank), rank starting at 1."""
    fused: dict[int, float] = {}
    for rows, weight in rankings:
        _add(fused, np.asarray(rows), reciprocal_ranks(len(rows), weight, k))
    return fused


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores scaled to [0, 1] over this list; a list of equal scores (or of one) scales to all ones."""
    if len(scores) == 0:
        return scores.astype(np.float64)
    low, high = float(np.min(scores)), float(np.max(scores))
    if high - low <= 1e-12:
        return np.ones(len(scores))
    return (scores.astype(np.float64) - low) / (high - low)


def tied_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, best score first, equal scores sharing the best of their ranks (1, 2, 2, 4).

    The order of exactly equal scores (BM25 often has them: two chunks matching the same query terms) is an
    accident of the index, so the rank term must not prefer one of them.
    """
    negated = -np.asarray(scores, dtype=np.float64)
    return np.searchsorted(np.sort(negated), negated, side="left").astype(np.float64) + 1.0


def fuse(
    signals: Signals,
    weights: tuple[float, float],
    method: str = "minmax",
    rrf_k: int = 60,
    rank_bonus: float = RANK_BONUS,
    rank_k: int = RANK_K,
    title_weight: float = 0.0,
    foreign_weight: float = 0.0,
) -> dict[int, float]:
    """Chunk row -> fused score of the dense, lexical and title candidates in ``signals``.

    Args:
        signals: the two rankings with their scores.
        weights: (dense, lexical) weights, both >= 0.
        method: ``minmax`` (normalised-score convex combination) or ``rrf`` (reciprocal rank fusion).
        rrf_k: the RRF constant (``rrf`` only).
        rank_bonus: ``minmax`` only: each list adds ``rank_bonus * weight * (rank_k + 1) / (rank_k + rank)``;
            0 disables.
        rank_k: ``minmax`` only: the constant of that rank term.
        title_weight: the title list's weight as a share of the dense weight (0: titles ignored).
        foreign_weight: the foreign list's weight as a share of the dense weight (0: ignored); the foreign title
            list's is that times ``title_weight``. Their kept rows are normalised and ranked among the whole list,
            so an untranslated article gains only as far as it is near the top of everything the multilingual
            encoder saw.

    Raises:
        ValueError: an unknown method.
    """
    dense_weight, lexical_weight = weights
    every = np.ones(0, bool)  # an empty mask: every row of the list counts
    scored = [
        (signals.dense_rows, signals.dense_scores, dense_weight, every),
        (signals.lexical_rows, signals.lexical_scores, lexical_weight, every),
        (signals.title_rows, signals.title_scores, title_weight * dense_weight, every),
        (signals.foreign_rows, signals.foreign_scores, foreign_weight * dense_weight, signals.foreign_keep),
        (
            signals.foreign_title_rows,
            signals.foreign_title_scores,
            title_weight * foreign_weight * dense_weight,
            signals.foreign_title_keep,
        ),
    ]
    scored = scored[:2] + [entry for entry in scored[2:] if entry[2] > 0]  # the optional lists only when weighed
    fused: dict[int, float] = {}
    for rows, scores, weight, keep in scored:
        counted = keep if len(keep) else np.ones(len(rows), bool)  # a masked list is ranked among all its rows
        match method:
            case "rrf":
                values = reciprocal_ranks(len(rows), weight, rrf_k)
            case "minmax":
                ranks = tied_ranks(scores)
                values = weight * (minmax(scores) + rank_bonus * (rank_k + 1) / (rank_k + ranks))
            case _:
                raise ValueError(f"unknown fusion method {method!r}: use one of {', '.join(METHODS)}")
        _add(fused, rows[counted], values[counted])
    return fused
