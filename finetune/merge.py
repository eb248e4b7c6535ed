"""``supportbot train merge``: fold a LoRA adapter into its base model, optionally int8-quantized for CPU.

The result is a self-contained folder (``model/``, ``tokenizer/``, ``supportbot_model.json`` with kind "merged",
plus the source's model card and metrics) that ``finetune.inference.load_model`` loads without the base folder.
It is written to a temp folder beside ``--out`` and renamed at the end.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finetune.inference import MODEL_FILE, ModelLoadError
from finetune.modelcard import write_json


def merge_model(model_dir: Path, out: Path, *, quantize: str | None = None, overwrite: bool = False) -> dict[str, Any]:
    """Merge ``model_dir`` (an adapter folder from ``supportbot train``) into ``out``.

    Args:
        model_dir: the trained adapter folder.
        out: the merged folder to create.
        quantize: None, or ``int8`` for weight-only int8 (CPU inference, finetune/int8.py).
        overwrite: replace an existing non-empty ``out``.

    Returns:
        The new folder's ``supportbot_model.json`` content plus its size in bytes.

    Raises:
        ModelLoadError: ``model_dir`` is not an adapter folder, ``quantize`` is unknown, or ``out`` is taken.
    """
    import torch

    from finetune.inference import read_descriptor, resolve_path
    from finetune.int8 import quantize_int8, save_int8
    from finetune.tokenizer import load_tokenizer

    model_dir, out = Path(model_dir).resolve(), Path(out).resolve()
    if quantize not in (None, "int8"):
        raise ModelLoadError(f"--quantize must be int8, got {quantize!r}")
    info = read_descriptor(model_dir)
    if info["kind"] != "adapter":
        raise ModelLoadError(f"--model {model_dir}: already a merged model (kind {info['kind']!r}), nothing to merge")
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise ModelLoadError(f"--out {out} already exists and is not empty (pass --overwrite to replace it)")

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(
        str(resolve_path(model_dir, info.get("base"), "base model")), dtype=torch.float32
    )
    model = PeftModel.from_pretrained(base, str(resolve_path(model_dir, info.get("adapter"), "adapter")))
    merged = model.merge_and_unload()
    tokenizer = load_tokenizer(resolve_path(model_dir, info.get("tokenizer"), "tokenizer"))

    work = out.parent / f".{out.name}.partial"
    shutil.rmtree(work, ignore_errors=True)
    (work / "model").mkdir(parents=True)
    if quantize == "int8":
        save_int8(quantize_int8(merged), work / "model")
    else:
        merged.save_pretrained(str(work / "model"))
    tokenizer.save_pretrained(str(work / "tokenizer"))
    for name in ("model_card.md", "metrics.json"):
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, work / name)
    descriptor = {
        "kind": "merged",
        "preset": info.get("preset"),
        "base": None,
        "model": "model",
        "tokenizer": "tokenizer",
        "quantize": quantize,
        "lang_aware": bool(info.get("lang_aware")),
        "company": info.get("company"),
        "max_seq_len": info.get("max_seq_len"),
        "merged_from": str(model_dir),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_json(work / MODEL_FILE, descriptor)
    if out.exists():
        shutil.rmtree(out)
    work.rename(out)
    size = sum(p.stat().st_size for p in (out / "model").rglob("*") if p.is_file())
    return {**descriptor, "model_bytes": size, "out": str(out)}


def describe(folder: Path) -> dict[str, Any]:
    """The ``supportbot_model.json`` of a model folder (for CLI summaries)."""
    return dict(json.loads((Path(folder) / MODEL_FILE).read_text(encoding="utf-8")))
