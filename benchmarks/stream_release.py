"""Streaming behind the output rails: time to the first released sentence, to the final event, and the cost of the
per-sentence check (graph.nodes.guard_output.OutputGate.check).

Run from the project root::

    python benchmarks/stream_release.py --index DIR --model DIR [--mode hybrid] [--turns 40] [--max-new-tokens 96]

Each turn is a new session with a QA dev question (es and en alternating) streamed through ``ChatService.stream``
with the ``hf`` generator. "first sentence" is the time from the call to the first token event (the first
sentence that passed the rails; after an LLM's first sentence fails, the extractive fallback's), "final" to the
final event; turns whose rails stopped the stream, fell back or released nothing are counted. The check table
times ``OutputGate.check`` (for the generator that answered) on every released sentence again, per language.
It prints tables and asserts nothing; the header prints the load average, since timings depend on the machine.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]  # `import graph` finds the package
ROOT = _HERE.parent

import numpy as np  # noqa: E402


def _row(name: str, values: list[float]) -> str:
    if not values:
        return f"| {name} | 0 | – | – | – |"
    a = np.asarray(values) * 1000
    return f"| {name} | {len(a)} | {np.percentile(a, 50):.0f} | {np.percentile(a, 95):.0f} | {a.mean():.0f} |"


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="index folder (supportbot kb ingest)")
    parser.add_argument("--model", type=Path, required=True, help="model folder for the hf generator")
    parser.add_argument("--mode", default="hybrid", choices=["rag", "finetune", "hybrid"])
    parser.add_argument("--turns", type=int, default=40, help="measured turns")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--home", type=Path, default=ROOT / ".supportbot", help="data home (caches)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from graph.config import CHECKPOINT_FILE, STORE_FILE, GraphConfig
    from graph.nodes.guard_output import OutputGate
    from graph.service import ChatService

    work = Path(tempfile.mkdtemp(prefix="bench-stream-"))

    atexit.register(shutil.rmtree, work, ignore_errors=True)  # scratch models and stores: not left in /tmp
    config = GraphConfig(index_dir=args.index, mode=args.mode, generator="hf", rag_generator="llm",  # type: ignore[arg-type]
                         model_dir=args.model, max_new_tokens=args.max_new_tokens, cache_dir=args.home,
                         checkpoint_db=work / CHECKPOINT_FILE, store_db=work / STORE_FILE)  # fmt: skip
    service = ChatService(config)
    qa = [json.loads(line) for line in (ROOT / "data" / "eval" / "qa.jsonl").open(encoding="utf-8")]
    by_lang = {lang: [q for q in qa if q["split"] == "dev" and q["lang"] == lang] for lang in ("es", "en")}
    first: list[float] = []
    final: list[float] = []
    checks: dict[str, list[float]] = {"es": [], "en": []}
    counts = {"stopped": 0, "nothing released": 0, "replaced": 0, "fell back to extractive": 0}
    for i in range(args.turns):
        lang = ("es", "en")[i % 2]
        question = by_lang[lang][(i // 2) % len(by_lang[lang])]["question"]
        started, seen_first, tokens = time.perf_counter(), None, []
        for event in service.stream(question, session_id=f"bench-{i}", mode=args.mode):
            if event["type"] == "token":
                tokens.append(event["text"])
                seen_first = seen_first or time.perf_counter() - started
            else:
                final.append(time.perf_counter() - started)
                end = event
        if seen_first is not None:
            first.append(seen_first)
        record = end["guardrails"].get("stream") or {}
        counts["stopped"] += bool(record.get("stopped"))
        counts["nothing released"] += not tokens
        counts["replaced"] += bool(end.get("replaced"))
        counts["fell back to extractive"] += "fallback" in end["guardrails"]
        if tokens:
            passages = [dict(s) for s in end["sources"]]
            kind = end["guardrails"].get("generator", {}).get("name", "hf")
            state = {"lang": end["lang"], "generator": kind, "mode": args.mode, "passages": passages}
            gate = OutputGate(state, service.deps)  # type: ignore[arg-type]
            for sentence in tokens:
                t = time.perf_counter()
                gate.check(sentence)
                checks[end["lang"]].append(time.perf_counter() - t)
    print(f"load average {os.getloadavg()}, mode {args.mode}, model {args.model}, {args.turns} turns")
    print("| measure (ms) | n | p50 | p95 | mean |\n|---|---|---|---|---|")
    print(_row("first released sentence", first))
    print(_row("final event", final))
    for lang, values in checks.items():
        print(_row(f"OutputGate.check per sentence ({lang})", values))
    print(", ".join(f"{k}: {v}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
