"""The markdown report of a comparison: headline, winners per language, full KPI tables, latency per node."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation.kpis import KPI_BY_NAME, KPIS, LANGS, Differences
from evaluation.stats import Estimate, WinCall

Table = Mapping[str, Mapping[str, Mapping[str, Estimate]]]
HEADLINE = ("rouge_l", "chrf", "embedding_similarity", "groundedness", "context_recall", "language_match",
            "oos_f1", "false_refusal_rate", "handoff_rate", "latency_p50_ms", "latency_p95_ms")  # fmt: skip
LANG_NAMES = {"es": "Spanish (es)", "en": "English (en)", "all": "Both languages"}


def _digits(name: str) -> int:
    return 0 if KPI_BY_NAME[name].unit in ("ms",) else (1 if KPI_BY_NAME[name].unit else 3)


def _cell(name: str, estimate: Estimate | None) -> str:
    return "–" if estimate is None else estimate.format(_digits(name))


def _arrow(name: str) -> str:
    return "↑" if KPI_BY_NAME[name].higher_is_better else "↓"


def kpi_table(
    table: Table,
    modes: Sequence[str],
    lang: str,
    names: Sequence[str] | None = None,
    calls: Mapping[str, Mapping[str, WinCall]] | None = None,
) -> str:
    """Markdown table: one row per KPI, one column per mode, cells ``value [95% CI]`` in ``lang``; winners bold."""
    from evaluation.kpis import call_winners

    calls = call_winners(table) if calls is None else calls
    lines = ["| KPI | " + " | ".join(modes) + " | n |", "|---|" + "---|" * (len(modes) + 1)]
    for kpi in KPIS:
        if kpi.name not in table or (names is not None and kpi.name not in names):
            continue
        winner = calls.get(kpi.name, {}).get(lang, WinCall(None, None, "")).winner
        cells, counts = [], []
        for mode in modes:
            estimate = table[kpi.name].get(mode, {}).get(lang)
            text = _cell(kpi.name, estimate)
            cells.append(f"**{text}**" if mode == winner else text)
            counts.append(estimate.n if estimate else 0)
        if any(counts):
            # one count when every mode measured as many units; else each mode's, in column order (groundedness is
            # measured on answered questions only, so a mode that declines more has fewer)
            n = str(counts[0]) if len(set(counts)) == 1 else " / ".join(map(str, counts))
            lines.append(f"| {kpi.label} {_arrow(kpi.name)} | " + " | ".join(cells) + f" | {n} |")
    return "\n".join(lines)


def winners_table(calls: Mapping[str, Mapping[str, WinCall]]) -> str:
    """Markdown table: per KPI, the winning mode in es, en and overall, or '—' where the intervals overlap."""
    lines = ["| KPI | es | en | all |", "|---|---|---|---|"]
    for kpi in KPIS:
        if kpi.name in calls:
            cells = [calls[kpi.name].get(lang, WinCall(None, None, "")).winner or "—" for lang in LANGS]
            lines.append(f"| {kpi.label} {_arrow(kpi.name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def win_statements(calls: Mapping[str, Mapping[str, WinCall]], lang: str) -> list[str]:
    """One sentence per KPI in ``lang``: who wins with the intervals, or why no win is claimed."""
    return [f"- **{KPI_BY_NAME[name].label}**: {per[lang].statement}" for name, per in calls.items() if lang in per]


def differences_table(diffs: Differences, lang: str, names: Sequence[str]) -> str:
    """Markdown table of paired differences ``a - b`` (95% CI) per KPI in ``lang``; a bold cell excludes 0."""
    pairs = list(dict.fromkeys(pair for name in names for pair in diffs.get(name, {}).get(lang, {})))
    if not pairs:
        return ""
    lines = ["| KPI | " + " | ".join(f"{a} − {b}" for a, b in pairs) + " |", "|---|" + "---|" * len(pairs)]
    for name in names:
        per = diffs.get(name, {}).get(lang, {})
        if not per:
            continue
        cells = []
        for pair in pairs:
            d = per.get(pair)
            if d is None or not d.defined or math.isnan(d.low):
                cells.append("–")
                continue
            digits = _digits(name)
            text = f"{d.value:+.{digits}f} [{d.low:+.{digits}f}, {d.high:+.{digits}f}]"
            cells.append(f"**{text}**" if d.low > 0 or d.high < 0 else text)
        lines.append(f"| {KPI_BY_NAME[name].label} {_arrow(name)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def node_table(nodes: Mapping[str, Mapping[str, Mapping[str, Estimate]]]) -> str:
    """Markdown table of p50/p95 latency (ms, 95% CI) per graph node and mode."""
    modes = list(nodes)
    names = sorted({n for m in modes for n in nodes[m]})
    lines = ["| node | " + " | ".join(f"{m} p50 | {m} p95" for m in modes) + " |", "|---|" + "---|---|" * len(modes)]
    for name in names:
        cells = []
        for mode in modes:
            stats = nodes[mode].get(name, {})
            cells += [_cell("latency_p50_ms", stats.get("p50")), _cell("latency_p95_ms", stats.get("p95"))]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def criteria_table(table: Table, modes: Sequence[str]) -> str:
    """Markdown table of the deployment criteria (docs/evaluation.md): pass/fail per mode and language."""
    from evaluation.criteria import THRESHOLDS, check_mode, deployable

    results = {m: {(c.kpi, c.lang): c.passed for c in check_mode(table, m)} for m in modes}
    lines = ["| criterion | " + " | ".join(modes) + " |", "|---|" + "---|" * len(modes)]
    for kpi, threshold in THRESHOLDS.items():
        sign = ">=" if KPI_BY_NAME[kpi].higher_is_better else "<="
        cells = []
        for mode in modes:
            marks = [f"{lang} {'✓' if ok else '✗'}" for (name, lang), ok in results[mode].items() if name == kpi]
            cells.append(" ".join(marks) or "not run")
        lines.append(f"| {KPI_BY_NAME[kpi].label} {sign} {threshold:g} | " + " | ".join(cells) + " |")
    lines.append("| **deployable** | " + " | ".join("**yes**" if deployable(table, m) else "no" for m in modes) + " |")
    return "\n".join(lines)


def write_report(
    path: Path,
    *,
    table: Table,
    calls: Mapping[str, Mapping[str, WinCall]],
    nodes: Mapping[str, Mapping[str, Mapping[str, Estimate]]],
    run: Mapping[str, Any],
    plots: Sequence[Path],
    failures: Sequence[str] = (),
    diffs: Differences | None = None,
) -> Path:
    """Write ``report.md``: run description, headline, winners per language, full tables, latency, plots."""
    modes = list(run["modes"])
    parts = [
        "# Offline comparison of answering modes: " + ", ".join(modes),
        "",
        f"Split **{run['split']}**, {run['turns']} turns ({run['items']} messages per mode), index "
        f"`{run['index']}`, model {'`' + run['model'] + '`' if run.get('model') else 'none'}, "
        f"rag generator `{run['rag_generator']}`, copy bias "
        f"{tuple(run.get('copy_bias') or ())}. "
        f"Intervals are 95% percentile-bootstrap intervals ({run['n_resamples']} resamples, seed {run['seed']}). "
        + (
            "Every mode answers the same messages, so modes are compared **paired**: the bootstrap resamples "
            "messages and compares the modes on each; a mode **wins** a KPI only when its paired difference to "
            "every other mode excludes 0"
            if diffs is not None
            else "A mode **wins** a KPI only when its interval does not overlap any other mode's interval"
        )
        + "; otherwise the report says there is no clear winner. ↑ higher is better, ↓ lower is better. "
        "`all` pools the Spanish and English units (it is not the mean of the es and en values, so the language "
        "with more units weighs more); n is the number of units (questions, messages, groups, pairs or turns, "
        "see docs/evaluation.md), one per mode where they differ.",
        "",
    ]
    parts += [f"> note: {note}" for note in run.get("notes", [])]
    dev_note = [] if run["split"] == "test" else [
        f"This run is on split **{run['split']}**: deployment is decided on the test split only "
        "(docs/evaluation.md, Validation process), so read this table as a development check.", ""]  # fmt: skip
    parts += ["", "## Headline (both languages)", "", kpi_table(table, modes, "all", HEADLINE, calls), ""]
    if diffs is not None and len(modes) > 1:  # one mode has nothing to be compared with
        parts += ["## Paired differences (headline KPIs)", "",
                  "Per-message differences, resampled together; bold: the interval excludes 0.", ""]  # fmt: skip
        for lang in LANGS:
            parts += [f"### {LANG_NAMES[lang]}", "", differences_table(diffs, lang, HEADLINE), ""]
    if len(modes) > 1:
        parts += ["## Winners per language", "", winners_table(calls), ""]
        for lang in LANGS:
            parts += [f"### {LANG_NAMES[lang]}", "", *win_statements(calls, lang), ""]
    else:  # a sentence per KPI and language saying so was most of a one-mode report
        parts += ["## Winners per language", "", f"One mode ({modes[0]}): no other mode to compare it with.", ""]
    for lang in LANGS:
        parts += [f"## All KPIs: {LANG_NAMES[lang]}", "", kpi_table(table, modes, lang, None, calls), ""]
    parts += [
        "## Deployment criteria",
        "",
        "Each criterion must hold for the whole 95% interval in Spanish and in English (docs/evaluation.md).",
        "",
        *dev_note,
        criteria_table(table, modes),
        "",
    ]
    if any(nodes.values()):
        parts += ["## Latency per graph node (ms)", "", node_table(nodes), ""]
    if failures:
        parts += ["## Examples of failed expectations", ""] + [f"- {f}" for f in failures] + [""]
    if plots:
        parts += ["## Plots", ""]
        parts += [f"![{p.stem}]({p.relative_to(path.parent).as_posix()})" for p in plots]
        parts.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
