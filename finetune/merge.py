"""``supportbot train merge``: fold a LoRA adapter into its base model, optionally int8-quantized for CPU.

The result is a self-contained folder (``model/``, ``tokenizer/``, ``supportbot_model.json`` with kind "merged",
plus the source's model card and metrics) that ``finetune.inference.load_model`` loads without the base folder.
It is written to a temp folder beside ``--out`` and renamed at the end (``finetune.output``); the base and tokenizer
are found as inference finds them (``finetune.inference.resolve_base``: a shipped adapter's base in the data home,
its ``"@base"`` tokenizer).
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finetune.inference import MODEL_FILE, ModelLoadError
from finetune.modelcard import write_json
from finetune.output import building, check_output


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
        ModelLoadError: ``model_dir`` is not an adapter folder (or its base is missing), ``quantize`` is unknown.
        OutputError: ``out`` is a file, cannot be written, holds ``model_dir``, or is a non-empty folder and
            ``overwrite`` is off.
    """
    import torch

    from finetune.inference import (
        base_fix,
        check_config,
        checked_adapter,
        checked_tokenizer,
        read_descriptor,
        resolve_base,
    )
    from finetune.int8 import quantize_int8, save_int8

    model_dir, out = Path(model_dir).resolve(), Path(out).resolve()
    if quantize not in (None, "int8"):
        raise ModelLoadError(f"--quantize must be int8, got {quantize!r}")
    info = read_descriptor(model_dir)
    if info["kind"] != "adapter":
        raise ModelLoadError(f"--model {model_dir}: already a merged model (kind {info['kind']!r}), nothing to merge")
    if not info.get("base"):
        raise ModelLoadError(f"{model_dir / MODEL_FILE}: an adapter folder must name its 'base' model")
    check_output(out, overwrite=overwrite, inputs=[model_dir])

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    # the base and tokenizer are found as inference finds them (a shipped adapter's base in the data home, "@base")
    # and checked as inference checks them: a missing or damaged file is named with its fix, never a traceback
    base_dir = resolve_base(model_dir, info)
    own_fix = "restore the model folder or train it again"
    check_config(base_dir, base_fix(model_dir, info, base_dir))
    tokenizer = checked_tokenizer(model_dir, info, own_fix)
    adapter_dir = checked_adapter(model_dir, info, base_dir, tokenizer, own_fix)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = PeftModel.from_pretrained(base, str(adapter_dir))
    merged = model.merge_and_unload()

    with building(out) as work:
        (work / "model").mkdir()
        if quantize == "int8":
            save_int8(quantize_int8(merged), work / "model")
        else:
            merged.save_pretrained(str(work / "model"))
        tokenizer.save_pretrained(str(work / "tokenizer"))
        for name in ("model_card.md", "metrics.json", "NOTICE"):  # NOTICE: a Gemma derivative keeps its terms
            if (model_dir / name).is_file():
                shutil.copy2(model_dir / name, work / name)
        descriptor = _merged_descriptor(info, model_dir, quantize)
        write_json(work / MODEL_FILE, descriptor)
    size = sum(p.stat().st_size for p in (out / "model").rglob("*") if p.is_file())
    return {**descriptor, "model_bytes": size, "out": str(out)}


def _merged_descriptor(info: dict[str, Any], model_dir: Path, quantize: str | None) -> dict[str, Any]:
    return {
        "kind": "merged",
        "preset": info.get("preset"),
        "base": None,
        "model": "model",
        "tokenizer": "tokenizer",
        "quantize": quantize,
        "lang_aware": bool(info.get("lang_aware")),
        "company": info.get("company"),
        "drafts": bool(info.get("drafts")),
        "max_seq_len": info.get("max_seq_len"),
        "merged_from": str(model_dir),
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def describe(folder: Path) -> dict[str, Any]:
    """The ``supportbot_model.json`` of a model folder (for CLI summaries)."""
    return dict(json.loads((Path(folder) / MODEL_FILE).read_text(encoding="utf-8")))
