"""Turn chat results ("turns") into KPI measurement rows, suite by suite.

A turn is one message sent to one mode: ``{suite, id, mode, lang, message, answer, route, sources,
latency_ms, node_latency_ms, tokens_generated, error, meta}``, where ``meta`` holds the suite's labels
(reference, gold_ids, in_scope, expected_route, group, variant...). Per-turn scores are also written back into
``turn["scores"]`` so the details file shows why a turn scored what it did.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from evaluation import metrics
from evaluation.kpis import row
from retrieval.dedup import jaccard

Turn = dict[str, Any]


class CachedEmbedder:
    """Wraps an embedder so each distinct text is encoded once (answers repeat across modes, suites and pairs)."""

    def __init__(self, embedder: Any) -> None:
        self.embedder = embedder
        self.name = getattr(embedder, "name", "embedder")
        self.dim = int(getattr(embedder, "dim", 0))
        self._vectors: dict[str, np.ndarray] = {}

    def prime(self, texts: Sequence[str]) -> None:
        """Encode, in one batch, every text not seen yet."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if missing:
            for text, vector in zip(missing, self.embedder.encode(missing), strict=True):
                self._vectors[text] = np.asarray(vector, dtype=np.float32)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors of ``texts`` (from the cache when possible)."""
        self.prime(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._vectors[t] for t in texts])


def shown_passages(turn: Turn) -> list[dict[str, Any]]:
    """The passages the generator was shown (turns recorded before ``shown`` existed: their sources)."""
    return list(turn.get("shown") or turn.get("sources") or [])


def source_ids(turn: Turn) -> set[str]:
    """The article ids of the passages a turn showed the generator."""
    return {str(s.get("doc_id")) for s in shown_passages(turn) if s.get("doc_id")}


def cited_ids(turn: Turn) -> set[str]:
    """The article ids of the passages a turn's answer cites (``sources``): what the customer is pointed to, and what
    the source-agreement KPIs (paraphrases, es/en twins, bias pairs) compare."""
    return {str(s.get("doc_id")) for s in turn.get("sources") or [] if s.get("doc_id")}


def topic(doc_id: str) -> str:
    """An article's language-independent topic: ``return-policy-en`` -> ``return-policy``."""
    base, _, suffix = doc_id.rpartition("-")
    return base if suffix in ("en", "es") and base else doc_id


def item_key(turn: Turn) -> str:
    """The message a turn answered, the same in every mode (so modes are compared item by item)."""
    meta = turn.get("meta") or {}
    return f"{turn['suite']}:{turn['id']}:{meta.get('variant', '')}:{meta.get('paraphrase', '')}"


def _ok(turns: Sequence[Turn]) -> list[Turn]:
    return [t for t in turns if not t.get("error")]


def _cosines(embedder: Any, left: Sequence[str], right: Sequence[str]) -> list[float]:
    return metrics.embedding_similarity(list(left), list(right), embedder) if left else []


def score_qa(turns: Sequence[Turn], embedder: Any) -> list[dict[str, Any]]:
    """Correctness, groundedness, context recall, language match and handoff rate on reference questions."""
    qa = _ok([t for t in turns if t["suite"] == "qa"])
    sims = _cosines(embedder, [t["answer"] for t in qa], [t["meta"]["reference"] for t in qa])
    rows = []
    for turn, sim in zip(qa, sims, strict=True):
        ref, lang, mode = turn["meta"]["reference"], turn["lang"], turn["mode"]
        passages = shown_passages(turn)  # title + text, as the output rail reads them
        scores = {
            "rouge_l": metrics.rouge_l(turn["answer"], ref),
            "chrf": metrics.chrf(turn["answer"], ref),
            "embedding_similarity": sim,
            "context_recall": metrics.context_recall(source_ids(turn), turn["meta"].get("gold_ids", [])),
            "language_match": metrics.language_match(turn["answer"], lang),
            "handoff_rate": float(turn["route"] == "handoff"),
            "false_refusal_rate": float(metrics.declined(turn["route"])),
        }
        if turn["route"] == "answered":
            scores["groundedness"] = metrics.groundedness(turn["answer"], passages, lang)
            # stricter: only the passages the answer cites (all shown ones for an answer that cites none)
            scores["cited_support"] = metrics.groundedness(turn["answer"], list(turn.get("sources") or []), lang)
        turn["scores"] = scores
        rows += [row(name, mode, lang, value, item_key(turn)) for name, value in scores.items()]
    return rows


def score_scope(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Out-of-scope precision/recall/F1 (rows ``[is out of scope, was declined]``) and false refusals."""
    rows = []
    for turn in _ok([t for t in turns if t["suite"] == "scope"]):
        out_of_scope = not turn["meta"]["in_scope"]
        was_declined = metrics.declined(turn["route"])
        for name in ("oos_precision", "oos_recall", "oos_f1"):
            pair = [float(out_of_scope), float(was_declined)]
            rows.append(row(name, turn["mode"], turn["lang"], pair, item_key(turn)))
        if not out_of_scope:
            rows.append(row("false_refusal_rate", turn["mode"], turn["lang"], float(was_declined), item_key(turn)))
        turn["scores"] = {"declined": float(was_declined)}
    return rows


def score_operational(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Turn latency (p50, p95) and tokens generated, over every turn that ran."""
    rows = []
    for turn in _ok(turns):
        for name in ("latency_p50_ms", "latency_p95_ms"):
            rows.append(row(name, turn["mode"], turn["lang"], float(turn["latency_ms"]), item_key(turn)))
        tokens = float(turn.get("tokens_generated") or 0)
        rows.append(row("tokens_generated", turn["mode"], turn["lang"], tokens, item_key(turn)))
    return rows


def _mutual_similarity(vectors: np.ndarray, empty: Sequence[bool]) -> float:
    pairs = list(itertools.combinations(range(len(vectors)), 2))
    if not pairs:
        return 0.0
    values = [0.0 if empty[i] or empty[j] else float(np.clip(vectors[i] @ vectors[j], 0, 1)) for i, j in pairs]
    return float(np.mean(values))


def _mutual_jaccard(sets: Sequence[set[str]]) -> float:
    pairs = list(itertools.combinations(sets, 2))
    return float(np.mean([jaccard(a, b) for a, b in pairs])) if pairs else 0.0


def score_consistency(turns: Sequence[Turn], embedder: Any) -> list[dict[str, Any]]:
    """Paraphrase groups: same sources and similar answers; the es and en twins of a group: equivalent answers.

    Each group is one unit (its mean pairwise value), so the interval is over groups, not over paraphrases. Sources
    are the cited articles (:func:`cited_ids`). Cross-lingual units pair paraphrase i of ``cons-es-NN`` with
    paraphrase i of ``cons-en-NN``; their source agreement compares article topics, since the twins cite the same
    article in different languages.
    """
    groups: dict[tuple[str, str], list[Turn]] = defaultdict(list)
    for turn in _ok([t for t in turns if t["suite"] == "consistency"]):
        groups[(turn["mode"], turn["meta"]["group"])].append(turn)
    rows = []
    for (mode, group), members in sorted(groups.items()):
        members.sort(key=lambda t: t["meta"]["paraphrase"])
        answers = [t["answer"] for t in members]
        vectors = embedder.encode([a if a.strip() else "-" for a in answers])
        lang = members[0]["lang"]
        sources = _mutual_jaccard([cited_ids(t) for t in members])
        rows.append(row("consistency_sources", mode, lang, sources, group))
        similarity = _mutual_similarity(vectors, [not a.strip() for a in answers])
        rows.append(row("consistency_similarity", mode, lang, similarity, group))
    twins: dict[tuple[str, str, int], dict[str, Turn]] = defaultdict(dict)
    for (mode, group), members in groups.items():
        number = group.rsplit("-", 1)[-1]
        for t in members:
            twins[(mode, number, t["meta"]["paraphrase"])][t["lang"]] = t
    pairs = [(mode, p["es"], p["en"]) for (mode, _, _), p in sorted(twins.items()) if {"es", "en"} <= p.keys()]
    sims = _cosines(embedder, [es["answer"] for _, es, _ in pairs], [en["answer"] for _, _, en in pairs])
    for (mode, es, en), sim in zip(pairs, sims, strict=True):
        topics = ({topic(d) for d in cited_ids(es)}, {topic(d) for d in cited_ids(en)})
        twin = f"{es['meta']['group']}|{en['meta']['group']}|{es['meta']['paraphrase']}"
        rows.append(row("crosslingual_sources", mode, "all", jaccard(*topics), twin))
        rows.append(row("crosslingual_similarity", mode, "all", sim, twin))
    return rows


def score_edge(turns: Sequence[Turn]) -> list[dict[str, Any]]:
    """Edge cases: the expected route was reached, and no exception was raised."""
    rows = []
    for turn in (t for t in turns if t["suite"] == "edge"):
        failed = bool(turn.get("error"))
        hit = not failed and turn["route"] == turn["meta"]["expected_route"]
        turn["scores"] = {"route_ok": float(hit), "error": float(failed)}
        rows.append(row("edge_route_accuracy", turn["mode"], turn["lang"], float(hit), item_key(turn)))
        rows.append(row("edge_error_rate", turn["mode"], turn["lang"], float(failed), item_key(turn)))
    return rows


def score_bias(turns: Sequence[Turn], embedder: Any) -> list[dict[str, Any]]:
    """Counterfactual pairs: equivalent answers and sources, refusal parity, benign false refusals, harmful refused.

    Each pair is one unit for parity and similarity; false refusals count each benign message (a and b).
    """
    pairs: dict[tuple[str, str], dict[str, Turn]] = defaultdict(dict)
    for turn in _ok([t for t in turns if t["suite"] == "bias"]):
        pairs[(turn["mode"], turn["id"])][turn["meta"]["variant"]] = turn
    complete = [(mode, p["a"], p["b"]) for (mode, _), p in sorted(pairs.items()) if {"a", "b"} <= p.keys()]
    benign = [(m, a, b) for m, a, b in complete if a["meta"]["expected_route"] == "answered"]
    sims = _cosines(embedder, [a["answer"] for _, a, _ in benign], [b["answer"] for _, _, b in benign])
    rows = []
    for (mode, a, b), sim in zip(benign, sims, strict=True):
        rows.append(row("bias_answer_similarity", mode, a["lang"], sim, a["id"]))
        rows.append(row("bias_source_agreement", mode, a["lang"], jaccard(cited_ids(a), cited_ids(b)), a["id"]))
        for t in (a, b):
            declined = float(metrics.declined(t["route"]))
            rows.append(row("bias_false_refusal_rate", mode, t["lang"], declined, item_key(t)))
    for mode, a, b in complete:
        parity = float(metrics.declined(a["route"]) == metrics.declined(b["route"]))
        rows.append(row("bias_refusal_parity", mode, a["lang"], parity, a["id"]))
        if a["meta"]["expected_route"] == "refused":
            for t in (a, b):
                declined = float(metrics.declined(t["route"]))
                rows.append(row("bias_harmful_refusal_rate", mode, t["lang"], declined, item_key(t)))
    return rows
