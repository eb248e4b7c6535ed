"""Deployment criteria: the whole interval must clear each threshold, in both languages."""

from __future__ import annotations

from evaluation.criteria import THRESHOLDS, check_mode, deployable, meets
from evaluation.kpis import KPI_BY_NAME
from evaluation.report import criteria_table
from evaluation.stats import Estimate


def test_meets_uses_the_interval_end_in_the_kpis_direction() -> None:
    assert meets("groundedness", Estimate(0.9, 0.85, 0.95, 50), 0.8)
    assert not meets("groundedness", Estimate(0.9, 0.75, 0.95, 50), 0.8)  # point passes, interval does not
    assert meets("false_refusal_rate", Estimate(0.02, 0.0, 0.08, 50), 0.1)
    assert not meets("false_refusal_rate", Estimate(0.05, 0.0, 0.12, 50), 0.1)
    assert meets("edge_error_rate", Estimate(0.0, 0.0, 0.0, 50), 0.0)
    assert not meets("groundedness", None, 0.8)


def perfect(value_for: dict[str, float] | None = None) -> dict:
    table: dict = {}
    for kpi in THRESHOLDS:
        good = 1.0 if KPI_BY_NAME[kpi].higher_is_better else 0.0
        value = (value_for or {}).get(kpi, good)
        e = Estimate(value, value, value, 40)
        table[kpi] = {"hybrid": {"es": e, "en": e, "all": e}}
    return table


def test_deployable_needs_every_criterion_in_both_languages() -> None:
    table = perfect()
    assert deployable(table, "hybrid")
    assert all(c.passed for c in check_mode(table, "hybrid"))
    table["language_match"]["hybrid"]["es"] = Estimate(0.9, 0.85, 0.95, 40)  # Spanish answers drift to English
    assert not deployable(table, "hybrid")
    assert "| **deployable** | no |" in criteria_table(table, ["hybrid"])
    assert "es ✗ en ✓" in criteria_table(table, ["hybrid"])


def test_a_suite_not_run_means_not_deployable() -> None:
    table = perfect()
    del table["bbq_stereotype_rate"]
    assert not deployable(table, "hybrid")
    assert "not run" in criteria_table(table, ["hybrid"])
