"""Fusion of the dense and lexical (BM25) chunk rankings into one score per chunk.

Shared by every backend so that they rank alike. Two methods:

- ``rrf``: weighted reciprocal rank fusion, ``sum(w / (k + rank))``. It sees only ranks, so a BM25 hit far ahead
  of the rest counts no more than a narrow win, and a chunk second in both lists beats one first in a single list.
- ``minmax`` (the default): a convex combination of min-max normalised scores, ``w_d * d' + w_l * l'``, where each
  list's scores are scaled to [0, 1] over its own candidates and a chunk absent from a list gets 0 there. The size
  of a retriever's lead survives fusion. A small rank bonus, ``b * w * k / (k + rank)`` per list (at most ``b * w``,
  b = 0.02), breaks near-ties in favour of the chunk ranked higher; it changes no clear win. Chosen on the dev
  corpora of ``benchmarks/retrieval_corpora.py`` (docs/retrieval.md: "Choosing the fusion").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METHODS = ("minmax", "rrf")
RANK_BONUS = 0.02  # minmax's tie-breaking rank bonus, as a share of each list's weight (docs/retrieval.md)


@dataclass
class Signals:
    """One query's candidate chunks from each retriever, best first, with their raw scores."""

    dense_rows: np.ndarray
    dense_scores: np.ndarray  # cosine similarities
    lexical_rows: np.ndarray
    lexical_scores: np.ndarray  # BM25 scores (> 0)
    qlang: str | None = None
    cross: bool = False  # few indexed articles are in the query's language: BM25 with translations carries it


def rrf(rankings: list[tuple[np.ndarray, float]], k: int) -> dict[int, float]:
    """Reciprocal rank fusion: sum over rankings of weight / (k + rank), rank starting at 1."""
    fused: dict[int, float] = {}
    for rows, weight in rankings:
        for rank, row in enumerate(rows, start=1):
            fused[int(row)] = fused.get(int(row), 0.0) + weight / (k + rank)
    return fused


def minmax(scores: np.ndarray) -> np.ndarray:
    """Scores scaled to [0, 1] over this list; a list of equal scores (or of one) scales to all ones."""
    if len(scores) == 0:
        return scores.astype(np.float64)
    low, high = float(np.min(scores)), float(np.max(scores))
    if high - low <= 1e-12:
        return np.ones(len(scores))
    return (scores.astype(np.float64) - low) / (high - low)


def fuse(
    signals: Signals,
    weights: tuple[float, float],
    method: str = "minmax",
    rrf_k: int = 60,
    rank_bonus: float = RANK_BONUS,
) -> dict[int, float]:
    """Chunk row -> fused score of the dense and lexical candidates in ``signals``.

    Args:
        signals: the two rankings with their scores.
        weights: (dense, lexical) weights, both >= 0.
        method: ``minmax`` (normalised-score convex combination) or ``rrf`` (reciprocal rank fusion).
        rrf_k: the RRF constant (``rrf``, and ``minmax``'s rank bonus).
        rank_bonus: ``minmax`` only: each list adds ``rank_bonus * weight * rrf_k / (rrf_k + rank)``; 0 disables.

    Raises:
        ValueError: an unknown method.
    """
    dense_weight, lexical_weight = weights
    match method:
        case "rrf":
            return rrf([(signals.dense_rows, dense_weight), (signals.lexical_rows, lexical_weight)], rrf_k)
        case "minmax":
            fused: dict[int, float] = {}
            for rows, scores, weight in (
                (signals.dense_rows, signals.dense_scores, dense_weight),
                (signals.lexical_rows, signals.lexical_scores, lexical_weight),
            ):
                for rank, (row, value) in enumerate(zip(rows, minmax(scores), strict=True), start=1):
                    bonus = rank_bonus * rrf_k / (rrf_k + rank)
                    fused[int(row)] = fused.get(int(row), 0.0) + weight * (float(value) + bonus)
            return fused
        case _:
            raise ValueError(f"unknown fusion method {method!r}: use one of {', '.join(METHODS)}")
