"""Embedders: the bundled model loads offline; the onnxruntime copy agrees with torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from retrieval.embeddings import BUNDLED, EmbedderError, load_embedder, resolve_backend

TEXTS = ["How do I return my shoes?", "¿Cómo devuelvo mis zapatos?", "Track my order NB-1234567"]


def test_bundled_embedder_gives_unit_vectors() -> None:
    vectors = load_embedder().encode(TEXTS)
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_onnx_backend_matches_torch(tmp_path: Path) -> None:
    torch_vectors = load_embedder(backend="torch").encode(TEXTS)
    onnx = load_embedder(backend="onnx", cache_dir=tmp_path)
    assert list((tmp_path / "onnx").glob("*/model.onnx")), "the exported copy is cached in the data home"
    assert np.allclose(onnx.encode(TEXTS), torch_vectors, atol=1e-4)


def test_auto_backend_is_onnx_for_a_local_model_and_torch_otherwise(tmp_path: Path) -> None:
    assert resolve_backend(BUNDLED, "auto") == "onnx"
    assert resolve_backend("sentence-transformers/some-hub-model", "auto") == "torch"  # not a local folder
    assert resolve_backend(BUNDLED, "torch") == "torch" and resolve_backend(BUNDLED, "onnx") == "onnx"
    assert load_embedder(BUNDLED, "auto", tmp_path) is load_embedder(BUNDLED, "onnx", tmp_path)


def test_unknown_models_and_backends_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(EmbedderError, match="cannot load embedder"):
        load_embedder(str(tmp_path / "no-such-model"))
    with pytest.raises(EmbedderError, match="unknown embedder backend"):
        load_embedder(backend="tpu")  # type: ignore[arg-type]
