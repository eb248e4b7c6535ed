"""PNG plots of a comparison: one chart per KPI (modes x languages, 95% intervals) and latency distributions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.kpis import KPI_BY_NAME, LANGS
from evaluation.stats import Estimate

# One colour per row, the same in every chart (rag-llm had none: matplotlib's default blue, next to rag's, in the KPI
# charts and grey in the latency one), in the report's row order.
COLORS = {"rag": "#4C72B0", "rag-llm": "#8172B3", "finetune": "#DD8452", "hybrid": "#55A868"}


def _ordered(modes: Any) -> list[str]:
    # rag, rag-llm, finetune, hybrid first, in that order, whatever order the table holds them in
    return sorted(modes, key=lambda m: (list(COLORS).index(m) if m in COLORS else len(COLORS), m))


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(plt: Any, fig: Any, path: Path) -> Path:
    """Lay out, write ``path`` as a PNG (creating its folder) and free the figure."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_kpi(name: str, by_mode: Mapping[str, Mapping[str, Estimate]], path: Path) -> Path:
    """Grouped bars: one group per language (es, en, all), one bar per mode, whiskers = 95% bootstrap interval."""
    plt = _pyplot()
    kpi = KPI_BY_NAME[name]
    modes = _ordered(by_mode)
    langs = [lang for lang in LANGS if any(lang in per for per in by_mode.values())]
    width = 0.8 / max(len(modes), 1)
    highest = 0.0  # the top of the highest whisker
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for i, mode in enumerate(modes):
        xs: list[float] = []
        values: list[float] = []
        errors: list[list[float]] = [[], []]
        for j, lang in enumerate(langs):
            e = by_mode[mode].get(lang)
            if e is None or not e.defined:
                continue
            low = e.low if not math.isnan(e.low) else e.value
            high = e.high if not math.isnan(e.high) else e.value
            xs.append(j + (i - (len(modes) - 1) / 2) * width)
            values.append(e.value)
            errors[0].append(max(e.value - low, 0.0))
            errors[1].append(max(high - e.value, 0.0))
            highest = max(highest, high)
        ax.bar(xs, values, width, yerr=errors, capsize=3, label=mode, color=COLORS.get(mode))
    ax.set_xticks(range(len(langs)), langs)
    # every KPI is >= 0: a chart of zeros (no edge-case exception in any mode) was centred on 0, from -0.04 to 0.04
    ax.set_ylim(0.0, None if highest > 0 else 1.0)
    better = "higher" if kpi.higher_is_better else "lower"
    ax.set_title(f"{kpi.label} ({better} is better)", fontsize=10)
    ax.set_ylabel(kpi.unit or "score")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def plot_latency(latencies: Mapping[str, Mapping[str, Sequence[float]]], path: Path) -> Path:
    """Box plots of per-turn latency (ms, log scale) for every mode, per language."""
    plt = _pyplot()
    modes = _ordered(latencies)
    langs = [lang for lang in ("es", "en") if any(latencies[m].get(lang) for m in modes)]
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    data, labels = [], []
    for lang in langs:
        for mode in modes:
            values = list(latencies[mode].get(lang) or [])
            if values:
                data.append(values)
                labels.append(f"{mode}\n{lang}")
    if data:
        box = ax.boxplot(data, patch_artist=True, showfliers=True)
        for patch, label in zip(box["boxes"], labels, strict=True):
            patch.set_facecolor(COLORS.get(label.split("\n")[0], "#999999"))
        ax.set_xticks(range(1, len(labels) + 1), labels, fontsize=8)
        if min(min(d) for d in data) > 0:
            from matplotlib.ticker import LogFormatter

            ax.set_yscale("log")
            # the same ticks as matplotlib's default, labelled "50", "600" (not "5x10^1", "6x10^2")
            ax.yaxis.set_major_formatter(LogFormatter())
            ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
    ax.set_ylabel("turn latency (ms)")
    ax.set_title("Latency per turn", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def plot_node_latency(nodes: Mapping[str, Mapping[str, Mapping[str, Estimate]]], path: Path) -> Path:
    """Horizontal bars of each graph node's p50 and p95 latency (ms) per mode."""
    plt = _pyplot()
    modes = _ordered(nodes)
    names = sorted({n for m in modes for n in nodes[m]})
    fig, ax = plt.subplots(figsize=(6.4, max(2.5, 0.2 * len(names) * max(len(modes), 1) + 1.0)))
    height = 0.8 / max(len(modes), 1)
    for i, mode in enumerate(modes):
        ys = [j + (i - (len(modes) - 1) / 2) * height for j in range(len(names))]
        p50 = [nodes[mode].get(n, {}).get("p50", Estimate(0, 0, 0, 0)).value for n in names]
        p95 = [nodes[mode].get(n, {}).get("p95", Estimate(0, 0, 0, 0)).value for n in names]
        color = COLORS.get(mode)
        ax.barh(ys, p95, height, color=color, alpha=0.35)
        ax.barh(ys, p50, height, color=color, label=f"{mode} (p50 solid, p95 light)")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xscale("symlog", linthresh=1.0)  # nodes range from < 1 ms (routing) to seconds (generation)
    ax.set_xlabel("ms (log scale above 1 ms)")
    ax.set_title("Latency per graph node", fontsize=10)
    if modes:
        ax.legend(fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    return _save(plt, fig, path)


def write_plots(
    table: Mapping[str, Mapping[str, Mapping[str, Estimate]]],
    latencies: Mapping[str, Mapping[str, Sequence[float]]],
    nodes: Mapping[str, Mapping[str, Mapping[str, Estimate]]],
    folder: Path,
) -> list[Path]:
    """Write every plot into ``folder``; returns the files written."""
    paths = [plot_kpi(name, by_mode, folder / f"kpi_{name}.png") for name, by_mode in table.items()]
    if latencies:
        paths.append(plot_latency(latencies, folder / "latency_turns.png"))
    if any(nodes.values()):
        paths.append(plot_node_latency(nodes, folder / "latency_nodes.png"))
    return paths
