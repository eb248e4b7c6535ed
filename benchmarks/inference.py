"""Inference speed and quality of one trained model in each deployment form, printed as a table.

Rows: the adapter folder as trained (base + live LoRA, fp32), the merged folder (``train merge``, fp32) and its
dynamic-int8 copy (``train merge --quantize int8``) on CPU; on a CUDA machine also bf16, 8-bit and 4-bit
(bitsandbytes). Columns: decode speed (tokens/s, greedy, fixed length), validation perplexity on assistant tokens
and its change against fp32, and the weights' size on disk.

    python benchmarks/inference.py --model .supportbot/models/tiny --data PREPARED_DIR
    python benchmarks/inference.py            # builds the minuscule smoke model first (numbers meaningless)
"""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

# Run as a script, this folder would come first on sys.path and benchmarks/retrieval.py would shadow the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
warnings.filterwarnings("ignore")  # deprecation chatter (torch.ao quantization, transformers) would bury the table


def _size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and p.suffix in (".safetensors", ".pt")) / 1e6


def _unmerged(model_dir: Path) -> Any:
    """The adapter folder with its LoRA branches live (what load_model avoids by merging in memory)."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.inference import LoadedModel, read_descriptor, resolve_path
    from finetune.tokenizer import load_tokenizer

    info = read_descriptor(model_dir)
    base = AutoModelForCausalLM.from_pretrained(resolve_path(model_dir, info["base"], "base"), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(model_dir / info.get("adapter", "adapter"))).eval()
    tokenizer = load_tokenizer(model_dir / info.get("tokenizer", "tokenizer"))
    return LoadedModel(model, tokenizer, device="cpu", precision="fp32", lang_aware=True, info=info)


def _speed(model: Any, questions: list[list[dict[str, str]]], new_tokens: int) -> float:
    import torch

    model.generate(questions[0], max_new_tokens=4)  # warm-up
    start, produced = time.perf_counter(), 0
    with torch.inference_mode():
        for messages in questions:
            inputs = model._inputs([messages])
            kwargs = {**model.generation_kwargs(new_tokens, 0.0, inputs["input_ids"].shape[1]),
                      "min_new_tokens": new_tokens, "begin_suppress_tokens": None}  # fmt: skip
            output = model.model.generate(**inputs, **kwargs)
            produced += output.shape[1] - inputs["input_ids"].shape[1]
    return produced / (time.perf_counter() - start)


def main() -> None:
    """Measure every form the machine can run and print the table."""
    import torch

    from finetune.chat_format import encode_conversation, load_split
    from finetune.inference import load_model
    from finetune.merge import merge_model
    from finetune.prompts import plain_messages
    from finetune.train import perplexity
    from tests.finetune.smoke import build_smoke_model, bundled_chat_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, help="adapter folder from `supportbot train` (default: smoke model)")
    parser.add_argument("--data", type=Path, help="prepared data folder (val.jsonl); default: bundled sample")
    parser.add_argument("--val", type=int, default=60, help="validation conversations for perplexity")
    parser.add_argument("--new-tokens", type=int, default=48, help="tokens generated per question")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="supportbot-bench-"))

    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # scratch models and stores: not left in /tmp
    model_dir = args.model or build_smoke_model(scratch / "smoke")
    data_dir = args.data or bundled_chat_dir(scratch / "data")
    merged, int8 = scratch / "merged", scratch / "int8"
    merge_model(model_dir, merged)
    merge_model(model_dir, int8, quantize="int8")
    val = load_split(data_dir, "val", use_raft=False)[: args.val]
    questions = [plain_messages(q, lang) for q, lang in [
        ("How do I return an order?", "en"), ("¿Cuánto tarda el envío a Canarias?", "es"),
        ("Can I change my delivery address?", "en"), ("Quiero cancelar mi pedido, ¿cómo lo hago?", "es"),
    ]]  # fmt: skip

    rows: list[tuple[str, Path, Any]] = [("adapter (live LoRA) fp32", model_dir, lambda: _unmerged(model_dir))]
    rows += [("merged fp32", merged, lambda: load_model(merged, precision="fp32", device="cpu"))]
    rows += [("merged int8 (dynamic)", int8, lambda: load_model(int8, device="cpu"))]
    if torch.cuda.is_available():
        for precision in ("bf16", "8bit", "4bit"):
            rows.append((f"merged {precision} (cuda)", merged, lambda p=precision: load_model(merged, precision=p)))

    print(f"model: {model_dir}  threads: {torch.get_num_threads()}  new tokens/question: {args.new_tokens}\n")
    print("| variant | load s | tokens/s | val perplexity | vs fp32 | weights MB |")
    print("|---|---|---|---|---|---|")
    reference = None
    for name, folder, load in rows:
        start = time.perf_counter()
        model = load()
        loaded = time.perf_counter() - start
        encoded = [encode_conversation(model.tokenizer, m, 512) for m in val]
        ppl = perplexity(model.model, encoded, model.tokenizer.pad_token_id)["perplexity"]
        reference = reference or ppl
        speed = _speed(model, questions, args.new_tokens)
        change = f"{(ppl / reference - 1) * 100:+.1f}%"
        print(f"| {name} | {loaded:.1f} | {speed:.0f} | {ppl:.3f} | {change} | {_size_mb(folder):.1f} |")


if __name__ == "__main__":
    main()
