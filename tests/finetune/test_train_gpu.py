"""The GPU path of the recipe: the tiny preset trained on CUDA with bf16 and QLoRA 4-bit, then served in 4-bit."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from finetune.config import load_config
from tests.finetune.smoke import bundled_chat_dir

pytestmark = pytest.mark.gpu


def _require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU on this machine: the bf16 + QLoRA 4-bit path needs one")
    if importlib.util.find_spec("bitsandbytes") is None:
        pytest.skip("bitsandbytes is not installed (pip install 'supportbot[gpu]')")


def test_tiny_preset_trains_with_bf16_and_qlora_on_cuda(tmp_path: Path) -> None:
    _require_cuda()
    from finetune.inference import load_model
    from finetune.prompts import plain_messages
    from finetune.train import run_training

    data = bundled_chat_dir(tmp_path / "data", limit=120)
    config = load_config("tiny", overrides={"epochs": 2, "pretrain_epochs": 2, "mlflow": False, "progress": False})
    out = tmp_path / "model"
    metrics = run_training(config, data, out, log=print)
    print(json.dumps({k: metrics[k] for k in ("val_before_lora", "val_after_lora", "perplexity_ratio", "seconds")}))
    assert metrics["device"] == "cuda" and metrics["quantization"] == "4bit" and metrics["bf16"] is True
    assert metrics["val_after_lora"]["perplexity"] < metrics["val_before_lora"]["perplexity"]
    for precision in ("bf16", "4bit", "8bit"):
        model = load_model(out, precision=precision)
        assert model.generate(plain_messages("How do I return an order?", "en"), max_new_tokens=16).strip()
