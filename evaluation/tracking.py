"""Log a comparison run to MLflow, with a ``sqlite:`` tracking store inside the run's output folder."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.stats import Estimate

EXPERIMENT = "supportbot-eval-compare"


def flat_metrics(table: Mapping[str, Mapping[str, Mapping[str, Estimate]]]) -> dict[str, float]:
    """``{kpi}.{mode}.{lang}`` (and ``..._ci_low``/``_ci_high``) -> value, skipping undefined estimates."""
    out: dict[str, float] = {}
    for kpi, by_mode in table.items():
        for mode, per_lang in by_mode.items():
            for lang, e in per_lang.items():
                for suffix, value in (("", e.value), ("_ci_low", e.low), ("_ci_high", e.high)):
                    if not math.isnan(value):
                        out[f"{kpi}{suffix}.{mode}.{lang}"] = float(value)
    return out


def log_run(
    out_dir: Path,
    params: Mapping[str, Any],
    table: Mapping[str, Mapping[str, Mapping[str, Estimate]]],
    artifacts: Sequence[Path],
) -> str:
    """Log params, every KPI estimate and the artifacts; returns the MLflow run id.

    The store is ``sqlite:///OUT/mlflow.db`` and artifacts go to ``OUT/mlartifacts``, so a run folder is
    self-contained: ``mlflow ui --backend-store-uri sqlite:///OUT/mlflow.db`` browses it.
    """
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    import mlflow

    out_dir = out_dir.resolve()
    client_uri = f"sqlite:///{out_dir / 'mlflow.db'}"
    mlflow.set_tracking_uri(client_uri)
    experiment = mlflow.get_experiment_by_name(EXPERIMENT)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment(EXPERIMENT, artifact_location=(out_dir / "mlartifacts").as_uri())
    )
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"compare-{params.get('split', '')}") as run:
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        metrics = flat_metrics(table)
        # MLflow metric names allow letters, digits, _ - . / and space
        mlflow.log_metrics({k.replace("@", "_at_"): v for k, v in metrics.items()})
        for artifact in artifacts:
            if artifact.is_file():
                folder = "plots" if artifact.suffix == ".png" else None
                mlflow.log_artifact(str(artifact), artifact_path=folder)
        return str(run.info.run_id)
