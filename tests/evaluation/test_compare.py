"""`supportbot eval compare` end to end: a reduced run of every row (rag, rag-llm, finetune, hybrid) through the
real agent with the smoke model (rag-llm: its base without the adapter)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from supportbot.cli import app
from tests.conftest import DATA, SHARED_DATASETS

runner = CliRunner()
MODES = ["rag", "rag-llm", "finetune", "hybrid"]


@pytest.fixture(scope="module")
def compare_run(bundled_index: Path, smoke_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One reduced comparison: one record per language from every suite, every row, logged to MLflow.

    Two turns run at once (``--workers 2``), so the hf generator's batching is on the path too.
    """
    out = tmp_path_factory.mktemp("compare") / "run"
    result = runner.invoke(app, [
        "eval", "compare", "--index", str(bundled_index), "--model", str(smoke_model),
        "--testset", str(DATA / "eval" / "qa.jsonl"), "--modes", "rag,finetune,hybrid", "--out", str(out),
        "--rag-generator", "llm",
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
    assert by_mode["rag"] and by_mode["rag"] == by_mode["rag-llm"] == by_mode["finetune"] == by_mode["hybrid"]
    assert {t["suite"] for t in turns} >= {"qa", "scope", "consistency", "edge", "bias"}
    assert not [t["error"] for t in turns if t["error"]]  # no exception on any message, edge cases included
    assert {t["route"] for t in turns} <= {"answered", "out_of_scope", "refused", "handoff"}
    document = metrics(compare_run)
    assert document["run"]["turns"] == len(turns) == 4 * document["run"]["items"]
    assert document["run"]["modes"] == MODES
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
    assert kpis["tokens_generated"]["rag-llm"]["all"]["value"] > 0.0


@pytest.mark.slow
def test_rag_llm_row_is_the_base_model_without_the_adapter(compare_run: Path, smoke_model: Path) -> None:
    from finetune.inference import load_model

    descriptor = json.loads((compare_run / "base-model" / "supportbot_model.json").read_text(encoding="utf-8"))
    assert descriptor["kind"] == "merged" and Path(descriptor["model"]) == (smoke_model / "base").resolve()
    assert metrics(compare_run)["run"]["base"] == str(compare_run / "base-model")
    base, tuned = load_model(compare_run / "base-model"), load_model(smoke_model)
    assert not hasattr(base.model, "peft_config") and base.model is not tuned.model
    turns = [json.loads(line) for line in (compare_run / "turns.jsonl").read_text(encoding="utf-8").splitlines()]
    rag_llm = [t for t in turns if t["mode"] == "rag-llm" and t["suite"] == "qa"]
    assert rag_llm and all(t["sources"] or t["route"] != "answered" for t in rag_llm)  # it read passages


@pytest.mark.slow
def test_winners_are_only_claimed_for_paired_differences_clear_of_zero(compare_run: Path) -> None:
    from evaluation.kpis import KPI_BY_NAME

    document = metrics(compare_run)
    diffs = document["differences"]
    assert diffs["chrf"]["es"]["rag - hybrid"]["n"] == document["kpis"]["chrf"]["hybrid"]["es"]["n"]
    for name, per_lang in document["winners"].items():
        for lang, call in per_lang.items():
            if call["winner"] is None:
                continue
            winner = call["winner"]
            for mode in document["kpis"][name]:
                if mode == winner:
                    continue
                d = diffs[name][lang].get(f"{winner} - {mode}")
                low, high = (
                    (d["ci_low"], d["ci_high"])
                    if d
                    else (
                        -diffs[name][lang][f"{mode} - {winner}"]["ci_high"],
                        -diffs[name][lang][f"{mode} - {winner}"]["ci_low"],
                    )
                )
                assert (low > 0) if KPI_BY_NAME[name].higher_is_better else (high < 0), (name, lang, mode)


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
    from supportbot.settings import get_settings

    assert not (compare_run / "mlflow.db").exists()  # one store, in the (test's temporary) data home
    client = mlflow.tracking.MlflowClient(f"sqlite:///{get_settings().home.resolve() / 'mlflow.db'}")
    run = client.get_run(document["run"]["mlflow_run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "supportbot-eval-compare"
    assert run.data.tags["run_folder"] == str(compare_run.resolve())
    assert run.data.metrics["rouge_l.hybrid.all"] == pytest.approx(
        document["kpis"]["rouge_l"]["hybrid"]["all"]["value"]
    )
    assert run.data.params["split"] == "test"
    assert document["run"]["copy_bias"] == [0.0, 0.0]  # the graph's default (off), recorded with the run


def sessions(out: Path) -> dict[str, int]:
    """Conversation memory of a run folder: checkpoints per session."""
    import sqlite3

    with sqlite3.connect(out / "checkpoints.sqlite") as db:
        return dict(db.execute("SELECT thread_id, count(*) FROM checkpoints GROUP BY thread_id").fetchall())


@pytest.mark.slow
def test_a_rerun_into_the_same_out_starts_fresh_and_a_users_folder_is_kept(bundled_index: Path, tmp_path: Path) -> None:
    argv = ["eval", "compare", "--index", str(bundled_index), "--testset", str(DATA / "eval" / "qa.jsonl"),
            "--modes", "rag", "--suites", "qa,consistency", "--split", "dev", "--limit", "1", "--resamples", "100",
            "--no-mlflow"]  # fmt: skip
    out = tmp_path / "run"
    result = runner.invoke(app, [*argv, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "[1/" in result.output and "s left)" in result.output  # progress from the first turn, then the time left
    first, memory = (out / "turns.jsonl").read_text(encoding="utf-8"), sessions(out)
    run = json.loads((out / "metrics.json").read_text(encoding="utf-8"))["run"]
    assert run["model"] is None  # no --model: JSON null, not the string "None"
    assert "model `None`" not in (out / "report.md").read_text(encoding="utf-8")
    result = runner.invoke(app, [*argv, "--out", str(out)])  # an earlier comparison: replaced, in fresh sessions
    assert result.exit_code == 0, result.output
    assert sessions(out) == memory  # the sessions did not go on from the first run's turns
    turns = [json.loads(line) for line in (out / "turns.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [t["answer"] for t in turns] == [json.loads(line)["answer"] for line in first.splitlines()]
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no work folder left

    home = tmp_path / "home"  # a folder that is not a comparison (a data home): never written into
    home.mkdir()
    (home / "support.sqlite").write_bytes(b"the service's state")
    result = runner.invoke(app, [*argv, "--out", str(home)])
    assert result.exit_code == 1 and "--overwrite" in result.output and "Traceback" not in result.output
    assert [p.name for p in home.iterdir()] == ["support.sqlite"]
    assert (home / "support.sqlite").read_bytes() == b"the service's state"


def test_an_out_that_is_a_file_or_an_empty_testset_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "empty.jsonl").touch()
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    argv = ["eval", "compare", "--index", str(tmp_path / "index"), "--modes", "rag"]
    for extra, message in (
        (["--testset", str(DATA / "eval" / "qa.jsonl"), "--out", str(tmp_path / "file")], "is a file"),
        (["--testset", str(tmp_path / "empty.jsonl"), "--out", str(tmp_path / "out")], "empty.jsonl: no questions"),
    ):
        result = runner.invoke(app, argv + extra)
        assert result.exit_code == 1, result.output
        assert message in result.output and "Error:" not in result.output and "Traceback" not in result.output
    assert (tmp_path / "file").read_text(encoding="utf-8") == "mine" and not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--modes", "rag,magic"], "--modes"),
        # every message ran twice, the second time with the first as history, and n doubled
        (["--suites", "qa,scope,qa"], "--suites: a suite is listed twice"),
        (["--split", "train"], "--split"),
        (["--limit", "0"], "--limit"),
        (["--workers", "0"], "--workers"),
        (["--testset", "missing.jsonl"], "--testset missing.jsonl"),
        (["--modes", "rag,hybrid", "--model", "no-such-model"], "--model no-such-model: no such folder"),
        (["--modes", "rag,finetune"], "--model is missing"),  # said "--model None"
        (["--rag-generator", "llm"], "--base DIR"),
        (["--rag-generator", "llm", "--base", "no-such-base"], "--base no-such-base"),
        (["--rag-generator", "gpt"], "--rag-generator"),
        (["--copy-bias", "strong"], "--copy-bias"),
        (["--copy-bias", "1,-1"], "--copy-bias"),
        (["--copy-bias", "1"], "--copy-bias"),
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


def test_a_testset_breaking_its_schema_is_a_clear_error_and_an_earlier_report_stays(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    for name in ("metrics.json", "report.md"):  # an earlier comparison, which a good run would replace
        (out / name).write_text("earlier", encoding="utf-8")
    record = {"id": "q1", "lang": "en", "question": "Can I pay with PayPal?", "reference": "Yes.",
              "gold_ids": ["payment-methods-en"], "split": "dev"}  # fmt: skip
    testset = tmp_path / "mine.jsonl"
    testset.write_text(json.dumps(record) + "\n" + json.dumps(record) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["eval", "compare", "--index", str(tmp_path / "index"), "--testset", str(testset),
                                 "--out", str(out), "--modes", "rag", "--split", "dev"])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"error: {testset}:2: id 'q1' repeats line 1" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "report.md"]
    assert (out / "report.md").read_text(encoding="utf-8") == "earlier"


def test_a_run_whose_only_suite_was_skipped_says_why(tmp_path: Path) -> None:
    # `--suites bbq` without the benchmark folder said "qa.jsonl: no items in split 'dev'", about a file it never read
    (tmp_path / "index").mkdir()
    argv = ["eval", "compare", "--index", str(tmp_path / "index"), "--testset", str(DATA / "eval" / "qa.jsonl"),
            "--out", str(tmp_path / "out"), "--modes", "rag", "--split", "dev", "--suites", "bbq"]  # fmt: skip
    result = runner.invoke(app, [*argv, "--bias-datasets", str(tmp_path / "none")])
    assert result.exit_code == 1, result.output
    assert f"bias benchmarks (BBQ/EsBBQ) skipped: {tmp_path / 'none'} not present" in result.output
    assert "no items in split" not in result.output and not (tmp_path / "out").exists()


def test_a_gold_id_the_index_does_not_hold_is_a_clear_error(bundled_index: Path, tmp_path: Path) -> None:
    # A typo in a gold id ("change-address-en" for change-shipping-address-en) scored that question's context
    # recall 0 in every mode, silently.
    records = [
        {"id": "q1", "lang": "en", "question": "Can I pay with PayPal?", "reference": "Yes.",
         "gold_ids": ["payment-methods-en"], "split": "dev"},
        {"id": "q2", "lang": "en", "question": "Can I change the delivery address?", "reference": "Before it ships.",
         "gold_ids": ["change-address-en"], "split": "dev"},
    ]  # fmt: skip
    testset = tmp_path / "mine.jsonl"
    testset.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = runner.invoke(app, ["eval", "compare", "--index", str(bundled_index), "--testset", str(testset),
                                 "--out", str(tmp_path / "out"), "--modes", "rag", "--split", "dev"])  # fmt: skip
    assert result.exit_code == 1, result.output
    assert f"error: {testset}: gold_ids that name no article of the index {bundled_index}: " in result.output
    assert "'change-address-en' (q2)" in result.output and "payment-methods-en" not in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()


def test_rag_llm_finds_the_base_of_a_shipped_style_adapter(
    smoke_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shipped adapter names its base by name (found in the data home) and uses the base's tokenizer ("@base"):
    # `eval compare --modes rag-llm --model data/models/gemma-270m-support` failed with "tokenizer .../@base is
    # missing" where chat and serve load the same folder.
    import shutil

    from evaluation.config import CompareConfig, CompareConfigError
    from evaluation.runner import base_model_folder
    from finetune.inference import load_model
    from tests.finetune.smoke import shipped_style_adapter

    adapter = shipped_style_adapter(smoke_model, tmp_path)
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    config = CompareConfig(index_dir=tmp_path, testset=DATA / "eval" / "qa.jsonl", out_dir=tmp_path / "run",
                           model_dir=adapter, modes=("rag-llm",))  # fmt: skip
    descriptor = json.loads((base_model_folder(config) / "supportbot_model.json").read_text(encoding="utf-8"))
    base = tmp_path / "home" / "models" / "smoke-base"
    assert Path(descriptor["model"]) == Path(descriptor["tokenizer"]) == base.resolve()
    model = load_model(tmp_path / "run" / "base-model", precision="fp32")
    assert not hasattr(model.model, "peft_config")  # the base, no adapter
    shutil.rmtree(base)
    with pytest.raises(CompareConfigError, match=r"base model is missing.*--base DIR"):
        base_model_folder(config)


@pytest.mark.parametrize("case", ["invalid-json", "out-is-a-file", "not-an-index"])
def test_a_bad_input_fails_before_the_agent_loads(tmp_path: Path, case: str) -> None:
    # An operator saw "loading the agent and running rag (the first turns load the models)" and only then the
    # error, for inputs checked before anything loads: a testset that is not JSON, an --out that is a file, an
    # --index folder that holds no index (which also read "eval compare: IndexFault: ..."). The first two are
    # checked before the index is opened, so the empty folder serves them all.
    index, testset, out = tmp_path / "index", DATA / "eval" / "qa.jsonl", tmp_path / "out"
    index.mkdir()
    if case == "invalid-json":
        testset = tmp_path / "qa.jsonl"
        testset.write_text("not json\n", encoding="utf-8")
    elif case == "out-is-a-file":
        out.write_text("mine", encoding="utf-8")
    argv = ["eval", "compare", "--index", str(index), "--testset", str(testset), "--out", str(out), "--modes", "rag",
            "--split", "dev", "--suites", "qa"]  # fmt: skip
    result = runner.invoke(app, argv)
    assert result.exit_code == 1, result.output
    assert result.output.startswith("error: "), result.output
    assert "loading" not in result.output and "Traceback" not in result.output and "IndexFault" not in result.output
    expected = {"invalid-json": f"{testset}:1: invalid JSON", "out-is-a-file": f"--out {out} is a file",
                "not-an-index": f"{index}: not an index"}  # fmt: skip
    assert expected[case] in result.output, result.output
    assert case == "out-is-a-file" or not out.exists()
