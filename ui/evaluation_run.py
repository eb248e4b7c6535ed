"""Find and read the latest ``supportbot eval compare`` output folder (metrics.json, report.md, PNG plots)."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOW_TO_RUN = (
    "supportbot eval compare --index {home}/index --model data/models/gemma-270m-support --testset data/eval/qa.jsonl "
    "--modes rag,finetune,hybrid --out {home}/runs/eval-latest"
)


@dataclass
class EvalRun:
    """One evaluation output folder, read."""

    path: Path
    metrics: dict[str, Any]
    report: str | None = None
    plots: list[Path] = field(default_factory=list)


def find_latest_run(root: Path) -> Path | None:
    """The evaluation folder to show: ``root`` itself when it holds ``metrics.json``, else its newest ``eval*/``.

    Sub-folders are ranked by the modification time of their ``metrics.json`` (a run is complete once it has one).
    """
    root = Path(root)
    if (root / "metrics.json").is_file():
        return root
    if not root.is_dir():
        return None
    candidates = [d for d in root.glob("eval*") if d.is_dir() and (d / "metrics.json").is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda d: ((d / "metrics.json").stat().st_mtime, d.name))


def list_runs(root: Path) -> list[Path]:
    """Every evaluation folder under ``root`` (``root`` itself, its sub-folders and theirs, each holding a
    ``metrics.json``), newest first; the evaluation page offers only these."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [root] if (root / "metrics.json").is_file() else []
    found += [p.parent for p in [*root.glob("*/metrics.json"), *root.glob("*/*/metrics.json")] if p.is_file()]
    return sorted(set(found), key=lambda d: ((d / "metrics.json").stat().st_mtime, d.name), reverse=True)


def load_run(path: Path) -> EvalRun:
    """Read ``metrics.json``, ``report.md`` and every PNG under ``path``.

    Raises:
        ValueError: ``metrics.json`` is missing or is not a JSON object.
    """
    metrics_file = Path(path) / "metrics.json"
    try:
        metrics = json.loads(metrics_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{metrics_file} cannot be read: {exc}") from exc
    if not isinstance(metrics, dict):
        raise ValueError(f"{metrics_file} must hold a JSON object")
    report_file = Path(path) / "report.md"
    report = report_file.read_text(encoding="utf-8") if report_file.is_file() else None
    plots = sorted(Path(path).rglob("*.png"))
    return EvalRun(path=Path(path), metrics=metrics, report=report, plots=plots)


def _format(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 4)
    return value


def estimate_text(leaf: dict[str, Any]) -> str:
    """``0.812 [0.750, 0.861]`` for an estimate with an interval, else the value alone."""
    value = leaf.get("value")
    if not isinstance(value, int | float):
        return "n/a" if value is None else str(value)
    low = leaf.get("low", leaf.get("ci_low"))
    high = leaf.get("high", leaf.get("ci_high"))
    if isinstance(low, int | float) and isinstance(high, int | float):
        return f"{value:.3f} [{low:.3f}, {high:.3f}]"
    return f"{value:.3f}"


def _leaves(node: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    if isinstance(node, dict):
        if "value" in node and not any(isinstance(v, dict) for v in node.values()):
            return [(path, node)]
        found = []
        for key, child in node.items():
            found.extend(_leaves(child, (*path, str(key))))
        return found
    return []


def metric_tables(metrics: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Tables to show from ``metrics.json``, whatever its nesting.

    Estimates (objects with a ``value``) nested as ``{section: {kpi: {mode: {lang: estimate}}}}`` become one table
    per section with a row per KPI and a column per ``mode / lang``; mode-level dicts of plain numbers
    (``{mode: {metric: number}}``) become a table with a row per mode; top-level scalars become "run".
    """
    tables: dict[str, list[dict[str, Any]]] = {}
    for section, node in metrics.items():
        leaves = _leaves(node, ())
        if leaves:
            rows: dict[str, dict[str, Any]] = {}
            for path, leaf in leaves:
                row_name = " / ".join(path[:-2]) or str(section)
                column = " / ".join(path[-2:]) or "value"
                rows.setdefault(row_name, {"": row_name})[column] = estimate_text(leaf)
            tables[str(section)] = list(rows.values())
        elif isinstance(node, dict) and node and all(isinstance(v, dict) for v in node.values()):
            flat = [
                {"": str(name), **{k: _format(v) for k, v in values.items() if isinstance(v, int | float | str)}}
                for name, values in node.items()
            ]
            if any(len(row) > 1 for row in flat):
                tables[str(section)] = flat
    scalars = {k: _format(v) for k, v in metrics.items() if isinstance(v, int | float | str | bool)}
    if scalars:
        tables["run"] = [{"field": k, "value": str(v)} for k, v in scalars.items()]
    return tables
