"""Agent-graph benchmark: per-node latency and the full turn in rag mode with the extractive generator.

Run from the project root::

    python benchmarks/graph.py [--index DIR] [--turns 300] [--warmup 20]

Without ``--index`` the bundled knowledge base is indexed into a temporary folder first. Each turn is a new
session (no follow-up resolution) with a query from ``data/eval/retrieval.jsonl`` dev (es and en, every style),
so a turn runs every node of the answered path; the LangGraph SQLite checkpointer writes the state at the end of
the turn, as in production. It prints a table (p50/p95/mean per node and for the whole turn) and asserts
nothing; the header prints the load average, since timings depend on what else runs on the machine.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

# This file is named like the package it measures: drop its own folder from the import path so that
# `import graph` finds the package, not this script.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
ROOT = _HERE.parent

import numpy as np  # noqa: E402


def percentiles(values: list[float]) -> tuple[float, float, float]:
    """(p50, p95, mean) in milliseconds."""
    array = np.asarray(values, dtype=np.float64)
    return float(np.percentile(array, 50)), float(np.percentile(array, 95)), float(array.mean())


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=None, help="index folder (default: build the bundled KB)")
    parser.add_argument("--turns", type=int, default=300, help="measured turns")
    parser.add_argument("--warmup", type=int, default=20, help="turns run before measuring")
    parser.add_argument("--home", type=Path, default=ROOT / ".supportbot", help="data home (caches)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from graph.config import CHECKPOINT_FILE, STORE_FILE, GraphConfig
    from graph.service import ChatService

    work = Path(tempfile.mkdtemp(prefix="bench-graph-"))

    atexit.register(shutil.rmtree, work, ignore_errors=True)  # scratch models and stores: not left in /tmp
    index = args.index
    if index is None:
        from retrieval.ingest import ingest

        index = work / "index"
        started = time.perf_counter()
        ingest([ROOT / "data" / "kb"], index, cache_dir=args.home)
        print(f"indexed data/kb in {time.perf_counter() - started:.1f} s")
    config = GraphConfig(index_dir=index, checkpoint_db=work / CHECKPOINT_FILE, store_db=work / STORE_FILE,
                         cache_dir=args.home)  # fmt: skip
    started = time.perf_counter()
    service = ChatService(config)
    print(f"ChatService ready in {time.perf_counter() - started:.1f} s (index, scope rail, redactor, graph)")

    records = [json.loads(line) for line in (ROOT / "data" / "eval" / "retrieval.jsonl").read_text().splitlines()]
    queries = [r["query"] for r in records if r["split"] == "dev" and r["style"] != "long"]
    random.Random(7).shuffle(queries)
    for i in range(args.warmup):
        service.chat(queries[i % len(queries)], session_id=f"warm-{i}")
    turns: list[float] = []
    overhead: list[float] = []
    nodes: dict[str, list[float]] = {}
    routes: dict[str, int] = {}
    for i in range(args.turns):
        result = service.chat(queries[i % len(queries)], session_id=f"bench-{i}")
        turns.append(result["latency_ms"])
        overhead.append(result["latency_ms"] - sum(result["node_latency_ms"].values()))
        routes[result["route"]] = routes.get(result["route"], 0) + 1
        for name, ms in result["node_latency_ms"].items():
            nodes.setdefault(name, []).append(ms)

    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    print(f"\n{machine}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"{args.turns} turns (rag + extractive), routes {routes}\n")
    print("| step | runs | p50 ms | p95 ms | mean ms |")
    print("|---|---:|---:|---:|---:|")
    order = ["detect_language", "redact_pii", "guard_input", "resolve_followup", "check_scope", "retrieve",
             "grade_relevance", "generate", "guard_output", "handoff", "respond"]  # fmt: skip
    for name in order:
        if name in nodes:
            p50, p95, mean = percentiles(nodes[name])
            print(f"| {name} | {len(nodes[name])} | {p50:.2f} | {p95:.2f} | {mean:.2f} |")
    p50, p95, mean = percentiles(turns)
    print(f"| **full turn** (invoke + checkpoint) | {len(turns)} | **{p50:.2f}** | **{p95:.2f}** | {mean:.2f} |")
    p50, p95, mean = percentiles(overhead)
    print(f"| LangGraph + checkpoint overhead | {len(turns)} | {p50:.2f} | {p95:.2f} | {mean:.2f} |")
    service.close()


if __name__ == "__main__":
    main()
