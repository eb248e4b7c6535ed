"""The training recipe: presets, chat template identity, assistant-only loss, a 2-step run, bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from finetune.chat_format import IGNORE_INDEX, encode_conversation, prompt_ids, read_chat_jsonl
from finetune.config import TrainConfig, TrainError, load_config, preset_names
from finetune.tiny import last_checkpoint
from supportbot.cli import app
from tests.conftest import DATA
from tests.finetune.smoke import SMOKE_OVERRIDES, bundled_chat_dir

runner = CliRunner()


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A BPE tokenizer trained on bundled text, saved and reloaded the way inference loads it."""
    from finetune.tokenizer import load_tokenizer, train_bpe_tokenizer

    texts = [
        m["content"] for _, conv in read_chat_jsonl(DATA / "conversations" / "nimbus_es_part1.jsonl") for m in conv
    ]
    texts += [m["content"] for _, conv in read_chat_jsonl(DATA / "conversations" / "bitext_sample.jsonl") for m in conv]
    folder = tmp_path_factory.mktemp("tokenizer")
    train_bpe_tokenizer(texts, 1024).save_pretrained(str(folder))
    return load_tokenizer(folder)


@pytest.fixture(scope="module")
def conversations() -> list[list[dict[str, str]]]:
    """Multi-turn es and en conversations from the bundled samples."""
    picked = []
    for name in ("nimbus_es_part1.jsonl", "sgd_banking_sample.jsonl", "bitext_sample.jsonl"):
        pairs = read_chat_jsonl(DATA / "conversations" / name)
        picked += [m for _, m in pairs[:15]]
    return picked


@pytest.mark.parametrize("name", preset_names())
def test_every_shipped_preset_parses(name: str) -> None:
    if name == "tiny":
        config = load_config(name)
    else:  # the Llama presets run on a local checkpoint and say so without one
        with pytest.raises(TrainError, match="--base PATH"):
            load_config(name)
        config = load_config(name, overrides={"base_model": "/models/llama"})
    assert isinstance(config, TrainConfig) and config.preset == name
    assert config.lora_r >= 1 and config.lora_targets
    assert config.from_scratch == (name == "tiny")


def test_presets_cover_the_contract() -> None:
    assert {"tiny", "llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b"} <= set(preset_names())


def test_every_config_field_has_help() -> None:
    from dataclasses import fields

    assert all(f.metadata.get("help") for f in fields(TrainConfig))


def test_unknown_preset_and_unknown_field_are_named(tmp_path: Path) -> None:
    with pytest.raises(TrainError, match=r"unknown preset 'nope'.*tiny"):
        load_config("nope")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_r: 8\nlora_rank: 4\n", encoding="utf-8")
    with pytest.raises(TrainError, match=r"bad\.yaml.*lora_rank"):
        load_config("tiny", bad)
    bad.write_text("lora_dropout: 1.5\n", encoding="utf-8")
    with pytest.raises(TrainError, match="lora_dropout"):
        load_config("tiny", bad)


def test_training_prompt_tokens_equal_inference_prompt_tokens(tokenizer: Any, conversations: list) -> None:
    checked = 0
    for messages in conversations:
        ids = encode_conversation(tokenizer, messages, max_len=100_000)["input_ids"]
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = prompt_ids(tokenizer, messages[:i])  # exactly what inference sends before this answer
            assert ids[: len(prompt)] == prompt
            checked += 1
    assert checked > 60


def test_loss_is_on_assistant_tokens_only(tokenizer: Any, conversations: list) -> None:
    for messages in conversations:
        encoded = encode_conversation(tokenizer, messages, max_len=100_000)
        labelled = [t for t in encoded["labels"] if t != IGNORE_INDEX]
        expected = "".join(m["content"] + "<|end|>\n" for m in messages if m["role"] == "assistant")
        assert tokenizer.decode(labelled) == expected
        # Labels are the inputs themselves (the model shifts them), never anything else.
        assert all(lab in (IGNORE_INDEX, tok) for lab, tok in zip(encoded["labels"], encoded["input_ids"], strict=True))


def test_truncation_keeps_lengths_aligned(tokenizer: Any, conversations: list) -> None:
    encoded = encode_conversation(tokenizer, conversations[0], max_len=40)
    assert len(encoded["input_ids"]) == len(encoded["labels"]) == len(encoded["attention_mask"]) == 40


def test_system_prompt_is_the_inference_one() -> None:
    from finetune.prompts import SYSTEM_PROMPTS

    pairs = read_chat_jsonl(DATA / "conversations" / "nimbus_es_part1.jsonl")
    assert pairs[0][1][0] == {"role": "system", "content": SYSTEM_PROMPTS["es"]}


def test_system_prompts_name_the_company_the_data_was_prepared_for(tmp_path: Path) -> None:
    """`train` reads the company from the prepared folder's manifest: a system turn naming it is kept, any other is
    replaced by the prompt naming it (never by the demo store's)."""
    from finetune.chat_format import data_company, load_split
    from finetune.prompts import system_prompt

    acme = system_prompt("en", "Acme Outdoor")

    def chat(system: str) -> dict[str, Any]:
        turns = [("system", system), ("user", "Hi there"), ("assistant", "Hello!")]
        return {"lang": "en", "messages": [{"role": r, "content": c} for r, c in turns]}

    rows = [chat(acme), chat("You are a pirate.")]
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert data_company(tmp_path) is None
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"company": "Acme Outdoor"}}), encoding="utf-8")
    assert data_company(tmp_path) == "Acme Outdoor"
    pairs = load_split(tmp_path, "train", use_raft=False, company=data_company(tmp_path))
    assert [messages[0]["content"] for _, messages in pairs] == [acme, acme]


def test_smoke_run_writes_a_complete_model_folder(smoke_model: Path) -> None:
    # smoke_model is the recipe end to end: tokenizer, pre-training, 2 LoRA steps, save.
    for name in ("adapter", "tokenizer", "base", "model_card.md", "metrics.json", "supportbot_model.json"):
        assert (smoke_model / name).exists(), name
    descriptor = json.loads((smoke_model / "supportbot_model.json").read_text(encoding="utf-8"))
    assert descriptor["kind"] == "adapter" and descriptor["base"] == "base" and descriptor["preset"] == "tiny"
    assert descriptor["company"] == "Nimbus Market"  # what its system prompts named (no manifest: the demo store)
    metrics = json.loads((smoke_model / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["lora_steps"] == 2 and metrics["val_before_lora"]["perplexity"] > 1
    card = (smoke_model / "model_card.md").read_text(encoding="utf-8")
    assert "before LoRA" in card and str(metrics["val_after_lora"]["perplexity"]) in card
    for when in ("val_before_lora", "val_after_lora"):  # per language too: the pooled number can hide Spanish
        pooled, per = metrics[when], metrics[when]["per_language"]
        assert set(per) == {"en", "es"}
        assert sum(r["tokens"] for r in per.values()) == pooled["tokens"]
        weighted = sum(r["loss"] * r["tokens"] for r in per.values()) / pooled["tokens"]
        assert weighted == pytest.approx(pooled["loss"], abs=1e-3)
        for lang, r in per.items():
            assert f"| {when.split('_')[1]} LoRA, {lang} | {r['loss']} | {r['perplexity']} | {r['tokens']} |" in card
    assert not (smoke_model.parent / f".{smoke_model.name}.partial").exists()


@pytest.mark.slow
def test_cli_two_step_run_tracks_in_mlflow(tmp_path: Path) -> None:
    data = bundled_chat_dir(tmp_path / "data", limit=12)
    config = tmp_path / "smoke.yaml"
    overrides = {**SMOKE_OVERRIDES, "mlflow": True, "pretrain_max_steps": 2}
    overrides["pretrain_kb"] = str(DATA / "kb" / "articles.es.jsonl")
    config.write_text(json.dumps(overrides), encoding="utf-8")  # JSON is YAML
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", "--preset", "tiny", "--config", str(config), "--data", str(data),
                                 "--out", str(out), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)  # --json: one document on stdout, nothing else
    assert metrics["lora_steps"] == 2
    from mlflow.tracking import MlflowClient

    from supportbot.settings import get_settings

    assert not (out / "mlflow.db").exists()  # one store, in the (test's temporary) data home
    client = MlflowClient(f"sqlite:///{get_settings().home.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("supportbot-train")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id], f"tags.run_folder = '{out.resolve()}'")
    assert run.data.params["lora_r"] == "4" and "val_perplexity_after" in run.data.metrics
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"model_card.md", "metrics.json"}


def _invoke_train(tmp_path: Path, data: Path, *extra: str) -> Any:
    return runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "out"), *extra])


def _assert_nothing_written(tmp_path: Path) -> None:
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / ".out.partial").exists()


def test_wrong_preset_is_a_clear_error(tmp_path: Path) -> None:
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    result = _invoke_train(tmp_path, data, "--preset", "llama-9000")
    assert result.exit_code == 1 and "unknown preset 'llama-9000'" in result.output
    _assert_nothing_written(tmp_path)


def test_llama_preset_needs_a_local_base(tmp_path: Path) -> None:
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    result = _invoke_train(tmp_path, data, "--preset", "llama-3.2-1b")
    assert result.exit_code == 1 and "--base" in result.output
    result = _invoke_train(tmp_path, data, "--preset", "llama-3.2-1b", "--base", str(tmp_path / "nowhere"))
    assert result.exit_code == 1 and "nowhere" in result.output and "not a local model folder" in result.output
    _assert_nothing_written(tmp_path)


def test_a_base_given_to_the_tiny_preset_is_refused_not_ignored(tmp_path: Path) -> None:
    # `train --preset tiny --base DIR` pre-trained a new base for minutes and never looked at DIR.
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    result = _invoke_train(tmp_path, data, "--preset", "tiny", "--base", str(tmp_path / "some-base"))
    assert result.exit_code == 1 and "--base" in result.output and "would be ignored" in result.output
    _assert_nothing_written(tmp_path)


def test_a_damaged_base_is_named_before_anything_is_written(smoke_model: Path, tmp_path: Path) -> None:
    # A truncated model.safetensors of --base ended `supportbot train` with a SafetensorError traceback (after the
    # data was encoded) and left a .partial folder behind.
    import shutil

    data = bundled_chat_dir(tmp_path / "data", limit=10)
    base = tmp_path / "base"
    shutil.copytree(smoke_model / "base", base)
    for item in (smoke_model / "tokenizer").iterdir():
        shutil.copy(item, base / item.name)
    weights = base / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:20_000])
    result = _invoke_train(tmp_path, data, "--preset", "llama-3.2-1b", "--base", str(base), "--no-mlflow")
    assert result.exit_code == 1 and f"{weights} is damaged" in result.output and "--base" in result.output
    assert "Traceback" not in result.output
    weights.unlink()
    result = _invoke_train(tmp_path, data, "--preset", "llama-3.2-1b", "--base", str(base), "--no-mlflow")
    assert result.exit_code == 1 and f"{weights} is missing" in result.output, result.output
    _assert_nothing_written(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"lang": "en", "messages": [{"role": "user", "content": "hi"}\n', "train.jsonl:2: invalid JSON"),
        ('{"lang": "en", "messages": []}\n', "train.jsonl:2: a conversation needs"),
        ('{"lang": "en", "messages": [{"role": "user", "content": " "}, {"role": "assistant", "content": "x"}]}\n',
         "train.jsonl:2: message 0 (user) has empty"),
        ('{"lang": "en", "messages": [{"role": "bot", "content": "x"}]}\n', "train.jsonl:2: message 0 needs a role"),
    ],
)  # fmt: skip
def test_bad_data_line_names_file_and_line(tmp_path: Path, content: str, message: str) -> None:
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    first = (data / "train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (data / "train.jsonl").write_text(first + "\n" + content, encoding="utf-8")
    result = _invoke_train(tmp_path, data, "--preset", "tiny")
    assert result.exit_code == 1 and message in result.output, result.output
    assert "Traceback" not in result.output
    _assert_nothing_written(tmp_path)


def test_missing_data_folder_or_split_is_named(tmp_path: Path) -> None:
    result = _invoke_train(tmp_path, tmp_path / "absent", "--preset", "tiny")
    assert result.exit_code == 1 and "absent" in result.output
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    (data / "val.jsonl").unlink()
    result = _invoke_train(tmp_path, data, "--preset", "tiny")
    assert result.exit_code == 1 and "val.jsonl is missing" in result.output
    _assert_nothing_written(tmp_path)


def test_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine", encoding="utf-8")
    result = _invoke_train(tmp_path, data, "--preset", "tiny")
    assert result.exit_code == 1 and "already exists" in result.output
    assert (tmp_path / "out" / "keep.txt").read_text(encoding="utf-8") == "mine"


@pytest.mark.parametrize("steps", ["0", "-3"])
def test_max_steps_that_would_mean_no_limit_are_refused(tmp_path: Path, steps: str) -> None:
    # transformers reads max_steps <= 0 as "train for the epochs": --max-steps 0 trained for minutes.
    for field in ("max_steps", "pretrain_max_steps"):
        with pytest.raises(TrainError, match=f"{field} must be >= 1, or -1"):
            load_config("tiny", overrides={field: int(steps)})
    assert load_config("tiny", overrides={"max_steps": -1}).max_steps == -1  # -1: the epochs decide
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    result = _invoke_train(tmp_path, data, "--preset", "tiny", "--max-steps", steps)
    assert result.exit_code == 1 and "max_steps must be >= 1, or -1" in result.output, result.output
    _assert_nothing_written(tmp_path)


def test_unusable_config_and_output_paths_are_clear_errors(tmp_path: Path) -> None:
    data = bundled_chat_dir(tmp_path / "data", limit=10)
    (tmp_path / "binary.yaml").write_bytes(b"\xbd\x00\xff binary")
    result = _invoke_train(tmp_path, data, "--preset", "tiny", "--config", str(tmp_path / "binary.yaml"))
    assert result.exit_code == 1 and "binary.yaml: not UTF-8 text" in result.output, result.output
    (tmp_path / "a_file").write_text("mine", encoding="utf-8")
    for out, message in [
        (tmp_path / "a_file" / "x", "a_file is a file, not a folder"),
        (tmp_path / "a_file", "a_file is a file, not a folder"),
        (data, "holds the input"),
    ]:
        result = runner.invoke(app, ["train", "--preset", "tiny", "--data", str(data), "--out", str(out),
                                     "--overwrite"])  # fmt: skip
        assert result.exit_code == 1 and message in result.output, result.output
        assert "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "binary.yaml", "data"]
    assert (tmp_path / "a_file").read_text(encoding="utf-8") == "mine"


def test_resume_picks_the_newest_checkpoint(tmp_path: Path) -> None:
    assert last_checkpoint(tmp_path) is None
    for step in (5, 40, 12):
        (tmp_path / f"checkpoint-{step}").mkdir()
    assert last_checkpoint(tmp_path) == str(tmp_path / "checkpoint-40")


def test_long_rag_prompt_loses_its_middle_not_its_answer(tokenizer: Any) -> None:
    from finetune.prompts import rag_messages

    passages = [{"title": f"Article {i}", "text": "Returns are free within 30 days. " * 20} for i in range(5)]
    answer = "You can return it within 30 days [1]."
    messages = [*rag_messages("Can I return it?", passages, "en"), {"role": "assistant", "content": answer}]
    full = encode_conversation(tokenizer, messages, max_len=100_000)
    cut = encode_conversation(tokenizer, messages, max_len=128)
    assert len(full["input_ids"]) > 128 and len(cut["input_ids"]) == 128
    assert cut["input_ids"][:32] == full["input_ids"][:32] and cut["input_ids"][-40:] == full["input_ids"][-40:]
    assert tokenizer.decode([t for t in cut["labels"] if t != IGNORE_INDEX]) == answer + "<|end|>\n"


def test_long_chat_keeps_its_start(tokenizer: Any, conversations: list) -> None:
    single_turn = [m for m in conversations if len(m) == 3]  # system, user, a long assistant answer
    longest = max(single_turn, key=lambda m: len(m[-1]["content"]))
    full = encode_conversation(tokenizer, longest, max_len=100_000)
    cut = encode_conversation(tokenizer, longest, max_len=64)
    assert cut["input_ids"] == full["input_ids"][:64] and cut["labels"] == full["labels"][:64]


def test_unfinished_run_folder_is_reused_only_with_the_same_settings(tmp_path: Path) -> None:
    from finetune.train import _work_dir

    data, out = bundled_chat_dir(tmp_path / "data", limit=10), tmp_path / "out"
    config = load_config("tiny")
    work = _work_dir(out, config, data, overwrite=False)
    assert work == tmp_path / ".out.partial" and not out.exists()
    (work / "base").mkdir()  # what an interrupted run leaves: a pre-trained base, checkpoints...
    assert (_work_dir(out, config, data, overwrite=False) / "base").is_dir()  # same command: resume
    changed = load_config("tiny", overrides={"lora_r": 8})
    assert not (_work_dir(out, changed, data, overwrite=False) / "base").exists()  # other settings: start over
    (work / "base").mkdir()
    fresh = load_config("tiny", overrides={"lora_r": 8, "resume": False})
    assert not (_work_dir(out, fresh, data, overwrite=False) / "base").exists()


def test_language_balancing_repeats_only_the_minority() -> None:
    from finetune.train import balance_languages

    items = [("en", [{"role": "user", "content": f"en {i}"}]) for i in range(80)]
    items += [("es", [{"role": "user", "content": f"es {i}"}]) for i in range(10)]
    out = balance_languages(items, 0.3)
    es = [m for lang, m in out if lang == "es"]
    assert sum(lang == "en" for lang, _ in out) == 80
    assert len(es) == round(0.3 * 80 / 0.7) and abs(len(es) / len(out) - 0.3) < 0.01
    assert {m[0]["content"] for m in es} == {f"es {i}" for i in range(10)}  # every one repeated, none invented
    assert balance_languages(items, 0.0) == items
    assert balance_languages(items, 0.1) == items  # 11 % already
    with pytest.raises(TrainError, match="min_lang_share"):
        load_config("tiny", overrides={"min_lang_share": 0.6})


def test_pretraining_corpus_can_leave_the_agent_turns_to_lora() -> None:
    from finetune.tiny import corpus_texts

    conv = [
        {"role": "system", "content": "SYSTEM"},
        {"role": "user", "content": "¿Dónde está mi pedido?"},
        {"role": "assistant", "content": "Puedes seguirlo en Mis pedidos."},
    ]
    users = corpus_texts(load_config("tiny", overrides={"pretrain_kb": "", "pretrain_turns": "user"}), [conv])
    assert users == ["¿Dónde está mi pedido?"]
    everything = corpus_texts(load_config("tiny", overrides={"pretrain_kb": ""}), [conv], turns="all")
    assert everything == ["¿Dónde está mi pedido?\nPuedes seguirlo en Mis pedidos."]
    with pytest.raises(TrainError, match="pretrain_turns"):
        load_config("tiny", overrides={"pretrain_turns": "assistant"})
