"""Per-turn and per-set KPIs of the offline comparison, each a plain function on small inputs.

Every function says what it measures and why it matters for a support bot. Per-turn scores are in [0, 1]
(1 = best) unless stated; the set-level ones (out-of-scope precision/recall/F1, percentiles) take the whole
list of turns so the bootstrap in :mod:`evaluation.stats` can resample turns and recompute them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from retrieval.text import chrf as chrf  # the metric lives in the text toolkit (RAFT quote targets use it too)

# Routes where the bot declined to help: the customer got no answer to the question they asked.
DECLINED_ROUTES = frozenset({"out_of_scope", "refused", "smalltalk"})  # no knowledge-base answer
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class _UnicodeTokenizer:
    """ROUGE tokenizer that keeps accented letters (rouge-score's default drops everything outside a-z0-9)."""

    def tokenize(self, text: str) -> list[str]:
        from retrieval.language import strip_accents

        return _WORD.findall(strip_accents(text.lower()))


@lru_cache(maxsize=1)
def _rouge_scorer() -> Any:
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False, tokenizer=_UnicodeTokenizer())


def rouge_l(answer: str, reference: str) -> float:
    """ROUGE-L F1 of the answer against the reference answer (longest common word subsequence).

    Measures how much of the reference's wording, in order, the answer reproduces. It matters because a support
    reference states the exact steps and figures a customer needs; it is tokenised without stemming (Porter
    stemming is English-only) and accent-insensitive, so Spanish and English are scored the same way.
    An empty answer or reference scores 0.
    """
    if not answer.strip() or not reference.strip():
        return 0.0
    return float(_rouge_scorer().score(reference, answer)["rougeL"].fmeasure)


def embedding_similarity(answers: Sequence[str], references: Sequence[str], embedder: Any) -> list[float]:
    """Cosine similarity of each answer's sentence embedding to its reference's, clipped to [0, 1].

    Measures whether the answer means the same as the reference even with different words. It matters because
    a correct paraphrase of the reference is as good for the customer as the reference itself, which ROUGE and
    chrF miss. ``embedder`` is any :class:`retrieval.embeddings.Embedder` (the bundled one by default; it is
    weaker in Spanish, so compare modes within a language). Empty answers score 0.
    """
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} references")
    scores = [0.0] * len(answers)
    keep = [i for i, (a, r) in enumerate(zip(answers, references, strict=True)) if a.strip() and r.strip()]
    if keep:
        a_vec = embedder.encode([answers[i] for i in keep])
        r_vec = embedder.encode([references[i] for i in keep])
        cosines = np.clip(np.sum(a_vec * r_vec, axis=1), 0.0, 1.0)
        for i, value in zip(keep, cosines, strict=True):
            scores[i] = round(float(value), 6)
    return scores


def groundedness(answer: str, passages: Sequence[Mapping[str, Any] | str], lang: str = "en") -> float:
    """Share of the answer's claim sentences supported by a passage shown to the generator.

    It is the production output rail's check (:func:`graph.rails.grounding.check_grounded`, same threshold, same
    rules: figures and negations must agree with the passage), so the KPI measures what the rail enforces.
    Sentences without a claim ("Thanks!") are skipped. It matters because an answer that states things the
    knowledge base does not say (an invented fee, a wrong deadline, a dropped "not") is worse than no answer:
    this is the hallucination rate's complement. An empty answer, one with no claim, or one given with no
    passages scores 0 (nothing it says is backed by the knowledge base).
    """
    from graph.rails.grounding import check_grounded

    shown = [p for p in passages if (p if isinstance(p, str) else str(p.get("text") or "")).strip()]
    if not answer.strip() or not shown:
        return 0.0
    verdict = check_grounded(answer, shown, lang if lang in ("en", "es") else "en")
    return verdict["supported"] / verdict["claims"] if verdict["claims"] else 0.0


def context_recall(retrieved_ids: Iterable[str], gold_ids: Iterable[str]) -> float:
    """Share of the gold articles among the articles retrieved (and shown) for the turn.

    It matters because the generator can only be right about what it is shown: a miss here is a retrieval
    failure, not a generation one, and tells where to improve. No gold ids scores 0.
    """
    gold = set(gold_ids)
    return len(gold & set(retrieved_ids)) / len(gold) if gold else 0.0


def language_match(answer: str, question_lang: str) -> float:
    """1 when the answer is in the question's language (retrieval.language), else 0.

    It matters because a Spanish-speaking customer answered in English (or the reverse) has not been served,
    whatever the content. An answer with no detectable language (empty, only digits) scores 0.
    """
    from retrieval.language import detect_language

    return 1.0 if detect_language(answer) == question_lang else 0.0


def declined(route: str) -> bool:
    """Whether a turn's route means the bot did not answer (out of scope or refused)."""
    return route in DECLINED_ROUTES


def scope_confusion(pairs: Iterable[tuple[bool, bool]]) -> dict[str, int]:
    """Counts of (is out of scope, was declined) pairs: tp, fp, fn, tn, with out-of-scope as the positive class."""
    counts = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for truth, predicted in pairs:
        key = ("t" if truth == predicted else "f") + ("p" if predicted else "n")
        counts[key] += 1
    return counts


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def oos_precision(pairs: Iterable[tuple[bool, bool]]) -> float:
    """Of the messages the bot declined, the share that really were out of scope.

    It matters because every wrongly declined message is a customer with a legitimate question turned away.
    NaN when nothing was declined.
    """
    c = scope_confusion(pairs)
    return _ratio(c["tp"], c["tp"] + c["fp"])


def oos_recall(pairs: Iterable[tuple[bool, bool]]) -> float:
    """Of the out-of-scope messages, the share the bot declined instead of answering.

    It matters because answering off-topic requests (medical, legal, other companies) gives advice the store
    cannot stand behind. NaN when there is no out-of-scope message.
    """
    c = scope_confusion(pairs)
    return _ratio(c["tp"], c["tp"] + c["fn"])


def oos_f1(pairs: Iterable[tuple[bool, bool]]) -> float:
    """Harmonic mean of out-of-scope precision and recall: one number for the scope rail's quality.

    It matters because precision and recall trade off through the scope threshold; F1 rewards a rail that gets
    both right. 0 when either is 0; NaN when both are undefined.
    """
    c = scope_confusion(pairs)
    den = 2 * c["tp"] + c["fp"] + c["fn"]
    return _ratio(2 * c["tp"], den)


def false_refusal_rate(routes_of_in_scope: Iterable[str]) -> float:
    """Share of in-scope (legitimate support) messages that the bot declined.

    It matters because a safe but useless bot refuses too much: this is the cost side of every guardrail,
    measured on real support questions and on borderline ones that only look off-topic. NaN for no messages.
    """
    routes = list(routes_of_in_scope)
    return _ratio(sum(declined(r) for r in routes), len(routes))


def handoff_rate(routes: Iterable[str]) -> float:
    """Share of turns handed to a human agent.

    It matters because each handoff costs agent time: on answerable questions a lower rate means the bot
    resolves more by itself (the route is the graph's, so it also reflects the handoff rail's calibration).
    """
    items = list(routes)
    return _ratio(sum(r == "handoff" for r in items), len(items))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100, linear interpolation) of ``values``; NaN when empty.

    Used for latency p50 (the typical wait) and p95 (the wait one customer in twenty gets): a chat that is
    usually fast but sometimes takes ten seconds still feels broken, so both matter.
    """
    return float(np.percentile(np.asarray(values, dtype=float), q)) if len(values) else math.nan


def mean_tokens(tokens: Sequence[int | float]) -> float:
    """Mean number of tokens the generator produced per turn (0 for the extractive generator).

    It matters as the cost driver of LLM serving (GPU time per answer) and as a check on verbosity.
    """
    return float(np.mean(tokens)) if len(tokens) else math.nan


def node_latencies(turns: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """Collect each graph node's latencies (ms) over turns, from the chat result's ``node_latency_ms``."""
    out: dict[str, list[float]] = {}
    for turn in turns:
        for node, ms in (turn.get("node_latency_ms") or {}).items():
            out.setdefault(str(node), []).append(float(ms))
    return out
