"""One MLflow store in the data home: training and comparison runs side by side, one experiment per kind."""

from __future__ import annotations

from pathlib import Path

from finetune.tracking import EVAL_EXPERIMENT, TRAIN_EXPERIMENT, start_run, store_uri


def test_runs_of_both_kinds_share_the_data_home_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    folders = [tmp_path / "runs" / name for name in ("train-a", "train-b", "eval")]
    for folder, experiment in zip(folders, (TRAIN_EXPERIMENT, TRAIN_EXPERIMENT, EVAL_EXPERIMENT), strict=True):
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text("{}", encoding="utf-8")
        run = start_run(home, experiment, folder.name, folder, {"lr": 0.1, "long": "x" * 900})
        run.log_metrics({"loss": 1.5}, step=3)
        run.log_artifact(folder / "metrics.json")
        run.finish()
    assert sorted(p.name for p in home.iterdir()) == ["mlartifacts", "mlflow.db"]
    assert not [p for p in (tmp_path / "runs").rglob("mlflow.db")]

    from mlflow.tracking import MlflowClient

    client = MlflowClient(store_uri(home))
    train = client.get_experiment_by_name(TRAIN_EXPERIMENT)
    evaluation = client.get_experiment_by_name(EVAL_EXPERIMENT)
    assert train is not None and evaluation is not None
    runs = client.search_runs([train.experiment_id])
    assert {r.data.tags["run_folder"] for r in runs} == {str(folders[0]), str(folders[1])}
    assert all(r.info.status == "FINISHED" and r.data.metrics["loss"] == 1.5 for r in runs)
    assert runs[0].data.params["lr"] == "0.1" and len(runs[0].data.params["long"]) == 500
    (evaluated,) = client.search_runs([evaluation.experiment_id])
    assert [a.path for a in client.list_artifacts(evaluated.info.run_id)] == ["metrics.json"]
    artifacts = Path(evaluation.artifact_location.removeprefix("file://"))
    assert artifacts == home.resolve() / "mlartifacts" / EVAL_EXPERIMENT
