"""The CPU generator, measured: Gemma 3 270M before and after vocabulary trimming, and the tuned adapter.

Table 1 (one row per model and precision): weights (values, int8 ones included) and their bytes in memory, the
folder's size on disk, greedy speed after a 3-passage RAG prompt at batch 1 (prefill: seconds to the first token;
decode: tokens/s of the 63 tokens after it; end-to-end: 64 tokens over the whole time, prefill included) and
held-out perplexity. Held-out text: the reference answers of
data/eval/qa.jsonl (no split of it is in the trimming corpus) as assistant turns after the question; the negative
log-likelihood is summed over the same characters for every model and divided by the full model's token count, so
a trimmed tokenizer that splits an unseen word into more pieces is compared fairly.

Table 2 (with --adapter and --index): time to the first released sentence of a hybrid answer through the agent
(retrieval, rails, generation, the per-sentence output check), p50/p95 over --turns questions.

    python benchmarks/model.py --base .supportbot/models/gemma-3-270m --trimmed .supportbot/models/gemma-3-270m-trim \
        --adapter data/models/gemma-270m-support --index .supportbot/index
"""

from __future__ import annotations

import argparse
import atexit
import json
import math
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")

QA = _HERE.parent / "data" / "eval" / "qa.jsonl"
KB = _HERE.parent / "data" / "kb" / "articles.en.jsonl"


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*.safetensors")) / 1e6


def _rag_prompt() -> list[dict[str, str]]:
    from finetune.prompts import rag_messages

    articles = [json.loads(line) for line in KB.read_text(encoding="utf-8").splitlines()[:3]]
    return rag_messages("How long does a refund take?", articles, "en")


def decode_speed(model: Any, new_tokens: int = 64, repeats: int = 3) -> tuple[float, float, float]:
    """Greedy speed after the 3-passage prompt, best of ``repeats``: (prefill seconds, i.e. the time to the first
    token; decode tokens/s after it; end-to-end tokens/s with the prefill included, as a customer waits for it).
    Decoding as served: the copy bias of the graph's default (graph.config.COPY_BIAS; off) included."""
    import torch

    from graph.config import COPY_BIAS

    messages = _rag_prompt()
    inputs = model._inputs([messages], new_tokens)
    width = inputs["input_ids"].shape[1]
    bias = model.copy_bias([messages], width, *COPY_BIAS)
    kwargs = {**model.generation_kwargs(new_tokens, 0.0, width, bias), "begin_suppress_tokens": None}

    def best_seconds(tokens: int) -> float:
        best = math.inf
        for _ in range(repeats):
            start = time.perf_counter()
            model.model.generate(**inputs, **{**kwargs, "max_new_tokens": tokens, "min_new_tokens": tokens})
            best = min(best, time.perf_counter() - start)
        return best

    with torch.inference_mode():
        model.model.generate(**inputs, **{**kwargs, "max_new_tokens": 4, "min_new_tokens": 4})  # warm-up
        prefill, whole = best_seconds(1), best_seconds(new_tokens)
    return prefill, (new_tokens - 1) / max(whole - prefill, 1e-9), new_tokens / whole


def heldout_nll(model: Any, rows: list[dict[str, Any]]) -> tuple[float, int]:
    """Summed NLL of the reference answers (assistant tokens) and their token count under this model."""
    import torch

    from finetune.chat_format import encode_conversation
    from finetune.prompts import plain_messages

    total, count = 0.0, 0
    with torch.inference_mode():
        for row in rows:
            messages = [
                *plain_messages(row["question"], row["lang"]),
                {"role": "assistant", "content": row["reference"]},
            ]
            encoded = encode_conversation(model.tokenizer, messages, 1024)
            ids = torch.tensor([encoded["input_ids"]])
            labels = torch.tensor([encoded["labels"]])[:, 1:]
            logits = model.model(input_ids=ids).logits[:, :-1].float()
            total += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), labels.reshape(-1),
                                                             ignore_index=-100, reduction="sum"))  # fmt: skip
            count += int((labels != -100).sum())
    return total, count


def main() -> None:
    import torch

    from finetune.inference import load_model

    parser = argparse.ArgumentParser(description="Gemma 3 270M on CPU: trimming, precision, time to first sentence.")
    parser.add_argument("--base", type=Path, required=True, help="folder written by `supportbot model pull`")
    parser.add_argument("--trimmed", type=Path, required=True, help="folder written by `supportbot model trim`")
    parser.add_argument("--adapter", type=Path, help="a trained adapter folder (gemma-270m preset)")
    parser.add_argument("--index", type=Path, help="knowledge-base index for the time-to-first-sentence table")
    parser.add_argument("--heldout", type=int, default=120, help="held-out QA rows for perplexity")
    parser.add_argument("--turns", type=int, default=20, help="hybrid turns for the time-to-first-sentence table")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = rows[:: max(1, len(rows) // args.heldout)][: args.heldout]
    variants = [("full vocabulary", args.base, "fp32"), ("trimmed", args.trimmed, "fp32"),
                ("trimmed", args.trimmed, "int8")]  # fmt: skip
    if args.adapter:
        variants += [("trimmed + adapter", args.adapter, "fp32"), ("trimmed + adapter", args.adapter, "int8")]
    table, reference_tokens = [], 0
    for name, folder, precision in variants:
        model = load_model(folder, precision=precision)  # type: ignore[arg-type]
        tensors = [*model.model.parameters(), *model.model.buffers()]  # int8 weights are buffers
        params = sum(t.numel() for t in tensors)
        memory = sum(t.numel() * t.element_size() for t in tensors) / 1e6
        nll, tokens = heldout_nll(model, rows)
        reference_tokens = reference_tokens or tokens
        prefill, decode, end_to_end = decode_speed(model)
        size = _size_mb(folder)
        ppl = math.exp(nll / reference_tokens)
        table.append((name, precision, params, memory, len(model.tokenizer), size, prefill, decode, end_to_end, ppl))
        print(f"  measured {name} {precision}: prefill {prefill:.2f} s, decode {decode:.1f} tokens/s",
              file=sys.stderr, flush=True)  # fmt: skip
    print(f"\nGemma 3 270M on {torch.get_num_threads()} CPU threads, load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; held-out perplexity over {len(rows)} QA "
          "reference answers (normalised by the full model's token count)\n")  # fmt: skip
    print(
        "| model | precision | weights | in memory (MB) | vocabulary | folder on disk (MB) | prefill (s) "
        "| decode tokens/s | end-to-end tokens/s | held-out perplexity |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, precision, params, memory, vocab, size, prefill, decode, end_to_end, ppl in table:
        print(f"| {name} | {precision} | {params / 1e6:.1f}M | {memory:.0f} | {vocab:,} | {size:.0f} | {prefill:.2f} "
              f"| {decode:.1f} | {end_to_end:.1f} | {ppl:.3f} |")  # fmt: skip
    if args.adapter and args.index:
        time_to_first_sentence(args.adapter, args.index, args.turns)


def time_to_first_sentence(adapter: Path, index: Path, turns: int) -> None:
    """p50/p95 seconds from a hybrid turn's start to its first released sentence, through the agent."""
    import statistics
    import tempfile

    from graph.config import GraphConfig
    from graph.service import ChatService

    rows = [json.loads(line) for line in QA.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if r["split"] == "test"]
    rows = rows[:: max(1, len(rows) // max(turns, 1))][:turns]  # spread over the split; --turns 129 takes all of it
    home = Path(tempfile.mkdtemp(prefix="bench-model-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)  # scratch models and stores: not left in /tmp
    service = ChatService(GraphConfig(index_dir=index, mode="hybrid", generator="hf", model_dir=adapter,
                                      cache_dir=home, checkpoint_db=home / "c.db", store_db=home / "s.db"))  # fmt: skip
    firsts, totals, released = [], [], 0
    for row in rows:
        start = time.perf_counter()
        first = None
        for event in service.stream(row["question"], mode="hybrid"):
            if event.get("type") == "token" and first is None:
                first = time.perf_counter() - start
            if event.get("type") == "final":
                released += event.get("route") == "answered"
        totals.append(time.perf_counter() - start)
        firsts.append(first if first is not None else totals[-1])
    q = statistics.quantiles(firsts, n=20) if len(firsts) > 1 else firsts * 19
    print(f"\nTime to the first released sentence, hybrid turns through the agent ({len(rows)} test questions, "
          f"{released} answered)\n")  # fmt: skip
    print("| p50 (s) | p95 (s) | whole turn p50 (s) |")
    print("|---:|---:|---:|")
    print(f"| {statistics.median(firsts):.2f} | {q[18]:.2f} | {statistics.median(totals):.2f} |")


if __name__ == "__main__":
    main()
