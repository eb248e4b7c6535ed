"""Run every mode on the same messages through the real agent (graph.service.ChatService) and write the report.

Flat recipe: load items -> chat every item in every mode -> score -> bootstrap -> call winners -> write
``metrics.json``, ``turns.jsonl``, ``report.md``, ``plots/*.png`` -> log to MLflow.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evaluation import scoring
from evaluation.bbq import score_bbq
from evaluation.config import CompareConfig
from evaluation.kpis import aggregate, call_winners, p50, p95, table_to_dict
from evaluation.metrics import node_latencies
from evaluation.stats import Estimate, bootstrap_ci
from evaluation.suites import Item, load_items

Progress = Callable[[int, int, str], None]
Turn = dict[str, Any]


def build_service(config: CompareConfig) -> Any:
    """One ChatService for all modes (the mode is chosen per turn), with its memory and store in the run folder."""
    from graph.config import CHECKPOINT_FILE, STORE_FILE, GraphConfig
    from graph.service import ChatService

    needs_llm = any(m != "rag" for m in config.modes) or config.rag_generator == "llm"
    graph_config = GraphConfig(
        index_dir=config.index_dir,
        mode=config.modes[0],  # type: ignore[arg-type]
        generator=config.generator if needs_llm else "extractive",
        rag_generator=config.rag_generator,
        model_dir=config.model_dir if needs_llm else None,
        openai_base_url=config.openai_base_url,
        max_new_tokens=config.max_new_tokens,
        checkpoint_db=config.out_dir / CHECKPOINT_FILE,
        store_db=config.out_dir / STORE_FILE,
        cache_dir=config.cache_dir,
    )
    return ChatService(graph_config)


def _one_turn(service: Any, item: Item, mode: str) -> Turn:
    """One item in one mode, in a fresh session; an exception is recorded as route ``error``, never raised."""
    session = f"eval-{mode}-{item['suite']}-{item['id']}-{item['meta'].get('variant', '')}"
    turn: Turn = {**{k: item[k] for k in ("suite", "id", "lang", "message", "meta")}, "mode": mode}
    start = time.perf_counter()
    try:
        result = service.chat(item["message"], session_id=session, mode=mode)
        turn.update(
            answer=str(result.get("answer") or ""),
            route=str(result.get("route") or ""),
            answer_lang=result.get("lang"),
            sources=list(result.get("sources") or []),
            latency_ms=float(result.get("latency_ms") or (time.perf_counter() - start) * 1000),
            node_latency_ms=dict(result.get("node_latency_ms") or {}),
            tokens_generated=int(result.get("tokens_generated") or 0),
            error=None,
        )
    except Exception as exc:  # the edge-case suite counts exceptions; one must not stop the run
        turn.update(answer="", route="error", sources=[], latency_ms=(time.perf_counter() - start) * 1000,
                    node_latency_ms={}, tokens_generated=0, error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    return turn


def run_turns(
    service: Any, items: Sequence[Item], modes: Sequence[str], progress: Progress | None = None, workers: int = 1
) -> list[Turn]:
    """Send every item to every mode, each in a fresh session; turns come back in (mode, item) order.

    With ``workers > 1`` that many turns of a mode run at once, so the ``hf`` generator batches their generation
    (and an OpenAI-compatible server sees concurrent requests): faster, but each turn's latency then includes
    waiting for its batch, as it would in a busy deployment.
    """
    from concurrent.futures import ThreadPoolExecutor

    turns: list[Turn] = []
    total = len(items) * len(modes)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for mode in modes:
            for turn in pool.map(lambda item, mode=mode: _one_turn(service, item, mode), items):
                turns.append(turn)
                if progress:
                    progress(len(turns), total, mode)
    return turns


def score_turns(turns: Sequence[Turn], embedder: Any) -> list[dict[str, Any]]:
    """Every suite's measurement rows (see :mod:`evaluation.scoring`)."""
    return [
        *scoring.score_qa(turns, embedder),
        *scoring.score_scope(turns),
        *scoring.score_operational(turns),
        *scoring.score_consistency(turns, embedder),
        *scoring.score_edge(turns),
        *scoring.score_bias(turns, embedder),
        *score_bbq(turns),
    ]


def node_estimates(turns: Sequence[Turn], n_resamples: int, seed: int) -> dict[str, dict[str, dict[str, Estimate]]]:
    """p50 and p95 latency with intervals for every graph node, per mode."""
    by_mode: dict[str, list[Turn]] = defaultdict(list)
    for t in turns:
        if not t.get("error"):
            by_mode[t["mode"]].append(t)
    return {
        mode: {
            node: {
                "p50": bootstrap_ci(values, p50, n_resamples=n_resamples, seed=seed),
                "p95": bootstrap_ci(values, p95, n_resamples=n_resamples, seed=seed),
            }
            for node, values in sorted(node_latencies(mode_turns).items())
        }
        for mode, mode_turns in by_mode.items()
    }


def failures(turns: Sequence[Turn], limit: int = 20) -> list[str]:
    """Edge cases that missed their route, and exceptions, as short lines for the report."""
    lines = []
    for t in turns:
        if t.get("error"):
            lines.append(f"{t['mode']} `{t['id']}` raised {t['error'][:160]}")
        elif t["suite"] == "edge" and t["route"] != t["meta"]["expected_route"]:
            lines.append(f"{t['mode']} `{t['id']}` ({t['meta'].get('kind')}): expected {t['meta']['expected_route']}, "
                         f"got {t['route']}")  # fmt: skip
    return lines[:limit]


def summarize(turns: Sequence[Turn], embedder: Any, *, n_resamples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Scores, KPI table with intervals, winners, node latencies and route counts for a list of turns."""
    cached = scoring.CachedEmbedder(embedder)
    texts = [t["answer"] for t in turns] + [t["meta"]["reference"] for t in turns if "reference" in t["meta"]]
    cached.prime([t for t in texts if t.strip()] + ["-"])
    rows = score_turns(turns, cached)
    table = aggregate(rows, n_resamples=n_resamples, seed=seed)
    routes: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    latencies: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for t in turns:
        routes[t["mode"]][t["suite"]][t["route"]] += 1
        if not t.get("error"):
            latencies[t["mode"]][t["lang"]].append(float(t["latency_ms"]))
    return {
        "table": table,
        "calls": call_winners(table),
        "nodes": node_estimates(turns, n_resamples, seed),
        "routes": {m: {s: dict(c) for s, c in per.items()} for m, per in routes.items()},
        "latencies": {m: dict(per) for m, per in latencies.items()},
    }


def write_outputs(
    config: CompareConfig, turns: Sequence[Turn], summary: dict[str, Any], run: dict[str, Any]
) -> dict[str, Any]:
    """Write metrics.json, turns.jsonl, plots and report.md into the output folder; log to MLflow."""
    from evaluation.criteria import deployable
    from evaluation.plots import write_plots
    from evaluation.report import write_report

    out = config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with (out / "turns.jsonl").open("w", encoding="utf-8") as handle:
        for t in turns:
            handle.write(json.dumps(t, ensure_ascii=False, default=str) + "\n")
    plots = write_plots(summary["table"], summary["latencies"], summary["nodes"], out / "plots")
    document = {
        "run": run,
        "kpis": table_to_dict(summary["table"]),
        "winners": {k: {lang: c.to_dict() for lang, c in per.items()} for k, per in summary["calls"].items()},
        "node_latency_ms": {
            m: {n: {q: e.to_dict() for q, e in s.items()} for n, s in per.items()}
            for m, per in summary["nodes"].items()
        },
        "deployable": {m: deployable(summary["table"], m) for m in config.modes},
        "routes": summary["routes"],
        "plots": [p.relative_to(out).as_posix() for p in plots],
    }
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    report = write_report(out / "report.md", table=summary["table"], calls=summary["calls"], nodes=summary["nodes"],
                          run=run, plots=plots, failures=failures(turns))  # fmt: skip
    if config.mlflow:
        document["run"]["mlflow_run_id"] = run["mlflow_run_id"] = _log(
            config, run, summary, [metrics_path, report, *plots]
        )
        metrics_path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return document


def _log(config: CompareConfig, run: dict[str, Any], summary: dict[str, Any], artifacts: list[Path]) -> str:
    from evaluation.tracking import log_run

    params = {
        k: run[k] for k in ("modes", "split", "limit", "index", "model", "rag_generator", "items", "turns", "workers")
    }
    return log_run(config.out_dir, params, summary["table"], artifacts)


def run_comparison(config: CompareConfig, progress: Progress | None = None, service: Any = None) -> dict[str, Any]:
    """The whole comparison; returns the ``metrics.json`` document.

    Args:
        config: The run's settings.
        progress: Called after every turn with (done, total, mode).
        service: An already-built ChatService to reuse (tests share one); None builds one from ``config``.
    """
    from retrieval.embeddings import load_embedder

    started = time.perf_counter()
    items, notes = load_items(
        config.suites, testset=config.testset, scope_set=config.scope_path, prompts_dir=config.prompts_path,
        bias_datasets=config.bias_datasets, split=config.split, limit=config.limit,
        bbq_per_language=config.bbq_per_language, seed=config.seed,
    )  # fmt: skip
    if not items:
        raise ValueError(f"{config.testset}: no items in split {config.split!r}")
    config.out_dir.mkdir(parents=True, exist_ok=True)
    service = service or build_service(config)
    chat_started = time.perf_counter()
    turns = run_turns(service, items, config.modes, progress, workers=config.workers)
    chat_seconds = time.perf_counter() - chat_started
    embedder = load_embedder(config.embedder, cache_dir=config.cache_dir)
    summary = summarize(turns, embedder, n_resamples=config.n_resamples, seed=config.seed)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in items:
        counts[item["suite"]][item["lang"]] += 1
    run = {
        "modes": list(config.modes), "split": config.split, "limit": config.limit, "index": str(config.index_dir),
        "model": str(config.model_dir), "rag_generator": config.rag_generator, "generator": config.generator,
        "items": len(items), "turns": len(turns), "workers": config.workers,
        "counts": {s: dict(c) for s, c in counts.items()},
        "notes": notes, "n_resamples": config.n_resamples, "seed": config.seed,
        "errors": sum(bool(t.get("error")) for t in turns), "chat_seconds": round(chat_seconds, 1),
    }  # fmt: skip
    document = write_outputs(config, turns, summary, run)
    document["run"]["total_seconds"] = round(time.perf_counter() - started, 1)
    (config.out_dir / "metrics.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return document
