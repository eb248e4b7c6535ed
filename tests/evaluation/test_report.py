"""The report: winners only where intervals are clear, tables per language, plots that open as images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from evaluation.kpis import aggregate, call_winners, row
from evaluation.plots import write_plots
from evaluation.report import kpi_table, winners_table, write_report
from evaluation.stats import Estimate


def make_table() -> dict:
    rows = []
    for lang, hybrid in (("en", 0.9), ("es", 0.31)):
        rows += [row("rouge_l", "rag", lang, v) for v in (0.28, 0.30, 0.32) * 10]
        rows += [row("rouge_l", "hybrid", lang, v) for v in (hybrid - 0.02, hybrid, hybrid + 0.02) * 10]
    rows += [row("latency_p50_ms", m, "en", v) for m in ("rag", "hybrid") for v in (10.0, 20.0, 30.0)]
    return aggregate(rows, n_resamples=200)


def test_report_claims_only_clear_wins(tmp_path: Path) -> None:
    table = make_table()
    calls = call_winners(table)
    assert calls["rouge_l"]["en"].winner == "hybrid"
    assert calls["rouge_l"]["es"].winner is None  # 0.31 vs 0.30: intervals overlap
    nodes = {"rag": {"retrieve": {"p50": Estimate(5, 4, 6, 3), "p95": Estimate(9, 8, 10, 3)}}}
    plots = write_plots(table, {"rag": {"en": [10.0, 20.0]}, "hybrid": {"en": [30.0]}}, nodes, tmp_path / "plots")
    run = {"modes": ["rag", "hybrid"], "split": "test", "turns": 66, "items": 33, "index": "idx", "model": "m",
           "rag_generator": "extractive", "n_resamples": 200, "seed": 0,
           "notes": ["bias benchmarks skipped"]}  # fmt: skip
    report = write_report(tmp_path / "report.md", table=table, calls=calls, nodes=nodes, run=run, plots=plots)
    text = report.read_text(encoding="utf-8")
    assert "hybrid wins: 0.900" in text
    spanish = text.split("### Spanish (es)")[1].split("###")[0]
    assert "no clear winner" in spanish and "wins" not in spanish
    assert "> note: bias benchmarks skipped" in text
    assert "| node | rag p50 | rag p95 |" in text
    for plot in plots:
        assert f"]({plot.relative_to(tmp_path).as_posix()})" in text


def test_kpi_table_bolds_only_the_winner() -> None:
    table = make_table()
    en = kpi_table(table, ["rag", "hybrid"], "en", ["rouge_l"])
    es = kpi_table(table, ["rag", "hybrid"], "es", ["rouge_l"])
    assert "| **0.900 [" in en and en.count("**") == 2
    assert "**" not in es
    assert winners_table(call_winners(table)).splitlines()[2].startswith("| ROUGE-L F1 vs reference ↑ | — | hybrid |")


def test_plots_are_real_pngs(tmp_path: Path) -> None:
    import matplotlib.image

    nodes = {"rag": {"retrieve": {"p50": Estimate(5, 4, 6, 3), "p95": Estimate(9, 8, 10, 3)}}}
    plots = write_plots(make_table(), {"rag": {"en": [10.0, 20.0], "es": [5.0]}}, nodes, tmp_path)
    names = {p.name for p in plots}
    assert {"kpi_rouge_l.png", "kpi_latency_p50_ms.png", "latency_turns.png", "latency_nodes.png"} <= names
    for plot in plots:
        assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        height, width, _ = matplotlib.image.imread(plot).shape
        assert height > 100 and width > 100


def test_every_mode_has_its_own_colour_in_the_reports_order() -> None:
    from evaluation.config import MODES
    from evaluation.plots import COLORS

    assert list(COLORS) == list(MODES)  # the charts' order: rag-llm came last there, second in the tables
    assert len(set(COLORS.values())) == len(MODES)


def test_a_one_mode_report_has_no_empty_paired_differences_section(tmp_path: Path) -> None:
    rows = [row("rouge_l", "rag", lang, v) for lang in ("en", "es") for v in (0.28, 0.30, 0.32) * 10]
    table = aggregate(rows, n_resamples=200)
    run = {"modes": ["rag"], "split": "dev", "turns": 60, "items": 60, "index": "idx", "model": None,
           "rag_generator": "extractive", "n_resamples": 200, "seed": 0}  # fmt: skip
    text = write_report(tmp_path / "report.md", table=table, calls=call_winners(table), nodes={}, run=run, plots=[],
                        diffs={}).read_text(encoding="utf-8")  # fmt: skip
    assert "## Headline (both languages)" in text and "Paired differences" not in text
    assert "model none," in text and "`None`" not in text  # a rag-only run has no model (said "model `None`")
    # one line instead of a "not comparable" sentence per KPI and language
    assert "One mode (rag): no other mode to compare it with." in text and "not comparable" not in text


def test_the_n_column_gives_each_modes_count_when_they_differ() -> None:
    # Groundedness is measured on answered questions only: rag answered 12 and hybrid 9, and the column said 12.
    rows = [row("groundedness", "rag", "en", 1.0, f"q{i}") for i in range(12)]
    rows += [row("groundedness", "hybrid", "en", 0.5, f"q{i}") for i in range(9)]
    rows += [row("chrf", m, "en", 0.4, f"q{i}") for m in ("rag", "hybrid") for i in range(12)]
    text = kpi_table(aggregate(rows, n_resamples=100), ["rag", "hybrid"], "en")
    assert text.splitlines()[0] == "| KPI | rag | hybrid | n |"
    assert [line.rsplit("|", 2)[1].strip() for line in text.splitlines()[2:]] == ["12", "12 / 9"]


def test_the_report_says_how_all_is_made_and_that_a_dev_verdict_is_not_a_deployment_one(tmp_path: Path) -> None:
    rows = [row("rouge_l", "rag", lang, v) for lang in ("en", "es") for v in (0.28, 0.30, 0.32) * 10]
    table = aggregate(rows, n_resamples=200)
    texts = {}
    for split in ("dev", "test"):
        run = {"modes": ["rag"], "split": split, "turns": 60, "items": 60, "index": "idx", "model": None,
               "rag_generator": "extractive", "n_resamples": 200, "seed": 0}  # fmt: skip
        texts[split] = write_report(tmp_path / split / "report.md", table=table, calls=call_winners(table), nodes={},
                                    run=run, plots=[], diffs={}).read_text(encoding="utf-8")  # fmt: skip
    for text in texts.values():  # "Both languages" could be read as the mean of the es and en values
        assert "`all` pools the Spanish and English units" in text
    criteria = {split: text.split("## Deployment criteria")[1].split("\n## ")[0] for split, text in texts.items()}
    assert "split **dev**" in criteria["dev"] and "decided on the test split" in criteria["dev"]
    assert "split **" not in criteria["test"]


def test_a_kpi_chart_never_shows_negative_shares(tmp_path: Path, monkeypatch: Any) -> None:
    # Every mode with no edge-case exception drew no bar on an axis from -0.04 to 0.04: a negative rate.
    from evaluation import plots

    axes = []
    save = plots._save

    def keep_limits(plt: Any, fig: Any, path: Path) -> Path:
        axes.append(fig.axes[0].get_ylim())
        return save(plt, fig, path)

    monkeypatch.setattr(plots, "_save", keep_limits)
    zero = {"rag": {lang: Estimate(0.0, 0.0, 0.0, 40) for lang in ("es", "en", "all")}}
    plots.plot_kpi("edge_error_rate", zero, tmp_path / "zero.png")
    plots.plot_kpi("chrf", {"rag": {"es": Estimate(0.3, 0.25, 0.35, 40)}}, tmp_path / "chrf.png")
    plots.plot_kpi("latency_p95_ms", {"rag": {"es": Estimate(30.0, 25.0, 35.0, 40)}}, tmp_path / "ms.png")
    (zero_low, zero_high), (chrf_low, chrf_high), (ms_low, ms_high) = axes
    assert zero_low == 0.0 and zero_high == 1.0  # all zero: the share's own 0-1 scale
    assert chrf_low == 0.0 and 0.35 < chrf_high <= 1.0  # the whiskers fit
    assert ms_low == 0.0 and ms_high > 35.0
