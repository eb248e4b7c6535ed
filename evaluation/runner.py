"""Run every mode on the same messages through the real agent (graph.service.ChatService) and write the report.

Flat recipe: load items -> chat every item in every mode -> score -> bootstrap -> call winners -> write
``metrics.json``, ``turns.jsonl``, ``report.md``, ``plots/*.png`` -> log to MLflow.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from evaluation import scoring
from evaluation.bbq import score_bbq
from evaluation.config import GRAPH_MODE, CompareConfig, CompareConfigError
from evaluation.kpis import aggregate, call_winners, differences, differences_to_dict, p50, p95, table_to_dict
from evaluation.metrics import node_latencies
from evaluation.stats import Estimate, bootstrap_ci
from evaluation.suites import EvalDataError, Item, check_gold_ids, load_items

Progress = Callable[[int, int, str], None]
Turn = dict[str, Any]


def build_service(config: CompareConfig) -> Any:
    """One ChatService for the rag (extractive), finetune and hybrid rows (the mode is chosen per turn), with its
    memory and store in the run folder."""
    from graph.config import GraphConfig, state_files
    from graph.service import ChatService

    needs_llm = any(m in ("finetune", "hybrid") for m in config.rows)
    graph_config = GraphConfig(
        index_dir=config.index_dir,
        mode="hybrid" if needs_llm else "rag",
        generator=config.generator if needs_llm else "extractive",
        rag_generator="extractive",
        model_dir=config.model_dir if needs_llm else None,
        openai_base_url=config.openai_base_url,
        max_new_tokens=config.max_new_tokens,
        cache_dir=config.cache_dir,
        copy_bias=config.copy_bias,
        **state_files(config.out_dir),
    )
    return ChatService(graph_config)


def base_model_folder(config: CompareConfig) -> Path:
    """The model folder of the rag-llm row: ``--base``, or the base of the ``--model`` adapter without its adapter.

    For an adapter, a small descriptor (``base-model/supportbot_model.json`` in the run folder) points
    ``finetune.inference.load_model`` at the adapter's base weights and its tokenizer: the same weights and
    tokens the fine-tune started from, no LoRA.
    """
    from finetune.inference import MODEL_FILE, ModelLoadError, read_descriptor, resolve_base, tokenizer_folder

    if config.base_dir is not None:
        return config.base_dir
    assert config.model_dir is not None  # CompareConfig checked it
    if not (config.model_dir / MODEL_FILE).is_file():
        raise CompareConfigError(f"--model {config.model_dir} has no {MODEL_FILE}: pass the base model with --base DIR")
    try:  # found as serving finds it: the recorded path, else <data home>/models/<base_name>; "@base" tokenizers
        info = read_descriptor(config.model_dir)
        if info["kind"] != "adapter":
            raise CompareConfigError(f"--model {config.model_dir} names no base model (merged?): pass --base DIR")
        base, tokenizer = resolve_base(config.model_dir, info), tokenizer_folder(config.model_dir, info)
    except ModelLoadError as exc:
        raise CompareConfigError(f"{exc} (or pass the base model with --base DIR)") from exc
    folder = config.out_dir / "base-model"
    folder.mkdir(parents=True, exist_ok=True)
    document = {"kind": "merged", "model": str(base.resolve()), "tokenizer": str(tokenizer.resolve()),
                "lang_aware": bool(info.get("lang_aware")),
                "note": f"base of {config.model_dir}, no adapter"}  # fmt: skip
    (folder / MODEL_FILE).write_text(json.dumps(document, indent=2), encoding="utf-8")
    return folder


def build_base_service(config: CompareConfig) -> Any:
    """The ChatService of the rag-llm row: rag mode, answered by the un-tuned base model with the RAG prompt."""
    from graph.config import GraphConfig, state_files
    from graph.service import ChatService

    folder = config.out_dir / "rag-llm"
    graph_config = GraphConfig(
        index_dir=config.index_dir,
        mode="rag",
        generator="hf",
        rag_generator="llm",
        model_dir=base_model_folder(config),
        max_new_tokens=config.max_new_tokens,
        cache_dir=config.cache_dir,
        copy_bias=config.copy_bias,
        **state_files(folder),
    )
    return ChatService(graph_config)


def _one_turn(service: Any, item: Item, mode: str) -> Turn:
    """One item in one mode (a report row), in a fresh session; an exception is recorded as route ``error``."""
    session = f"eval-{mode}-{item['suite']}-{item['id']}-{item['meta'].get('variant', '')}"
    turn: Turn = {**{k: item[k] for k in ("suite", "id", "lang", "message", "meta")}, "mode": mode}
    start = time.perf_counter()
    try:
        result = service.chat(item["message"], session_id=session, mode=GRAPH_MODE[mode])
        turn.update(
            answer=str(result.get("answer") or ""),
            route=str(result.get("route") or ""),
            answer_lang=result.get("lang"),
            sources=list(result.get("sources") or []),
            shown=list(result.get("shown") or result.get("sources") or []),
            latency_ms=float(result.get("latency_ms") or (time.perf_counter() - start) * 1000),
            node_latency_ms=dict(result.get("node_latency_ms") or {}),
            tokens_generated=int(result.get("tokens_generated") or 0),
            error=None,
        )
    except Exception as exc:  # the edge-case suite counts exceptions; one must not stop the run
        turn.update(answer="", route="error", sources=[], shown=[], latency_ms=(time.perf_counter() - start) * 1000,
                    node_latency_ms={}, tokens_generated=0, error=f"{type(exc).__name__}: {exc}")  # fmt: skip
    return turn


def run_turns(
    service: Any, items: Sequence[Item], modes: Sequence[str], progress: Progress | None = None, workers: int = 1
) -> list[Turn]:
    """Send every item to every mode, each in a fresh session; turns come back in (mode, item) order.

    ``service`` is one ChatService for every mode, or ``{mode: ChatService}`` (the rag-llm row has its own).

    With ``workers > 1`` that many turns of a mode run at once, so the ``hf`` generator batches their generation
    (and an OpenAI-compatible server sees concurrent requests): faster, but each turn's latency then includes
    waiting for its batch, as it would in a busy deployment.
    """
    from concurrent.futures import ThreadPoolExecutor

    turns: list[Turn] = []
    total = len(items) * len(modes)
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for mode in modes:
            chat = service[mode] if isinstance(service, Mapping) else service
            for turn in pool.map(lambda item, mode=mode, chat=chat: _one_turn(chat, item, mode), items):
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
    """Scores, KPI table with intervals, paired differences, winners, node latencies and route counts."""
    cached = scoring.CachedEmbedder(embedder)
    texts = [t["answer"] for t in turns] + [t["meta"]["reference"] for t in turns if "reference" in t["meta"]]
    cached.prime([t for t in texts if t.strip()] + ["-"])
    rows = score_turns(turns, cached)
    table = aggregate(rows, n_resamples=n_resamples, seed=seed)
    modes = list(dict.fromkeys(t["mode"] for t in turns))
    diffs = differences(rows, modes, n_resamples=n_resamples, seed=seed)
    routes: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
    latencies: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for t in turns:
        routes[t["mode"]][t["suite"]][t["route"]] += 1
        if not t.get("error"):
            latencies[t["mode"]][t["lang"]].append(float(t["latency_ms"]))
    return {
        "table": table,
        "differences": diffs,
        "calls": call_winners(table, diffs),
        "nodes": node_estimates(turns, n_resamples, seed),
        "routes": {m: {s: dict(c) for s, c in per.items()} for m, per in routes.items()},
        "latencies": {m: dict(per) for m, per in latencies.items()},
    }


def write_outputs(
    config: CompareConfig,
    turns: Sequence[Turn],
    summary: dict[str, Any],
    run: dict[str, Any],
    folder: Path | None = None,
) -> dict[str, Any]:
    """Write metrics.json, turns.jsonl, plots and report.md into ``folder`` (default: the output folder); log to
    MLflow, naming the output folder."""
    from evaluation.criteria import deployable
    from evaluation.plots import write_plots
    from evaluation.report import write_report

    out = folder or config.out_dir
    out.mkdir(parents=True, exist_ok=True)
    with (out / "turns.jsonl").open("w", encoding="utf-8") as handle:
        for t in turns:
            handle.write(json.dumps(t, ensure_ascii=False, default=str) + "\n")
    plots = write_plots(summary["table"], summary["latencies"], summary["nodes"], out / "plots")
    document = {
        "run": run,
        "kpis": table_to_dict(summary["table"]),
        "winners": {k: {lang: c.to_dict() for lang, c in per.items()} for k, per in summary["calls"].items()},
        "differences": differences_to_dict(summary["differences"]),
        "node_latency_ms": {
            m: {n: {q: e.to_dict() for q, e in s.items()} for n, s in per.items()}
            for m, per in summary["nodes"].items()
        },
        "deployable": {m: deployable(summary["table"], m) for m in config.rows},
        "routes": summary["routes"],
        "plots": [p.relative_to(out).as_posix() for p in plots],
    }
    metrics_path = out / "metrics.json"
    metrics_path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    report = write_report(out / "report.md", table=summary["table"], calls=summary["calls"], nodes=summary["nodes"],
                          run=run, plots=plots, failures=failures(turns),
                          diffs=summary["differences"])  # fmt: skip
    if config.mlflow:
        document["run"]["mlflow_run_id"] = run["mlflow_run_id"] = _log(
            config, run, summary, [metrics_path, report, *plots]
        )
        metrics_path.write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return document


def _log(config: CompareConfig, run: dict[str, Any], summary: dict[str, Any], artifacts: list[Path]) -> str:
    from evaluation.tracking import log_run

    params = {
        k: run[k]
        for k in (
            "modes",
            "split",
            "limit",
            "index",
            "model",
            "rag_generator",
            "copy_bias",
            "items",
            "turns",
            "workers",
        )
    }
    return log_run(config.cache_dir, config.out_dir, params, summary["table"], artifacts)


def is_comparison(folder: Path) -> bool:
    """Whether ``folder`` holds an earlier comparison's output (replaced without ``--overwrite``)."""
    return (folder / "metrics.json").is_file() and (folder / "report.md").is_file()


def run_comparison(
    config: CompareConfig,
    progress: Progress | None = None,
    service: Any = None,
    checked: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The whole comparison; returns the ``metrics.json`` document.

    The run happens in a hidden folder beside ``config.out_dir`` (``finetune.output.building``), published whole
    at the end: every run starts with empty conversation memory and support store (a re-run into the same folder
    used to continue the previous run's sessions), an interrupted or failed run leaves ``out_dir`` as it was, and a
    folder that is not an earlier comparison (a data home, whose state the sessions would join) is refused unless
    ``config.overwrite``.

    Args:
        config: The run's settings.
        progress: Called after every turn with (done, total, mode).
        service: An already-built ChatService to reuse (tests share one); None builds one from ``config``.
        checked: Called once every input is checked (the output folder, the evaluation files, the index's
            articles), before the agent and its models load: the CLI says "loading" there, not before an error.

    Raises:
        OutputError: ``out_dir`` is a file, holds an input, or is a non-empty folder of something else.
        EvalDataError: an evaluation file that cannot be used, or no items in the split.
        IndexFault: ``index_dir`` holds no index.
    """
    from finetune.output import building, check_output

    started = time.perf_counter()
    inputs = [config.index_dir, config.testset, config.scope_path, config.prompts_path, config.model_dir,
              config.base_dir]  # fmt: skip
    check_output(config.out_dir, overwrite=config.overwrite, earlier=is_comparison, command="eval compare",
                 inputs=[p for p in inputs if p is not None])  # fmt: skip
    items, notes = load_items(
        config.suites, testset=config.testset, scope_set=config.scope_path, prompts_dir=config.prompts_path,
        bias_datasets=config.bias_datasets, split=config.split, limit=config.limit,
        bbq_per_language=config.bbq_per_language, seed=config.seed,
    )  # fmt: skip
    if not items:  # every suite asked for was skipped (the QA testset, when asked for, has items or raised)
        raise EvalDataError("nothing to run: " + "; ".join(notes or [f"no items in split {config.split!r}"]))
    from retrieval.store import read_version

    articles = read_version(config.index_dir, with_search=False).documents
    qa = [(str(item["id"]), item["meta"]["gold_ids"]) for item in items if item["suite"] == "qa"]
    check_gold_ids(qa, articles, config.testset, config.index_dir)  # context recall is scored against them
    if checked is not None:
        checked()
    with building(config.out_dir) as work:
        return _compare(config, dataclasses.replace(config, out_dir=work), items, notes, progress, service, started)


def _compare(
    config: CompareConfig,
    in_work: CompareConfig,
    items: Sequence[Item],
    notes: list[str],
    progress: Progress | None,
    service: Any,
    started: float,
) -> dict[str, Any]:
    """:func:`run_comparison` inside its work folder (``in_work.out_dir``)."""
    from retrieval.embeddings import load_embedder

    built = []  # the services made here are closed here (their databases are in the folder to publish)
    if service is None:
        built.append(service := build_service(in_work))
    services = {mode: service for mode in config.rows}
    if "rag-llm" in config.rows:
        built.append(base_service := build_base_service(in_work))
        services["rag-llm"] = base_service
    chat_started = time.perf_counter()
    try:
        turns = run_turns(services, items, config.rows, progress, workers=config.workers)
    finally:
        for each in built:
            each.close()
    chat_seconds = time.perf_counter() - chat_started
    embedder = load_embedder(config.embedder, cache_dir=config.cache_dir)
    summary = summarize(turns, embedder, n_resamples=config.n_resamples, seed=config.seed)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for item in items:
        counts[item["suite"]][item["lang"]] += 1
    run = {
        "modes": list(config.rows), "split": config.split, "limit": config.limit, "index": str(config.index_dir),
        "model": None if config.model_dir is None else str(config.model_dir), "rag_generator": config.rag_generator,
        "base": str(config.base_dir or config.out_dir / "base-model") if "rag-llm" in services else None,
        "generator": config.generator, "copy_bias": list(config.copy_bias),
        "items": len(items), "turns": len(turns), "workers": config.workers,
        "counts": {s: dict(c) for s, c in counts.items()},
        "notes": notes, "n_resamples": config.n_resamples, "seed": config.seed,
        "errors": sum(bool(t.get("error")) for t in turns), "chat_seconds": round(chat_seconds, 1),
    }  # fmt: skip
    document = write_outputs(config, turns, summary, run, folder=in_work.out_dir)
    document["run"]["total_seconds"] = round(time.perf_counter() - started, 1)
    (in_work.out_dir / "metrics.json").write_text(json.dumps(document, ensure_ascii=False, indent=2), encoding="utf-8")
    return document
