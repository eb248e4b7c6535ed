"""The KPI registry and its aggregation: per mode, per language and overall, each with a bootstrap interval.

Scoring (:mod:`evaluation.scoring`) turns chat results into measurement rows ``{kpi, mode, lang, value}``; a row's
value is a number for mean-type KPIs or a pair for set-level ones (out-of-scope precision: ``[truth, predicted]``).
:func:`aggregate` groups the rows and bootstraps each KPI's statistic; :func:`call_winners` applies
:func:`evaluation.stats.call_winner` to every KPI in every language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evaluation.stats import Estimate, WinCall, bootstrap_ci, call_winner, call_winner_paired, mean, paired_difference

LANGS = ("es", "en", "all")


# Every statistic reduces over the item axis, so it takes one sample (n,) / (n, 2) -> number, or a stack of
# bootstrap resamples (B, n) / (B, n, 2) -> B numbers (see evaluation.stats.bootstrap_ci).


def _counts(rows: np.ndarray) -> tuple[Any, Any, Any]:
    truth, predicted = rows[..., 0] > 0.5, rows[..., 1] > 0.5
    tp = np.sum(truth & predicted, axis=-1)
    return tp, np.sum(~truth & predicted, axis=-1), np.sum(truth & ~predicted, axis=-1)


def _ratio(num: Any, den: Any) -> Any:
    num, den = np.asarray(num, dtype=float), np.asarray(den, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def precision(rows: np.ndarray) -> Any:
    """Out-of-scope precision from rows ``[is out of scope, was declined]`` (see evaluation.metrics)."""
    tp, fp, _ = _counts(rows)
    return _ratio(tp, tp + fp)


def recall(rows: np.ndarray) -> Any:
    """Out-of-scope recall from rows ``[is out of scope, was declined]``."""
    tp, _, fn = _counts(rows)
    return _ratio(tp, tp + fn)


def f1(rows: np.ndarray) -> Any:
    """Out-of-scope F1 from rows ``[is out of scope, was declined]``."""
    tp, fp, fn = _counts(rows)
    return _ratio(2 * tp, 2 * tp + fp + fn)


def abs_bias_score(rows: np.ndarray) -> Any:
    """BBQ's ambiguous-context bias score from rows ``[picked, biased]``, as ``|2*biased - picked| / n``.

    It matters because a bot that fills an information gap with a stereotype treats customers unequally; 0 means
    its picks (if any) do not lean towards the stereotype, and fewer picks shrink the score towards 0.
    """
    rows = np.asarray(rows, dtype=float)
    return np.abs(np.mean(2.0 * rows[..., 1] - rows[..., 0], axis=-1))


def p50(values: np.ndarray) -> Any:
    """Median (bootstrap statistic of the latency p50 KPI)."""
    return np.percentile(values, 50, axis=-1)


def p95(values: np.ndarray) -> Any:
    """95th percentile (bootstrap statistic of the latency p95 KPI)."""
    return np.percentile(values, 95, axis=-1)


@dataclass(frozen=True)
class KPI:
    """One key performance indicator: how it is aggregated and which direction is better."""

    name: str
    label: str
    higher_is_better: bool
    group: str
    statistic: Callable[[np.ndarray], Any] = field(default=mean)
    unit: str = ""


# The order here is the order of the report's tables.
KPIS: tuple[KPI, ...] = (
    KPI("rouge_l", "ROUGE-L F1 vs reference", True, "correctness"),
    KPI("chrf", "chrF vs reference", True, "correctness"),
    KPI("embedding_similarity", "Embedding similarity vs reference", True, "correctness"),
    KPI("groundedness", "Groundedness (supported sentences)", True, "faithfulness"),
    KPI("cited_support", "Cited sources support the answer", True, "faithfulness"),
    KPI("context_recall", "Context recall (gold article shown)", True, "retrieval"),
    KPI("language_match", "Answer language = question language", True, "language"),
    KPI("oos_precision", "Out-of-scope precision", True, "scope", precision),
    KPI("oos_recall", "Out-of-scope recall", True, "scope", recall),
    KPI("oos_f1", "Out-of-scope F1", True, "scope", f1),
    KPI("false_refusal_rate", "False-refusal rate (in-scope declined)", False, "scope"),
    KPI("handoff_rate", "Handoff rate (answerable questions)", False, "routing"),
    KPI("latency_p50_ms", "Turn latency p50", False, "latency", p50, "ms"),
    KPI("latency_p95_ms", "Turn latency p95", False, "latency", p95, "ms"),
    KPI("tokens_generated", "Tokens generated per turn", False, "cost", unit="tokens"),
    KPI("consistency_sources", "Paraphrases: same sources (Jaccard)", True, "consistency"),
    KPI("consistency_similarity", "Paraphrases: answer similarity", True, "consistency"),
    KPI("crosslingual_sources", "es vs en: same articles", True, "consistency"),
    KPI("crosslingual_similarity", "es vs en: answer similarity", True, "consistency"),
    KPI("edge_route_accuracy", "Edge cases: expected route", True, "robustness"),
    KPI("edge_error_rate", "Edge cases: exceptions", False, "robustness"),
    KPI("bias_answer_similarity", "Bias pairs: answer similarity", True, "bias"),
    KPI("bias_source_agreement", "Bias pairs: same sources", True, "bias"),
    KPI("bias_refusal_parity", "Bias pairs: refusal parity", True, "bias"),
    KPI("bias_false_refusal_rate", "Bias pairs: benign declined", False, "bias"),
    KPI("bias_harmful_refusal_rate", "Bias pairs: discriminatory refused", True, "bias"),
    KPI("bbq_bias_score", "BBQ/EsBBQ ambiguous bias score (abs)", False, "bias", abs_bias_score),
    KPI("bbq_stereotype_rate", "BBQ/EsBBQ: picks a person", False, "bias"),
)
KPI_BY_NAME = {k.name: k for k in KPIS}


def row(kpi: str, mode: str, lang: str, value: float | Iterable[float], item: str = "") -> dict[str, Any]:
    """One measurement row (checks the KPI name so a typo fails loudly).

    ``item`` names the unit measured (a message, a paraphrase group, a bias pair): the same in every mode, so
    modes can be compared item by item (:func:`differences`).
    """
    if kpi not in KPI_BY_NAME:
        raise KeyError(f"unknown KPI {kpi!r}")
    value = value if isinstance(value, float | int) else list(value)
    return {"kpi": kpi, "mode": mode, "lang": lang, "value": value, "item": item}


def aggregate(
    rows: Iterable[Mapping[str, Any]], *, n_resamples: int = 1000, seed: int = 0
) -> dict[str, dict[str, dict[str, Estimate]]]:
    """Bootstrap every KPI per mode and per language (es, en, and all = both pooled).

    Returns:
        ``{kpi: {mode: {lang: Estimate}}}`` with only the KPIs, modes and languages that have rows.
    """
    grouped: dict[tuple[str, str, str], list[Any]] = {}
    for r in rows:
        for lang in (r["lang"], "all") if r["lang"] != "all" else ("all",):
            grouped.setdefault((r["kpi"], r["mode"], lang), []).append(r["value"])
    table: dict[str, dict[str, dict[str, Estimate]]] = {}
    for kpi in KPIS:
        for (name, mode, lang), values in sorted(grouped.items()):
            if name == kpi.name:
                estimate = bootstrap_ci(values, kpi.statistic, n_resamples=n_resamples, seed=seed)
                table.setdefault(name, {}).setdefault(mode, {})[lang] = estimate
    return table


Differences = dict[str, dict[str, dict[tuple[str, str], Estimate]]]


def differences(
    rows: Iterable[Mapping[str, Any]], modes: Sequence[str], *, n_resamples: int = 1000, seed: int = 0
) -> Differences:
    """Paired bootstrap of every KPI's difference between every two modes, per language and overall.

    Rows are matched on their ``item`` (the n-th occurrence of an item key matches the n-th in the other mode);
    only items both modes measured count, and the resample draws the same items for both.

    Returns:
        ``{kpi: {lang: {(a, b): Estimate of a - b}}}`` for ``a`` before ``b`` in ``modes``.
    """
    keyed: dict[tuple[str, str, str], dict[tuple[str, int], Any]] = {}
    for r in rows:
        for lang in (r["lang"], "all") if r["lang"] != "all" else ("all",):
            bucket = keyed.setdefault((r["kpi"], lang, r["mode"]), {})
            base = f"{r['lang']}|{r.get('item', '')}"
            n = sum(1 for key in bucket if key[0] == base) if r.get("item") else len(bucket)
            bucket[(base, n)] = r["value"]
    out: Differences = {}
    for kpi in KPIS:
        for lang in LANGS:
            present = [m for m in modes if (kpi.name, lang, m) in keyed]
            for i, a in enumerate(present):
                for b in present[i + 1 :]:
                    left, right = keyed[(kpi.name, lang, a)], keyed[(kpi.name, lang, b)]
                    common = [k for k in left if k in right]
                    estimate = paired_difference([left[k] for k in common], [right[k] for k in common],
                                                 kpi.statistic, n_resamples=n_resamples, seed=seed)  # fmt: skip
                    out.setdefault(kpi.name, {}).setdefault(lang, {})[(a, b)] = estimate
    return out


def call_winners(
    table: Mapping[str, Mapping[str, Mapping[str, Estimate]]], diffs: Differences | None = None
) -> dict[str, dict[str, WinCall]]:
    """The winner (or no clear winner) of every KPI in every language.

    With ``diffs`` (paired differences), a winner's difference to every other mode must exclude 0; without
    them, its interval must not overlap any other mode's interval.
    """
    calls: dict[str, dict[str, WinCall]] = {}
    for name, by_mode in table.items():
        kpi = KPI_BY_NAME[name]
        for lang in LANGS:
            estimates = {mode: per_lang[lang] for mode, per_lang in by_mode.items() if lang in per_lang}
            if not estimates:
                continue
            if diffs is not None:
                paired = diffs.get(name, {}).get(lang, {})
                calls.setdefault(name, {})[lang] = call_winner_paired(estimates, paired, kpi.higher_is_better)
            else:
                calls.setdefault(name, {})[lang] = call_winner(estimates, kpi.higher_is_better)
    return calls


def differences_to_dict(diffs: Differences) -> dict[str, Any]:
    """JSON-ready ``{kpi: {lang: {"a - b": {value, ci_low, ci_high, n}}}}``."""
    return {k: {lang: {f"{a} - {b}": e.to_dict() for (a, b), e in per.items()} for lang, per in v.items()}
            for k, v in diffs.items()}  # fmt: skip


def table_to_dict(table: Mapping[str, Mapping[str, Mapping[str, Estimate]]]) -> dict[str, Any]:
    """JSON-ready ``{kpi: {mode: {lang: {value, ci_low, ci_high, n}}}}``."""
    return {k: {m: {lang: e.to_dict() for lang, e in per.items()} for m, per in v.items()} for k, v in table.items()}
