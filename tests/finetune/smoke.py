"""The smoke model the tests (and benchmarks/inference.py) load: a minuscule tiny-preset Llama with a LoRA adapter.

A test fixture, not production code: it reads the bundled conversations from the source tree's data/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from finetune.config import BUNDLED_DATA, load_config
from finetune.train import run_training


def bundled_chat_dir(dest: Path, *, limit: int | None = None, val_every: int = 10) -> Path:
    """A prepared-data-shaped folder (train.jsonl, val.jsonl) from data/conversations, split deterministically.

    Used by tests and the smoke model when no ``supportbot data prepare`` output is at hand. Every
    ``val_every``-th conversation of each file goes to validation; ``limit`` caps conversations per file.
    """
    dest.mkdir(parents=True, exist_ok=True)
    train: list[str] = []
    val: list[str] = []
    for path in sorted((BUNDLED_DATA / "conversations").glob("*.jsonl")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()][:limit]
        for i, line in enumerate(lines):
            (val if i % val_every == val_every - 1 else train).append(line)
    (dest / "train.jsonl").write_text("\n".join(train) + "\n", encoding="utf-8")
    (dest / "val.jsonl").write_text("\n".join(val) + "\n", encoding="utf-8")
    return dest


SMOKE_OVERRIDES: dict[str, Any] = {
    "vocab_size": 512,
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_layers": 2,
    "num_heads": 2,
    "num_kv_heads": 1,
    "pretrain_max_steps": 40,  # enough for word statistics, so answers are words, not blank lines
    "pretrain_lr": 1e-2,
    "pretrain_block_size": 64,
    "lora_r": 4,
    "lora_alpha": 8,
    "max_steps": 2,
    "batch_size": 4,
    "max_seq_len": 256,
    "max_eval_conversations": 8,
    "quantization": "none",
    "mlflow": False,
    "progress": False,
    "resume": False,
}


def build_smoke_model(out_dir: Path, data_dir: Path | None = None) -> Path:
    """Build a minuscule tiny-preset model (tokenizer, 40 pre-training + 2 LoRA steps) in seconds on CPU.

    Args:
        out_dir: the model folder to create (must not exist or be empty).
        data_dir: a prepared data folder; default: a small sample of data/conversations.

    Returns:
        ``out_dir``, a complete adapter model folder that ``finetune.inference.load_model`` loads.
    """
    out_dir = Path(out_dir)
    if data_dir is None:
        data_dir = bundled_chat_dir(out_dir.parent / f".{out_dir.name}.data", limit=40)
    overrides = {**SMOKE_OVERRIDES, "pretrain_kb": str(BUNDLED_DATA / "kb" / "articles.en.jsonl")}
    config = load_config("tiny", overrides=overrides)
    run_training(config, Path(data_dir), out_dir, log=lambda _msg: None)
    return out_dir


def shipped_style_adapter(smoke_model: Path, root: Path) -> Path:
    """A copy of the smoke model's adapter laid out as the shipped one is: its base named by name only (``base_name``,
    found in the data home ``root / "home"``, where the base is put with its tokenizer) and its tokenizer the base's
    (``"@base"``). Returns the adapter folder; the caller points ``SUPPORTBOT_HOME`` at ``root / "home"``."""
    base = root / "home" / "models" / "smoke-base"
    shutil.copytree(smoke_model / "base", base)
    for item in (smoke_model / "tokenizer").iterdir():
        shutil.copy(item, base / item.name)
    adapter = root / "adapter"
    shutil.copytree(smoke_model, adapter, ignore=shutil.ignore_patterns("base", "tokenizer"))
    info = json.loads((adapter / "supportbot_model.json").read_text(encoding="utf-8"))
    info.update(base="../gone", base_name="smoke-base", tokenizer="@base")
    (adapter / "supportbot_model.json").write_text(json.dumps(info), encoding="utf-8")
    return adapter
