"""Shared fixtures: repository paths, offline hub settings, and the optional ../shared datasets."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

# Nothing may be fetched from a model or dataset hub during tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Artifacts the tests make (ONNX exports, indexes, the pulled base model: about 1.7 GB) go to a throw-away data
# home, never ./.supportbot, removed when the run ends (every run used to leave one behind and filled the disk).
if "SUPPORTBOT_HOME" not in os.environ:
    _TEST_HOME = tempfile.mkdtemp(prefix="supportbot-test-home-")
    os.environ["SUPPORTBOT_HOME"] = _TEST_HOME
    atexit.register(shutil.rmtree, _TEST_HOME, ignore_errors=True)

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"
SHARED_DATASETS = REPO.parent / "shared" / "datasets"


def out_of_time(redactor: Any) -> Any:
    """A copy of a finetune.pii.Redactor whose only recognizer backtracks without end on a run of "a"s not followed by
    "b" (it runs over its time limit on 30,000 of them), to check what a check that ran out of time does."""
    from finetune.pii_recognizers import RegexRecognizer

    slow = type(redactor).__new__(type(redactor))
    slow.__dict__ |= redactor.__dict__
    registry = type(redactor._analyzer.registry)(
        recognizers=[RegexRecognizer("ORDER", "nested", r"(?:a+)+b", 1.0, None, lang) for lang in ("en", "es")],
        supported_languages=["en", "es"],
    )
    engine = redactor._analyzer.nlp_engine
    slow._analyzer = type(redactor._analyzer)(registry=registry, nlp_engine=engine, supported_languages=["en", "es"])
    slow._entities = ["ORDER"]
    return slow


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file, failing with the file and line number on a bad line."""
    records = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            assert line.strip(), f"{path}:{number}: blank line"
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise AssertionError(f"{path}:{number}: invalid JSON: {exc}") from exc
    return records


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """The public datasets beside the checkout; tests that need them skip in a user's clone."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"{SHARED_DATASETS} not present (only development machines have ../shared/datasets)")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def bundled_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The whole bundled knowledge base (data/kb) indexed once per test session; copy it before modifying it."""
    from retrieval.ingest import ingest

    index = tmp_path_factory.mktemp("bundled-index") / "index"
    ingest([DATA / "kb"], index)
    return index


@pytest.fixture(scope="session")
def smoke_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A minuscule Llama (tiny preset shape, a few training steps) with a LoRA adapter, built in seconds."""
    from tests.finetune.smoke import build_smoke_model

    return build_smoke_model(tmp_path_factory.mktemp("smoke-model") / "model")


@pytest.fixture(scope="session")
def gemma_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data home with Gemma 3 270M pulled (``supportbot model pull``) and trimmed to the shipped adapter's
    vocabulary (``model trim --tokens``), as a user runs them: about a minute and a half on 2 cores, once per session
    (the model tests and the demo check share it)."""
    from typer.testing import CliRunner

    from supportbot.cli import app

    runner = CliRunner()
    home = tmp_path_factory.mktemp("gemma-home")
    base, trimmed = home / "models" / "gemma-3-270m", home / "models" / "gemma-3-270m-trim"
    result = runner.invoke(app, ["model", "pull", "--out", str(base), "--json"])
    assert result.exit_code == 0, result.output
    tokens = DATA / "models" / "gemma-270m-support" / "kept_tokens.json.gz"
    result = runner.invoke(app, ["model", "trim", "--base", str(base), "--out", str(trimmed), "--tokens", str(tokens),
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return home
