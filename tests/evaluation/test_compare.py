"""`supportbot eval compare` end to end: a reduced run of all three modes through the real agent (smoke model)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supportbot.cli import app
from tests.conftest import DATA, SHARED_DATASETS

runner = CliRunner()
MODES = ["rag", "finetune", "hybrid"]


@pytest.fixture(scope="module")
def compare_run(bundled_index: Path, smoke_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One reduced comparison: one record per language from every suite, all three modes, logged to MLflow.

    Two turns run at once (``--workers 2``), so the hf generator's batching is on the path too.
    """
    out = tmp_path_factory.mktemp("compare") / "run"
    result = runner.invoke(app, [
        "eval", "compare", "--index", str(bundled_index), "--model", str(smoke_model),
        "--testset", str(DATA / "eval" / "qa.jsonl"), "--modes", ",".join(MODES), "--out", str(out),
        "--split", "test", "--limit", "1", "--bbq-per-language", "1", "--max-new-tokens", "16",
        "--resamples", "200", "--bias-datasets", str(SHARED_DATASETS), "--workers", "2",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    return out


def metrics(out: Path) -> dict[str, Any]:
    return json.loads((out / "metrics.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_every_mode_answers_the_same_messages(compare_run: Path) -> None:
    turns = [json.loads(line) for line in (compare_run / "turns.jsonl").read_text(encoding="utf-8").splitlines()]
    by_mode = {m: sorted((t["suite"], t["id"], t["message"]) for t in turns if t["mode"] == m) for m in MODES}
    assert by_mode["rag"] and by_mode["rag"] == by_mode["finetune"] == by_mode["hybrid"]
    assert {t["suite"] for t in turns} >= {"qa", "scope", "consistency", "edge", "bias"}
    assert not [t["error"] for t in turns if t["error"]]  # no exception on any message, edge cases included
    assert {t["route"] for t in turns} <= {"answered", "out_of_scope", "refused", "handoff"}
    document = metrics(compare_run)
    assert document["run"]["turns"] == len(turns) == 3 * document["run"]["items"]
    assert document["run"]["errors"] == 0


@pytest.mark.slow
def test_kpis_per_mode_and_language_with_intervals(compare_run: Path) -> None:
    kpis = metrics(compare_run)["kpis"]
    for name in ("rouge_l", "chrf", "embedding_similarity", "context_recall", "language_match", "handoff_rate",
                 "false_refusal_rate", "latency_p50_ms", "latency_p95_ms", "tokens_generated",
                 "consistency_similarity", "edge_route_accuracy", "bias_refusal_parity"):  # fmt: skip
        for mode in MODES:
            for lang in ("es", "en", "all"):
                e = kpis[name][mode][lang]
                assert e["ci_low"] <= e["value"] <= e["ci_high"], (name, mode, lang)
    for mode in MODES:
        assert 0.0 <= kpis["rouge_l"][mode]["all"]["value"] <= 1.0
        assert kpis["latency_p50_ms"][mode]["all"]["value"] > 0
    # the extractive rag generator produces no tokens; the fine-tuned LLM does
    assert kpis["tokens_generated"]["rag"]["all"]["value"] == 0.0
    assert kpis["tokens_generated"]["finetune"]["all"]["value"] > 0.0


@pytest.mark.slow
def test_winners_are_only_claimed_for_clear_intervals(compare_run: Path) -> None:
    from evaluation.kpis import KPI_BY_NAME

    document = metrics(compare_run)
    for name, per_lang in document["winners"].items():
        for lang, call in per_lang.items():
            if call["winner"] is None:
                continue
            win = document["kpis"][name][call["winner"]][lang]
            for mode, per in document["kpis"][name].items():
                other = per.get(lang)
                if mode == call["winner"] or not other or other["value"] is None:
                    continue
                if KPI_BY_NAME[name].higher_is_better:
                    assert win["ci_low"] > other["ci_high"], (name, lang, mode)
                else:
                    assert win["ci_high"] < other["ci_low"], (name, lang, mode)


@pytest.mark.slow
def test_report_plots_and_mlflow_run(compare_run: Path) -> None:
    import mlflow

    report = (compare_run / "report.md").read_text(encoding="utf-8")
    assert "## Winners per language" in report and "### Spanish (es)" in report and "### English (en)" in report
    document = metrics(compare_run)
    assert "plots/latency_turns.png" in document["plots"] and "plots/kpi_rouge_l.png" in document["plots"]
    for plot in document["plots"]:
        assert (compare_run / plot).read_bytes()[:4] == b"\x89PNG"
        assert f"]({plot})" in report
    mlflow.set_tracking_uri(f"sqlite:///{compare_run / 'mlflow.db'}")
    run = mlflow.get_run(document["run"]["mlflow_run_id"])
    assert run.data.metrics["rouge_l.hybrid.all"] == pytest.approx(
        document["kpis"]["rouge_l"]["hybrid"]["all"]["value"]
    )
    assert run.data.params["split"] == "test"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--modes", "rag,magic"], "--modes"),
        (["--split", "train"], "--split"),
        (["--limit", "0"], "--limit"),
        (["--workers", "0"], "--workers"),
        (["--testset", "missing.jsonl"], "--testset missing.jsonl"),
        (["--modes", "rag,hybrid", "--model", "no-such-model"], "--model no-such-model"),
    ],
)
def test_bad_input_is_a_clear_error(tmp_path: Path, extra: list[str], message: str) -> None:
    (tmp_path / "index").mkdir()
    argv = ["eval", "compare", "--index", str(tmp_path / "index"), "--testset", str(DATA / "eval" / "qa.jsonl"),
            "--out", str(tmp_path / "out"), "--modes", "rag"]  # fmt: skip
    result = runner.invoke(app, argv + extra)
    assert result.exit_code == 1, result.output
    assert "error:" in result.output and message in result.output
    assert "Traceback" not in result.output
