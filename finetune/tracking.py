"""MLflow tracking: one SQLite store in the data home, one experiment per kind of run.

Every run goes to ``<home>/mlflow.db``: training runs to the ``supportbot-train`` experiment, comparison runs
(:mod:`evaluation.tracking`) to ``supportbot-eval-compare``, so runs of a kind sit side by side
(``mlflow ui --backend-store-uri sqlite:///<home>/mlflow.db``). MLflow's copies of the artifacts go to
``<home>/mlartifacts/<experiment>/``; each run folder keeps its own files (model card, metrics.json, report), and
its run carries the folder in the ``run_folder`` tag. Runs are logged through an explicit ``MlflowClient`` (no
global MLflow state).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from finetune.config import TrainConfig

STORE = "mlflow.db"
TRAIN_EXPERIMENT = "supportbot-train"
EVAL_EXPERIMENT = "supportbot-eval-compare"


def default_home() -> Path:
    """The data home when the caller names none: ``SUPPORTBOT_HOME``, else ``./.supportbot`` (the settings' default)."""
    return Path(os.environ.get("SUPPORTBOT_HOME", ".supportbot"))


def store_uri(home: Path) -> str:
    """The tracking store of the data home ``home``: ``sqlite:///<home>/mlflow.db``."""
    return f"sqlite:///{Path(home).resolve() / STORE}"


def start_run(home: Path, experiment: str, run_name: str, run_folder: Path, params: Mapping[str, Any]) -> Any:
    """Open the data home's store, start a run of ``experiment`` and log ``params``; the :class:`Run`.

    The first use of a new store takes a few seconds (MLflow creates its tables).
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(store_uri(home))
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found is not None
        else client.create_experiment(experiment, artifact_location=(home / "mlartifacts" / experiment).as_uri())
    )
    run_id = client.create_run(experiment_id, run_name=run_name, tags={"run_folder": str(run_folder)}).info.run_id
    client.log_batch(run_id, params=[Param(k, str(v)[:500]) for k, v in params.items()])
    return Run(client, run_id)


class Run:
    """One tracked run: metrics, artifacts, and the end."""

    def __init__(self, client: Any, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_metrics(self, values: Mapping[str, float], step: int = 0) -> None:
        """Log numeric ``values`` at ``step``."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def log_artifact(self, path: Path, folder: str | None = None) -> None:
        """Copy the file ``path`` into the run's artifacts (under ``folder``)."""
        self.client.log_artifact(self.run_id, str(path), artifact_path=folder)

    def finish(self) -> None:
        """Mark the run finished."""
        self.client.set_terminated(self.run_id)


def open_tracker(home: Path, out: Path, config: TrainConfig) -> Run:
    """Start tracking a training run whose model folder will be ``out``: the config's fields as params."""
    return start_run(home, TRAIN_EXPERIMENT, config.preset, out, config.to_dict())


def finish_training(run: Run, out: Path) -> None:
    """Attach the model card and metrics of the finished model folder ``out`` and end the run."""
    for name in ("model_card.md", "metrics.json"):
        if (out / name).is_file():
            run.log_artifact(out / name)
    run.finish()
