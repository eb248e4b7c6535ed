"""Log a comparison run to the data home's MLflow store (:mod:`finetune.tracking`): one experiment for them all."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.stats import Estimate
from finetune.tracking import EVAL_EXPERIMENT, start_run


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
    home: Path,
    out_dir: Path,
    params: Mapping[str, Any],
    table: Mapping[str, Mapping[str, Mapping[str, Estimate]]],
    artifacts: Sequence[Path],
) -> str:
    """Log params, every KPI estimate and the artifacts of the run in ``out_dir``; returns the MLflow run id.

    The run goes to the data home's store (``sqlite:///<home>/mlflow.db``, experiment ``supportbot-eval-compare``,
    see :mod:`finetune.tracking`), so comparisons sit side by side:
    ``mlflow ui --backend-store-uri sqlite:///<home>/mlflow.db``.
    """
    run = start_run(home, EVAL_EXPERIMENT, f"compare-{params.get('split', '')}", Path(out_dir).resolve(), params)
    # MLflow metric names allow letters, digits, _ - . / and space
    run.log_metrics({k.replace("@", "_at_"): v for k, v in flat_metrics(table).items()})
    for artifact in artifacts:
        if artifact.is_file():
            run.log_artifact(artifact, "plots" if artifact.suffix == ".png" else None)
    run.finish()
    return str(run.run_id)
