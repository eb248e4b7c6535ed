"""Weight-only int8 for CPU serving: int8 weights with one scale per output row, activations in bf16 (or fp32).

Why not torch's dynamic quantization (``quantize_dynamic``): it also quantizes the activations to int8, one scale
per tensor, and Gemma's activations have outliers, so perplexity rose by half (36.6 -> 54.5 on the QA reference
answers, trimmed Gemma 3 270M) and still +8% with only the attention projections quantized. torchao's
``Int8WeightOnlyConfig`` keeps the quality but dequantizes per call on CPU (12.9 tokens/s, slower than fp32).
Keeping the activations in floating point and multiplying with torch's packed int8 kernel
(``aten._weight_int8pack_mm``, the kernel torchao's CPU path and gpt-fast use) keeps perplexity within 1% and
halves the bytes read per generated token, which is what bounds decoding on a CPU (benchmarks/model.py).

Every ``nn.Linear`` is replaced, the output head included (with a tied head, the input embedding stays in the
compute dtype and the head gets its own int8 copy). The weights are stored as safetensors and loaded strictly: a
model folder never runs pickled code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

INT8_WEIGHTS = "model_int8.safetensors"
PACKED_MAX_ROWS = 128  # rows up to which the packed int8 kernel beats dequantizing to bf16 (2 cores, AMX)


class Int8Linear(nn.Module):
    """``y = x @ (int8 weight * row scale).T + bias``, with ``x`` cast to the compute dtype."""

    qweight: torch.Tensor
    scale: torch.Tensor

    def __init__(self, in_features: int, out_features: int, bias: bool, dtype: torch.dtype):
        super().__init__()
        self.in_features, self.out_features, self.compute_dtype = in_features, out_features, dtype
        self.register_buffer("qweight", torch.zeros(out_features, in_features, dtype=torch.int8))
        self.register_buffer("scale", torch.ones(out_features, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(out_features, dtype=dtype), requires_grad=False) if bias else None

    @classmethod
    def of(cls, linear: nn.Linear, dtype: torch.dtype) -> Int8Linear:
        """Quantize ``linear`` symmetrically per output row (absmax / 127)."""
        weight = linear.weight.detach().float()
        scale = weight.abs().amax(dim=1).clamp(min=1e-8) / 127.0
        out = cls(linear.in_features, linear.out_features, linear.bias is not None, dtype)
        out.qweight.copy_(torch.round(weight / scale[:, None]).clamp(-128, 127).to(torch.int8))
        out.scale.copy_(scale.to(dtype))
        if linear.bias is not None and out.bias is not None:
            out.bias.data.copy_(linear.bias.detach().to(dtype))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        rows = x.reshape(-1, shape[-1]).to(self.compute_dtype)
        if rows.shape[0] > PACKED_MAX_ROWS:  # prefill: compute-bound, dense bf16 (AMX) beats the packed kernel
            y = nn.functional.linear(rows, self.qweight.to(self.compute_dtype) * self.scale[:, None])
        else:  # decoding: memory-bound, reading int8 weights halves the bytes per token
            y = torch.ops.aten._weight_int8pack_mm(rows, self.qweight, self.scale)
        y = y.reshape(*shape[:-1], self.out_features)
        return y if self.bias is None else y + self.bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, compute={self.compute_dtype}"


def compute_dtype() -> torch.dtype:
    """bf16 on a CPU that computes it natively (avx512_bf16 or AMX), else fp32."""
    from finetune.trainer import cpu_bf16_supported

    return torch.bfloat16 if cpu_bf16_supported() else torch.float32


def quantize_int8(model: Any, dtype: torch.dtype | None = None) -> Any:
    """Replace every ``nn.Linear`` of ``model`` (in place, on CPU) by an :class:`Int8Linear`; the rest of the model
    (embeddings, norms) moves to the compute dtype. Returns the model."""
    dtype = dtype or compute_dtype()
    model = model.cpu()
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "tie_word_embeddings", False):
        config.tie_word_embeddings = False  # the head gets its own int8 copy; nothing may re-tie it to the embedding
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear.of(child, dtype))
    return model.to(dtype).eval()


def save_int8(model: Any, folder: Path) -> None:
    """Write a model quantized by :func:`quantize_int8`: its config and :data:`INT8_WEIGHTS` (safetensors)."""
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    model.config.save_pretrained(str(folder))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(folder / INT8_WEIGHTS))


def load_int8(folder: Path) -> Any:
    """Rebuild a model written by :func:`save_int8`: config -> int8 skeleton -> weights, loaded strictly.

    Raises:
        FileNotFoundError: the folder has no :data:`INT8_WEIGHTS` (a folder from an older version holds a pickled
            ``model_int8.pt``, which is never loaded: merge the adapter again).
    """
    from safetensors.torch import load_file
    from transformers import AutoConfig, AutoModelForCausalLM

    weights = folder / INT8_WEIGHTS
    if not weights.is_file():
        raise FileNotFoundError(
            f"{weights} is missing (int8 folders from older versions held a pickled model_int8.pt, which is not "
            "loaded for safety): run `supportbot train merge --quantize int8` again"
        )
    state = load_file(str(weights))
    dtype = state[next(k for k in state if k.endswith(".scale"))].dtype
    config = AutoConfig.from_pretrained(str(folder))
    model = quantize_int8(AutoModelForCausalLM.from_config(config), dtype)  # buffers such as RoPE's are built here
    model.load_state_dict(state, strict=True)
    return model.eval()
