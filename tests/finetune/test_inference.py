"""The inference loader on the smoke model: adapter, merged and int8 folders; generation; clear load errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from finetune.inference import LoadedModel, ModelLoadError, load_model
from finetune.prompts import plain_messages, rag_messages
from supportbot.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def merged(smoke_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from finetune.merge import merge_model

    out = tmp_path_factory.mktemp("merged") / "merged"
    merge_model(smoke_model, out)
    return out


def _val_set(model: LoadedModel) -> list[dict[str, list[int]]]:
    from finetune.chat_format import encode_conversation, read_chat_jsonl
    from tests.conftest import DATA

    pairs = read_chat_jsonl(DATA / "conversations" / "nimbus_es_part2.jsonl")[:6]
    pairs += read_chat_jsonl(DATA / "conversations" / "bitext_sample.jsonl")[:6]
    return [encode_conversation(model.tokenizer, m, 256) for _, m in pairs]


def test_adapter_model_answers_non_empty_in_both_languages(smoke_model: Path) -> None:
    model = load_model(smoke_model, precision="fp32")
    assert model.lang_aware is True and model.precision == "fp32"
    for question, lang in (("¿Cómo devuelvo un pedido?", "es"), ("How do I return an order?", "en")):
        answer = model.generate(plain_messages(question, lang), max_new_tokens=12)
        assert isinstance(answer, str) and answer.strip()
    passages = [{"title": "Returns", "text": "You can return items within 30 days."}]
    assert model.generate(rag_messages("Can I return it?", passages, "en"), max_new_tokens=8).strip()


def test_batch_stream_and_single_agree(smoke_model: Path) -> None:
    model = load_model(smoke_model)
    questions = [plain_messages("Where is my order?", "en"), plain_messages("¿Dónde está mi pedido?", "es")]
    batch = model.generate_batch(questions, max_new_tokens=10)
    assert batch == [model.generate(q, max_new_tokens=10) for q in questions]  # greedy, left-padded batch
    assert "".join(model.stream(questions[0], max_new_tokens=10)).strip() == batch[0]
    assert model.generate_batch([]) == []
    sampled = model.generate(questions[0], max_new_tokens=6, temperature=0.8)
    assert isinstance(sampled, str)


def test_copy_bias_adds_to_passage_tokens_and_more_to_continuations() -> None:
    from finetune.inference import CopyBias

    # row 0 shows passages tokens 5 6 7 8 6 9; row 1 no passages; the prompts are 3 tokens wide, one answer token each
    bias = CopyBias([[5, 6, 7, 8, 6, 9], []], 3, 1.0, 2.0, "cpu")
    input_ids = torch.tensor([[1, 2, 3, 6], [1, 2, 3, 6]])
    scores = bias(input_ids, torch.zeros(2, 12))
    assert scores[0].tolist() == [0, 0, 0, 0, 0, 1, 1, 3, 1, 3, 0, 0]  # 7 and 9 follow 6 in the passages
    assert scores[1].tolist() == [0] * 12
    two = bias(torch.tensor([[1, 2, 3, 8, 6], [1, 2, 3, 8, 6]]), torch.zeros(2, 12))
    assert two[0].tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, 3, 0, 0]  # "8 6" is followed by 9 only


def test_copy_bias_keeps_a_generated_answer_to_the_passages_tokens(smoke_model: Path) -> None:
    from finetune.prompts import passage_block

    model = load_model(smoke_model, precision="fp32")
    text = "Returns are free within 30 days of delivery from My orders."
    messages = rag_messages("Can I return it?", [{"title": "Returns", "text": text}], "en")
    plain = plain_messages("Can I return it?", "en")
    free, pulled = (model.generate_batch([messages, plain], max_new_tokens=12, copy_bias=b) for b in ((0, 0), (30, 60)))
    assert pulled[1] == free[1]  # a prompt without passages is left alone
    tokens = model.tokenizer(passage_block(messages), add_special_tokens=False)["input_ids"]
    answer = model.tokenizer(pulled[0], add_special_tokens=False)["input_ids"]
    assert answer and set(answer) <= set(tokens), pulled[0]  # only the passages' tokens
    assert not set(model.tokenizer(free[0], add_special_tokens=False)["input_ids"]) <= set(tokens)  # unlike without
    assert model.generate_batch([messages], max_new_tokens=12) == free[:1]  # (0, 0) is the default: off


def test_count_tokens_and_cache(smoke_model: Path) -> None:
    model = load_model(smoke_model)
    assert load_model(str(smoke_model)) is model
    assert model.count_tokens("") == 0
    assert model.count_tokens("hola, ¿qué tal?") >= 3


def test_merged_folder_matches_the_adapter(smoke_model: Path, merged: Path) -> None:
    import torch

    from finetune.train import perplexity

    adapter, full = load_model(smoke_model, precision="fp32"), load_model(merged, precision="fp32")
    descriptor = json.loads((merged / "supportbot_model.json").read_text(encoding="utf-8"))
    assert descriptor["kind"] == "merged" and descriptor["company"] == adapter.info["company"]  # the prompt it knows
    assert not (merged / "adapter").exists() and (merged / "model_card.md").is_file()
    ids = torch.tensor([adapter.tokenizer("Nimbus Market returns")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(adapter.model(ids).logits, full.model(ids).logits, atol=1e-4)
    data = _val_set(full)
    pad = full.tokenizer.pad_token_id
    assert perplexity(adapter.model, data, pad)["loss"] == pytest.approx(
        perplexity(full.model, data, pad)["loss"], abs=1e-3
    )


def test_int8_round_trip_through_the_cli(smoke_model: Path, merged: Path, tmp_path: Path) -> None:
    from finetune.train import perplexity

    out = tmp_path / "int8"
    result = runner.invoke(app, ["train", "merge", "--model", str(smoke_model), "--out", str(out),
                                 "--quantize", "int8", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    described = json.loads(result.stdout.strip().splitlines()[-1])
    assert described["kind"] == "merged" and described["quantize"] == "int8"
    int8 = load_model(out)  # auto keeps the stored int8 weights
    assert int8.precision == "int8"
    assert int8.generate(plain_messages("How do I pay?", "en"), max_new_tokens=8).strip()
    full = load_model(merged, precision="fp32")
    data, pad = _val_set(full), full.tokenizer.pad_token_id
    fp32_ppl, int8_ppl = (
        perplexity(full.model, data, pad)["perplexity"],
        perplexity(int8.model, data, pad)["perplexity"],
    )
    assert abs(int8_ppl - fp32_ppl) / fp32_ppl < 0.05
    with pytest.raises(ModelLoadError, match="int8 weights"):
        load_model(out, precision="bf16")


def test_in_memory_int8_of_an_adapter_folder(smoke_model: Path) -> None:
    model = load_model(smoke_model, precision="int8")
    assert model.precision == "int8"
    assert model.generate(plain_messages("Hello", "en"), max_new_tokens=5).strip()


def test_load_errors_are_clear(tmp_path: Path, smoke_model: Path) -> None:
    with pytest.raises(ModelLoadError, match="no such folder"):
        load_model(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_model(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "supportbot_model.json").write_text('{"kind": "adapter", "base": "nowhere"}', encoding="utf-8")
    with pytest.raises(ModelLoadError, match="missing"):
        load_model(broken)
    with pytest.raises(ModelLoadError, match="precision"):
        load_model(smoke_model, precision="fp8")  # type: ignore[arg-type]


def _damaged_copy(smoke_model: Path, tmp_path: Path, name: str) -> Path:
    import shutil

    folder = tmp_path / name
    shutil.copytree(smoke_model, folder)
    return folder


def test_damaged_model_files_are_named_with_the_fix(tmp_path: Path, smoke_model: Path) -> None:
    # Each used to raise a library error naming no file ('base', 'utf-8' codec, "incomplete metadata", a Hub repo id,
    # "install sentencepiece") or to serve a chat template the model never saw; now the file and the fix.
    def refused(folder: Path, *expected: str) -> str:
        with pytest.raises(ModelLoadError) as caught:
            load_model(folder, precision="fp32")
        message = str(caught.value)
        assert all(part in message for part in expected), message
        assert "\n" not in message, message
        return message

    folder = _damaged_copy(smoke_model, tmp_path, "no-base")
    descriptor = folder / "supportbot_model.json"
    info = json.loads(descriptor.read_text(encoding="utf-8"))
    descriptor.write_text(json.dumps({**info, "base": None, "tokenizer": "@base"}), encoding="utf-8")
    refused(folder, str(descriptor), "'base'")
    descriptor.write_bytes(b"\x85\x00binary")
    refused(folder, str(descriptor), "unreadable")

    folder = _damaged_copy(smoke_model, tmp_path, "base-weights")
    weights = folder / "base" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100_000])  # a truncated copy
    refused(folder, str(weights), "damaged")
    weights.unlink()
    refused(folder, str(weights), "missing")
    (folder / "base" / "config.json").write_text('{"model_type": ', encoding="utf-8")
    refused(folder, str(folder / "base" / "config.json"), "damaged")

    folder = _damaged_copy(smoke_model, tmp_path, "adapter-weights")
    weights = folder / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(b"garbage" * 1000)
    refused(folder, str(weights), "damaged", "train it again")
    weights.unlink()
    refused(folder, str(weights), "missing")
    (folder / "adapter" / "adapter_config.json").unlink()
    refused(folder, str(folder / "adapter" / "adapter_config.json"), "missing")

    folder = _damaged_copy(smoke_model, tmp_path, "tokenizer")
    (folder / "tokenizer" / "chat_template.jinja").unlink()
    refused(folder, str(folder / "tokenizer" / "chat_template.jinja"))
    (folder / "tokenizer" / "tokenizer.json").write_text('{"version": "1.0", "trunc', encoding="utf-8")
    refused(folder, str(folder / "tokenizer"), "cannot load the tokenizer")
    (folder / "tokenizer" / "tokenizer.json").unlink()
    refused(folder, str(folder / "tokenizer" / "tokenizer.json"), "missing")


def test_damaged_int8_and_plain_checkpoint_folders_name_the_file_and_their_own_fix(
    smoke_model: Path, tmp_path: Path
) -> None:
    # A truncated int8 weights file said "model folder X: cannot load the model (SafetensorError ...)"; a damaged
    # plain checkpoint (a pulled base given as --base) was told to "train it again".
    import shutil

    from finetune.merge import merge_model

    int8 = tmp_path / "int8"
    merge_model(smoke_model, int8, quantize="int8")
    weights = next(int8.rglob("model_int8.safetensors"))
    weights.write_bytes(weights.read_bytes()[:10_000])
    with pytest.raises(ModelLoadError, match=f"{weights} is damaged .*train merge --quantize int8"):
        load_model(int8)
    plain = tmp_path / "plain"
    shutil.copytree(smoke_model / "base", plain)
    for item in (smoke_model / "tokenizer").iterdir():
        shutil.copy(item, plain / item.name)
    (plain / "model.safetensors").write_bytes(b"garbage")
    damaged = f"{plain / 'model.safetensors'} is damaged .*model pull --force"
    with pytest.raises(ModelLoadError, match=damaged) as caught:
        load_model(plain, precision="fp32")
    assert "train it again" not in str(caught.value)


def test_a_missing_gemma_base_names_the_commands_that_rebuild_it_in_this_home(
    tmp_path: Path, smoke_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fix said `.supportbot/models/...` whatever the data home, and trimmed without the adapter's token list,
    # which builds a base of another vocabulary that the next load refuses.
    folder = _damaged_copy(smoke_model, tmp_path, "adapter")
    descriptor = folder / "supportbot_model.json"
    info = json.loads(descriptor.read_text(encoding="utf-8"))
    descriptor.write_text(json.dumps({**info, "base": "../gone", "base_name": "gemma-3-270m-trim"}), encoding="utf-8")
    (folder / "kept_tokens.json.gz").write_bytes(b"")
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    with pytest.raises(ModelLoadError) as caught:
        load_model(folder, precision="fp32")
    models = tmp_path / "home" / "models"
    assert f"--out {models / 'gemma-3-270m-trim'} --tokens {folder / 'kept_tokens.json.gz'}" in str(caught.value)
    assert f"--base {models / 'gemma-3-270m'}" in str(caught.value)


def test_bitsandbytes_precisions_need_cuda(smoke_model: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: 8bit/4bit loading is exercised by the gpu test")
    for precision in ("8bit", "4bit"):
        with pytest.raises(ModelLoadError, match="CUDA"):
            load_model(smoke_model, precision=precision)


def test_merge_rejects_bad_input(smoke_model: Path, merged: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "merge", "--model", str(merged), "--out", str(tmp_path / "x")])
    assert result.exit_code == 1 and "already a merged model" in result.output
    result = runner.invoke(app, ["train", "merge", "--model", str(tmp_path / "nope"), "--out", str(tmp_path / "y")])
    assert result.exit_code == 1 and "no such folder" in result.output
    result = runner.invoke(app, ["train", "merge", "--model", str(smoke_model), "--out", str(tmp_path / "z"),
                                 "--quantize", "int4"])  # fmt: skip
    assert result.exit_code == 2 and "int8" in result.output
    assert not any(p.name in ("x", "y", "z", ".x.partial") for p in tmp_path.iterdir())


def test_merge_names_a_damaged_file(smoke_model: Path, tmp_path: Path) -> None:
    # `train merge` on an adapter whose base weights were truncated ended in a SafetensorError traceback.
    import shutil

    adapter = tmp_path / "adapter"
    shutil.copytree(smoke_model, adapter)
    weights = adapter / "base" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:10_000])
    result = runner.invoke(app, ["train", "merge", "--model", str(adapter), "--out", str(tmp_path / "merged")])
    assert result.exit_code == 1 and f"{weights} is damaged" in result.output, result.output
    (adapter / "adapter" / "adapter_model.safetensors").write_bytes(b"garbage")
    result = runner.invoke(app, ["train", "merge", "--model", str(adapter), "--out", str(tmp_path / "merged")])
    assert result.exit_code == 1 and "adapter_model.safetensors is damaged" in result.output, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adapter"]


def test_merge_finds_the_base_and_tokenizer_as_inference_does(
    smoke_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A shipped adapter names its base by name (in the data home) and uses its tokenizer ("@base"): merge failed
    # with "tokenizer .../@base is missing" where chat loaded it.
    from tests.finetune.smoke import shipped_style_adapter

    adapter = shipped_style_adapter(smoke_model, tmp_path)
    monkeypatch.setenv("SUPPORTBOT_HOME", str(tmp_path / "home"))
    (tmp_path / "a_file").write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["train", "merge", "--model", str(adapter), "--out", str(tmp_path / "a_file"),
                                 "--overwrite"])  # fmt: skip
    assert result.exit_code == 1 and "a_file is a file, not a folder" in result.output, result.output
    result = runner.invoke(app, ["train", "merge", "--model", str(adapter), "--out", str(tmp_path / "merged")])
    assert result.exit_code == 0, result.output
    merged = load_model(tmp_path / "merged", precision="fp32")
    assert merged.generate(plain_messages("How do I pay?", "en"), max_new_tokens=4).strip()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file", "adapter", "home", "merged"]  # nothing partial
    assert (tmp_path / "a_file").read_text(encoding="utf-8") == "mine"


QUESTIONS = [
    ("How do I return an order?", "en"),
    ("How long does shipping take?", "en"),
    ("Can I change my delivery address?", "en"),
    ("How do I reset my password?", "en"),
    ("¿Cómo devuelvo un pedido?", "es"),
    ("¿Cuánto tarda el envío?", "es"),
    ("¿Puedo cambiar la dirección de entrega?", "es"),
    ("¿Cómo cambio mi contraseña?", "es"),
]


@pytest.mark.slow
def test_trained_tiny_model_answers_in_the_question_language() -> None:
    # Needs a full `supportbot train --preset tiny` run (minutes), so it reads one named by the environment.
    import os

    from retrieval.language import detect_language

    path = os.environ.get("SUPPORTBOT_TINY_MODEL")
    if not path:
        pytest.skip("set SUPPORTBOT_TINY_MODEL to a `supportbot train --preset tiny` output folder")
    model = load_model(path)
    answers = model.generate_batch([plain_messages(q, lang) for q, lang in QUESTIONS], max_new_tokens=48)
    assert all(a.strip() for a in answers)
    matched = sum(detect_language(a, default=None) == lang for a, (_, lang) in zip(answers, QUESTIONS, strict=True))
    assert matched >= 7, list(zip(answers, QUESTIONS, strict=True))


class _Marker:
    """Unpickling this writes a file: proof that a loader ran a pickle it found in a model folder."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[Path, str]]:
        return (Path.write_text, (self.path, "pickle ran"))


def test_int8_folder_is_loaded_strictly_and_never_unpickled(smoke_model: Path, tmp_path: Path) -> None:
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from finetune.int8 import INT8_WEIGHTS
    from finetune.merge import merge_model

    good = tmp_path / "int8"
    merge_model(smoke_model, good, quantize="int8")
    # An old-style folder holding only a pickle: refused with the reason, and the pickle never runs.
    pickled = tmp_path / "pickled"
    shutil.copytree(good, pickled)
    (pickled / "model" / INT8_WEIGHTS).unlink()
    marker = tmp_path / "ran.txt"
    torch.save({"payload": _Marker(marker)}, pickled / "model" / "model_int8.pt")
    with pytest.raises(ModelLoadError, match="not loaded for safety"):
        load_model(pickled)
    assert not marker.exists()
    # Weights that do not match the architecture exactly (an extra tensor) are refused, not silently ignored.
    extra = tmp_path / "extra"
    shutil.copytree(good, extra)
    state = load_file(str(extra / "model" / INT8_WEIGHTS))
    save_file({**state, "unexpected.weight": torch.zeros(2)}, str(extra / "model" / INT8_WEIGHTS))
    with pytest.raises(ModelLoadError, match=r"unexpected\.weight"):
        load_model(extra)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_int8_linear_prefill_and_decode_paths_agree(dtype: torch.dtype) -> None:
    """Long inputs (prefill) take the dequantized dense path, short ones (decoding) the packed int8 kernel: both
    compute the same product, and stay close to the float layer they were quantized from."""
    from finetune.int8 import PACKED_MAX_ROWS, Int8Linear

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 48, bias=True)
    layer = Int8Linear.of(linear, dtype)
    x = torch.randn(PACKED_MAX_ROWS + 8, 64)
    with torch.inference_mode():
        dense = layer(x)  # more rows than PACKED_MAX_ROWS: dense path
        packed = torch.cat([layer(x[i : i + 4]) for i in range(0, x.shape[0], 4)])  # packed path
        reference = linear(x)
    tol = 2e-2 if dtype == torch.bfloat16 else 1e-4
    assert torch.allclose(dense.float(), packed.float(), atol=tol, rtol=tol)
    assert (dense.float() - reference).abs().max() < 0.05
