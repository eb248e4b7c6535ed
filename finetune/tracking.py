"""MLflow tracking of a training run in a SQLite store inside the run folder (``OUT/mlflow.db``).

The run is trained in a work folder that is renamed to ``OUT`` at the end, so the store is opened at the work
path while training, closed before the rename, and re-opened at the final path to attach the model card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from finetune.config import TrainConfig

EXPERIMENT = "supportbot-train"


class Tracker:
    """Params and metrics of one run, logged through an explicit ``MlflowClient`` (no global MLflow state)."""

    def __init__(self, work: Path, out: Path, config: TrainConfig) -> None:
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(f"sqlite:///{work / 'mlflow.db'}")
        experiment = self.client.get_experiment_by_name(EXPERIMENT)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self.client.create_experiment(EXPERIMENT, artifact_location=(out / "mlartifacts").as_uri())
        )
        self.run_id: str = self.client.create_run(experiment_id, run_name=f"{config.preset}").info.run_id
        from mlflow.entities import Param

        params = [Param(k, str(v)[:500]) for k, v in config.to_dict().items()]
        self.client.log_batch(self.run_id, params=params)

    def log_metrics(self, values: dict[str, float], step: int) -> None:
        """Log numeric ``values`` at ``step``."""
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(k, float(v), now, step) for k, v in values.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def close(self) -> None:
        """Mark the run finished and release the SQLite file before the work folder is renamed."""
        self.client.set_terminated(self.run_id)
        store = getattr(self.client._tracking_client, "store", None)
        engine = getattr(store, "engine", None)
        if engine is not None:
            engine.dispose()

    def attach_artifacts(self, out: Path) -> None:
        """Copy the model card and metrics into the run's artifacts, through the store at its final path."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(f"sqlite:///{out / 'mlflow.db'}")
        for name in ("model_card.md", "metrics.json"):
            if (out / name).is_file():
                client.log_artifact(self.run_id, str(out / name))


def open_tracker(work: Path, out: Path, config: TrainConfig) -> Any:
    """Start tracking a run (MLflow's first use of a new SQLite store takes a few seconds: it creates tables)."""
    return Tracker(work, out, config)
