"""Bootstrap intervals and the winner rule: never claim a win where intervals overlap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.kpis import aggregate, call_winners, row
from evaluation.stats import Estimate, bootstrap_ci, call_winner


def test_bootstrap_of_a_constant_is_a_point() -> None:
    e = bootstrap_ci([1.0] * 20)
    assert (e.value, e.low, e.high, e.n) == (1.0, 1.0, 1.0, 20)
    zero = bootstrap_ci([0.0] * 5)
    assert (zero.value, zero.low, zero.high) == (0.0, 0.0, 0.0)


def test_bootstrap_interval_contains_the_mean_and_is_reproducible() -> None:
    values = np.random.default_rng(1).random(200)
    e = bootstrap_ci(values, seed=3)
    assert e.low < e.value < e.high
    assert e.value == pytest.approx(float(values.mean()))
    assert e == bootstrap_ci(values, seed=3)
    # about +-1.96 standard errors for a mean
    se = values.std(ddof=1) / math.sqrt(len(values))
    assert e.high - e.low == pytest.approx(2 * 1.96 * se, rel=0.2)


def test_bootstrap_of_nothing_is_undefined() -> None:
    e = bootstrap_ci([])
    assert e.n == 0 and not e.defined
    assert e.to_dict() == {"value": None, "ci_low": None, "ci_high": None, "n": 0}
    assert e.format() == "n/a"


def test_bootstrap_with_a_set_statistic() -> None:
    # rows [is out of scope, declined]; F1 = 1 on all rows, resamples stay in [0, 1]
    rows = [[1.0, 1.0], [0.0, 0.0]] * 10
    e = bootstrap_ci(rows, lambda a: np.mean(a[..., 0] == a[..., 1], axis=-1))
    assert (e.value, e.low, e.high) == (1.0, 1.0, 1.0)


def E(value: float, low: float, high: float) -> Estimate:
    return Estimate(value, low, high, 30)


def test_clear_winner_is_called() -> None:
    call = call_winner({"rag": E(0.3, 0.25, 0.35), "hybrid": E(0.6, 0.55, 0.65), "finetune": E(0.1, 0.05, 0.15)})
    assert call.winner == "hybrid"
    assert call.statement.startswith("hybrid wins: 0.600 [0.550, 0.650]")


def test_no_win_is_claimed_when_intervals_overlap() -> None:
    # hybrid is clearly above finetune but overlaps rag: no winner at all
    call = call_winner({"rag": E(0.5, 0.40, 0.58), "hybrid": E(0.6, 0.55, 0.65), "finetune": E(0.1, 0.05, 0.15)})
    assert call.winner is None
    assert call.best == "hybrid"
    assert "no clear winner" in call.statement and "rag" in call.statement and "finetune" not in call.statement


def test_touching_intervals_overlap() -> None:
    assert call_winner({"a": E(0.6, 0.5, 0.7), "b": E(0.4, 0.3, 0.5)}).winner is None


def test_lower_is_better_direction() -> None:
    latency = {"rag": E(40, 35, 45), "hybrid": E(900, 800, 1000)}
    assert call_winner(latency, higher_is_better=False).winner == "rag"
    assert call_winner(latency, higher_is_better=True).winner == "hybrid"


def test_too_few_items_never_win() -> None:
    # one item per mode gives point intervals that never overlap: that is not evidence
    few = {"a": Estimate(1.0, 1.0, 1.0, 1), "b": Estimate(0.0, 0.0, 0.0, 1)}
    call = call_winner(few)
    assert call.winner is None and "not comparable" in call.statement
    assert call_winner(few, min_n=1).winner == "a"


def test_ties_undefined_and_single_modes_get_no_winner() -> None:
    assert call_winner({"a": E(0.5, 0.5, 0.5), "b": E(0.5, 0.5, 0.5)}).winner is None
    assert call_winner({"a": E(0.9, 0.8, 1.0)}).winner is None
    nan = Estimate(math.nan, math.nan, math.nan, 0)
    assert call_winner({"a": E(0.9, 0.8, 1.0), "b": nan}).winner is None
    assert call_winner({"a": E(0.9, 0.8, 1.0), "b": nan, "c": E(0.1, 0.0, 0.2)}).winner == "a"


def test_aggregate_groups_by_language_and_pools_all() -> None:
    rows = [row("rouge_l", "rag", "es", 1.0), row("rouge_l", "rag", "en", 0.0), row("rouge_l", "rag", "en", 0.0)]
    rows += [row("oos_f1", "rag", "en", [1.0, 1.0]), row("oos_f1", "rag", "en", [0.0, 1.0])]
    table = aggregate(rows, n_resamples=200)
    assert table["rouge_l"]["rag"]["es"].value == 1.0
    assert table["rouge_l"]["rag"]["en"].value == 0.0
    assert table["rouge_l"]["rag"]["all"].value == pytest.approx(1 / 3)
    assert table["rouge_l"]["rag"]["all"].n == 3
    assert table["oos_f1"]["rag"]["en"].value == pytest.approx(2 / 3)  # tp 1, fp 1
    assert "es" not in table["oos_f1"]["rag"]


def test_batched_statistics_match_the_metric_functions() -> None:
    from evaluation import metrics
    from evaluation.kpis import f1, p50, p95, precision, recall

    pairs = [(True, True), (True, False), (False, True), (False, False), (True, True), (False, False)]
    rows = np.array(pairs, dtype=float)
    stack = np.stack([rows, rows[::-1]])
    for batched, plain in ((precision, metrics.oos_precision), (recall, metrics.oos_recall), (f1, metrics.oos_f1)):
        assert float(batched(rows)) == pytest.approx(plain(pairs))
        assert list(batched(stack)) == pytest.approx([plain(pairs)] * 2)
    assert math.isnan(float(precision(np.array([[1.0, 0.0]]))))
    values = np.arange(1.0, 101.0)
    assert float(p50(values)) == metrics.percentile(list(values), 50)
    assert float(p95(values)) == pytest.approx(metrics.percentile(list(values), 95))


def test_aggregate_rejects_unknown_kpis() -> None:
    with pytest.raises(KeyError, match="unknown KPI"):
        row("rougeL", "rag", "en", 1.0)


def test_call_winners_uses_each_kpis_direction() -> None:
    rows = [row("latency_p50_ms", "rag", "en", v) for v in (10.0, 11.0, 12.0) * 10]
    rows += [row("latency_p50_ms", "hybrid", "en", v) for v in (500.0, 510.0, 520.0) * 10]
    calls = call_winners(aggregate(rows, n_resamples=200))
    assert calls["latency_p50_ms"]["en"].winner == "rag"
    assert calls["latency_p50_ms"]["all"].winner == "rag"
    assert "es" not in calls["latency_p50_ms"]


def test_paired_difference_sees_a_small_consistent_gain_that_marginal_intervals_miss() -> None:
    from evaluation.kpis import differences
    from evaluation.stats import call_winner_paired, paired_difference

    rng = np.random.default_rng(0)
    difficulty = rng.random(60)  # items vary a lot; mode b is better by 0.03 on every item
    a, b = difficulty, np.clip(difficulty + 0.03, 0, 1.5)
    marginal = {"a": bootstrap_ci(a), "b": bootstrap_ci(b)}
    assert call_winner(marginal).winner is None  # the item spread hides the gain
    d = paired_difference(b, a)
    assert d.value == pytest.approx(0.03) and d.low > 0
    assert call_winner_paired(marginal, {("a", "b"): paired_difference(a, b)}).winner == "b"
    rows = [row("chrf", m, "en", float(v), f"q{i}") for m, vs in (("a", a), ("b", b)) for i, v in enumerate(vs)]
    diffs = differences(reversed(rows), ["a", "b"], n_resamples=200)  # pairing follows items, not row order
    assert diffs["chrf"]["en"][("a", "b")].value == pytest.approx(-0.03)
    table = aggregate(rows, n_resamples=200)
    assert call_winners(table, diffs)["chrf"]["en"].winner == "b"
    assert call_winners(table)["chrf"]["en"].winner is None


def test_paired_difference_only_counts_items_both_modes_answered() -> None:
    from evaluation.kpis import differences

    rows = [row("groundedness", "a", "es", 1.0, f"q{i}") for i in range(10)]
    rows += [row("groundedness", "b", "es", 0.0, f"q{i}") for i in range(5, 15)]
    d = differences(rows, ["a", "b"], n_resamples=200)["groundedness"]["es"][("a", "b")]
    assert d.n == 5 and d.value == 1.0


def test_paired_winner_needs_every_difference_clear_of_zero() -> None:
    from evaluation.stats import call_winner_paired

    est = {m: Estimate(v, v - 0.1, v + 0.1, 30) for m, v in (("x", 0.8), ("y", 0.7), ("z", 0.5))}
    clear = {("x", "y"): Estimate(0.1, 0.02, 0.2, 30), ("z", "x"): Estimate(-0.3, -0.4, -0.2, 30)}
    assert call_winner_paired(est, clear).winner == "x"
    touching = {("x", "y"): Estimate(0.1, 0.0, 0.2, 30), ("z", "x"): Estimate(-0.3, -0.4, -0.2, 30)}
    call = call_winner_paired(est, touching)
    assert call.winner is None and "includes 0" in call.statement and "x - y" in call.statement
    latency = {m: Estimate(v, v - 1, v + 1, 30) for m, v in (("x", 10.0), ("y", 20.0))}
    assert call_winner_paired(latency, {("x", "y"): Estimate(-10, -12, -8, 30)}, higher_is_better=False).winner == "x"
