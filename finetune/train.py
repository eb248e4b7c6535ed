"""The training recipe, flat: setup -> (tiny: tokenizer + pre-trained base) -> LoRA/QLoRA tuning -> save.

Uses the plain transformers ``Trainer`` rather than TRL's ``SFTTrainer``: loss masking and tokenization are done
once, here, by ``finetune.chat_format`` (the same code path inference uses), which works with any chat template;
SFTTrainer's assistant-only loss needs templates annotated with ``{% generation %}``, which Llama's are not.
The Trainer still gives epochs, eval, early stopping, checkpoint resume, bf16, gradient checkpointing and a
progress bar.

Everything is written to a work folder beside ``--out`` (``.<name>.partial``) and renamed to ``--out`` only at the
end, so a failed or interrupted run leaves no half-written output; re-running with the same settings resumes (the
work folder is kept for that, also after SIGINT/SIGTERM).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from finetune.chat_format import Messages, collate, data_company, encode_conversation, load_split, read_chat_jsonl
from finetune.config import TrainConfig, TrainError
from finetune.output import check_output, publish_folder
from finetune.tiny import build_base, last_checkpoint
from finetune.trainer import gpu_bf16_supported, make_trainer_factory, use_bf16

Log = Callable[[str], None]


def _work_dir(out: Path, config: TrainConfig, data_dir: Path, overwrite: bool) -> Path:
    """The work folder beside ``out``; reused for resuming only when it was started with the same settings.

    Raises:
        OutputError: ``out`` is a file, cannot be written, holds the data or base, or is a non-empty folder and
            ``overwrite`` is off.
    """
    base = [Path(str(config.base_model))] if config.base_model and not config.from_scratch else []
    check_output(out, overwrite=overwrite, inputs=[data_dir, *base])
    work = out.parent / f".{out.name}.partial"
    settings = {k: v for k, v in config.to_dict().items() if k not in ("resume", "progress", "mlflow")}
    stamp = json.dumps({"config": settings, "data": str(data_dir.resolve())}, sort_keys=True)
    stamp_file = work / "run.json"
    same = stamp_file.is_file() and stamp_file.read_text(encoding="utf-8") == stamp
    if work.exists() and not (config.resume and same):
        shutil.rmtree(work)
    if not work.exists():
        work.mkdir(parents=True)
        stamp_file.write_text(stamp, encoding="utf-8")
    return work


Example = tuple[str, Messages]


def _sample(items: list[Example], limit: int, seed: int) -> list[Example]:
    if limit <= 0 or len(items) <= limit:
        return items
    return random.Random(seed).sample(items, limit)


def _examples(config: TrainConfig, data_dir: Path, split: str, limit: int) -> list[Example]:
    """A split's examples: chat + RAFT as they come, or a ``raft_share`` of RAFT examples and chat for the rest."""
    normalize, company = config.normalize_system_prompt, data_company(data_dir)
    if not (config.use_raft and config.raft_share > 0):
        return _sample(load_split(data_dir, split, use_raft=config.use_raft, normalize_system=normalize,
                                  company=company), limit, config.seed)  # fmt: skip
    chat = load_split(data_dir, split, use_raft=False, normalize_system=normalize, company=company)
    raft_file = data_dir / f"raft_{split}.jsonl"
    raft = read_chat_jsonl(raft_file, normalize_system=normalize, company=company) if raft_file.is_file() else []
    if limit <= 0:
        return raft + chat
    n_raft = min(len(raft), round(config.raft_share * limit))
    n_chat = min(len(chat), limit - n_raft)
    return (_sample(raft, n_raft, config.seed) if n_raft else []) + (
        _sample(chat, n_chat, config.seed) if n_chat else []
    )


def balance_languages(items: list[Example], min_share: float) -> list[Example]:
    """Repeat the conversations of each language under ``min_share`` of ``items`` until it holds about that share.

    Whole copies first, then a deterministic prefix for the remainder; languages at or above the share and
    ``min_share <= 0`` leave ``items`` as they are.
    """
    if min_share <= 0 or not items:
        return items
    by_lang: dict[str, list[Example]] = {}
    for item in items:
        by_lang.setdefault(item[0], []).append(item)
    out = list(items)
    for group in by_lang.values():
        others = len(items) - len(group)
        if not others or len(group) / len(items) >= min_share:
            continue
        wanted = round(min_share * others / (1 - min_share))  # copies so that group / total == min_share
        extra = wanted - len(group)
        out += group * (extra // len(group)) + group[: extra % len(group)]
    return out


def _encode_all(tokenizer: Any, conversations: Sequence[Messages], max_len: int) -> list[dict[str, list[int]]]:
    return [e for _, e in _encode_pairs(tokenizer, [("", m) for m in conversations], max_len)]


def _encode_pairs(tokenizer: Any, pairs: Sequence[Example], max_len: int) -> list[tuple[str, dict[str, list[int]]]]:
    """``(lang, encoded)`` for the examples that keep an assistant token within ``max_len``."""
    encoded = [(lang, encode_conversation(tokenizer, messages, max_len)) for lang, messages in pairs]
    return [(lang, e) for lang, e in encoded if any(label != -100 for label in e["labels"])]


def perplexity(
    model: Any,
    dataset: Sequence[dict[str, list[int]]],
    pad_id: int,
    batch_size: int = 16,
    langs: Sequence[str] | None = None,
) -> dict:
    """Token-weighted loss and perplexity over the supervised (assistant) tokens of ``dataset``.

    With ``langs`` (one per example), ``per_language`` holds the same for each language's examples, so a run that
    helps English and not Spanish shows it (the bundled data is about a quarter Spanish).
    """
    import torch

    model.eval()
    device = next(model.parameters()).device
    totals, counts = [0.0] * len(dataset), [0] * len(dataset)
    order = sorted(range(len(dataset)), key=lambda i: len(dataset[i]["input_ids"]))
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            batch = collate([dataset[i] for i in rows], pad_id)
            batch = {k: v.to(device) for k, v in batch.items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            labels = batch["labels"][:, 1:]
            losses = torch.nn.functional.cross_entropy(
                logits[:, :-1].reshape(-1, logits.size(-1)), labels.reshape(-1), ignore_index=-100, reduction="none"
            ).view(labels.shape)
            row_counts = (labels != -100).sum(dim=1).tolist()
            for i, total, count in zip(rows, losses.sum(dim=1).tolist(), row_counts, strict=True):
                totals[i], counts[i] = total, count
    result: dict[str, Any] = _perplexity(sum(totals), sum(counts))
    if langs is not None:
        rows_of = {lang: [i for i, x in enumerate(langs) if x == lang] for lang in sorted(set(langs))}
        result["per_language"] = {
            lang: _perplexity(sum(totals[i] for i in rows), sum(counts[i] for i in rows))
            for lang, rows in rows_of.items()
        }
    return result


def _perplexity(total: float, count: int) -> dict[str, Any]:
    loss = total / max(count, 1)
    return {"loss": round(loss, 4), "perplexity": round(math.exp(min(loss, 50.0)), 3), "tokens": count}


def _per_language(result: dict[str, Any]) -> str:
    """`` (en 12.3, es 45.6)``: the perplexity of each language, for the log line."""
    per = result.get("per_language") or {}
    return " (" + ", ".join(f"{lang} {r['perplexity']}" for lang, r in per.items()) + ")" if per else ""


BASE_FIX = "provision it again (`supportbot model pull`, `model trim ... --overwrite`) or pass another --base"


def check_base(base: Path) -> None:
    """Refuse a base folder whose config, tokenizer or weights file is missing or damaged, naming the file, before
    anything is written (a truncated model.safetensors failed with a traceback once the data was encoded)."""
    from finetune.inference import ModelLoadError, check_config, check_weights

    try:
        check_config(base, BASE_FIX)
        if not any((base / name).is_file() for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
            raise ModelLoadError(f"{base / 'tokenizer.json'} is missing: {BASE_FIX}")
        check_weights(base, "model.safetensors", BASE_FIX)
    except ModelLoadError as exc:
        raise TrainError(str(exc)) from exc


def load_base(base_dir: Path, config: TrainConfig, cuda: bool) -> tuple[Any, str]:
    """Load the base model for tuning: 4-bit NF4 (QLoRA) on CUDA when asked, else full precision."""
    import torch
    from transformers import AutoModelForCausalLM

    quant = "4bit" if cuda and config.quantization in ("auto", "4bit") else "none"
    if config.quantization == "4bit" and not cuda:
        raise TrainError("quantization: 4bit (QLoRA) needs a CUDA GPU; use quantization: auto or none on CPU")
    dtype = torch.bfloat16 if cuda and config.bf16 and gpu_bf16_supported() else torch.float32
    if quant == "4bit":
        from peft import prepare_model_for_kbit_training
        from transformers import BitsAndBytesConfig

        bnb = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=dtype
        )
        model: Any = AutoModelForCausalLM.from_pretrained(
            str(base_dir), quantization_config=bnb, dtype=dtype, device_map={"": 0}
        )
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=config.gradient_checkpointing)
    else:
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
        if cuda:
            model = model.to("cuda")
    if config.gradient_checkpointing:
        model.enable_input_require_grads()
    return model, quant


def _base_and_tokenizer(
    config: TrainConfig, conversations: list[Messages], work: Path, factory: Callable[..., Any]
) -> tuple[Any, Path, str, dict[str, Any]]:
    """The tokenizer, the base model's folder, how the model card names the base, and the pre-training metrics:
    a tiny base built and pre-trained in ``work/base`` (``from_scratch``), or the ``base_model`` folder."""
    from finetune.tokenizer import load_tokenizer

    if config.from_scratch:
        tokenizer, base_dir, pretrain = build_base(config, conversations, work, factory)
        return tokenizer, base_dir, "base", pretrain
    base_dir = Path(str(config.base_model)).resolve()
    try:
        tokenizer = load_tokenizer(base_dir)
    except Exception as exc:  # JSON, tokenizers (Rust) and OS errors alike: a damaged tokenizer file
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise TrainError(f"--base {base_dir}: cannot load the tokenizer ({reason}): {BASE_FIX}") from exc
    tokenizer.save_pretrained(str(work / "tokenizer"))
    return tokenizer, base_dir, str(base_dir), {}


def _tune_lora(
    model: Any,
    tokenizer: Any,
    train_set: list[dict[str, list[int]]],
    val_set: list[dict[str, list[int]]],
    work: Path,
    config: TrainConfig,
    factory: Callable[..., Any],
) -> tuple[Any, Any, Any]:
    """Wrap ``model`` in LoRA adapters and train them (resuming from ``work/checkpoints``); the PEFT model, the
    trainer and its result."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_targets,
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    trainer = factory(
        model,
        tokenizer,
        train_set,
        val_set,
        work / "checkpoints",
        epochs=config.epochs,
        max_steps=config.max_steps,
        learning_rate=config.learning_rate,
        phase="lora",
    )
    result = trainer.train(resume_from_checkpoint=last_checkpoint(work / "checkpoints"))
    return model, trainer, result


def _publish(
    work: Path, out: Path, config: TrainConfig, data_dir: Path, base_ref: str, metrics: dict[str, Any], tracker: Any
) -> None:
    """Write the model card and descriptor, then rename the finished work folder to ``out`` (replacing it) and
    attach the card to the tracked run."""
    from finetune.modelcard import write_outputs
    from finetune.tracking import finish_training

    write_outputs(work, config, data_dir, base_ref, metrics)
    (work / "run.json").unlink()
    publish_folder(work, out)
    if tracker is not None:
        finish_training(tracker, out)


def run_training(
    config: TrainConfig,
    data_dir: Path,
    out: Path,
    *,
    overwrite: bool = False,
    log: Log = print,
    home: Path | None = None,
) -> dict[str, Any]:
    """Train a LoRA adapter with ``config`` on a prepared data folder and write the model folder ``out``.

    Args:
        config: the run's settings (a preset plus overrides).
        data_dir: folder with ``train.jsonl`` and ``val.jsonl`` (and optionally ``raft_*.jsonl``).
        out: the model folder to create.
        overwrite: replace an existing non-empty ``out``.
        log: where progress lines go.
        home: data home whose MLflow store tracks the run (default: ``SUPPORTBOT_HOME`` or ``./.supportbot``).

    Returns:
        The metrics also written to ``out/metrics.json``.

    Raises:
        TrainError: bad data folder or preset, named in the message.
        OutputError: an output folder that cannot be used (see ``_work_dir``).
    """
    import torch

    from finetune.tracking import default_home, open_tracker

    # --- setup ---
    started = time.time()
    data_dir, out = Path(data_dir), Path(out).resolve()
    train_pairs = _examples(config, data_dir, "train", config.max_train_conversations)
    val_pairs = _examples(config, data_dir, "val", config.max_eval_conversations)
    unique_train = [m for _, m in train_pairs]
    train_convs = [m for _, m in balance_languages(train_pairs, config.min_lang_share)]
    if not config.from_scratch and not (Path(str(config.base_model)) / "config.json").is_file():
        raise TrainError(f"--base {config.base_model}: not a local model folder (no config.json)")
    if not config.from_scratch:
        check_base(Path(str(config.base_model)))
    work = _work_dir(out, config, data_dir, overwrite)
    cuda = torch.cuda.is_available()
    torch.manual_seed(config.seed)
    tracker = open_tracker(home or default_home(), out, config) if config.mlflow else None
    factory = make_trainer_factory(config, cuda, tracker, log)
    log(f"training {config.preset} on {len(unique_train)} conversations ({len(train_convs)} after language "
        f"balancing, {len(val_pairs)} for validation), "
        f"device {'cuda' if cuda else 'cpu'}")  # fmt: skip

    # --- base model and tokenizer ---
    tokenizer, base_dir, base_ref, pretrain = _base_and_tokenizer(config, unique_train, work, factory)
    train_set = _encode_all(tokenizer, train_convs, config.max_seq_len)
    val_encoded = _encode_pairs(tokenizer, val_pairs, config.max_seq_len)
    val_set, val_langs = [e for _, e in val_encoded], [lang for lang, _ in val_encoded]
    if not train_set or not val_set:
        raise TrainError(f"--data {data_dir}: no example keeps an assistant token within max_seq_len")

    # --- LoRA tuning ---
    model, quant = load_base(base_dir, config, cuda)
    before = perplexity(model, val_set, tokenizer.pad_token_id, config.batch_size, val_langs)
    log(f"validation perplexity before LoRA: {before['perplexity']}{_per_language(before)}")
    model, trainer, result = _tune_lora(model, tokenizer, train_set, val_set, work, config, factory)
    after = perplexity(model, val_set, tokenizer.pad_token_id, config.batch_size, val_langs)
    log(f"validation perplexity after LoRA: {after['perplexity']}{_per_language(after)}")

    # --- save ---
    model.save_pretrained(str(work / "adapter"))
    shutil.rmtree(work / "checkpoints", ignore_errors=True)
    metrics: dict[str, Any] = {
        "preset": config.preset,
        "device": "cuda" if cuda else "cpu",
        "quantization": quant,
        "bf16": use_bf16(config, cuda),
        "train_conversations": len(unique_train),
        "train_examples": len(train_set),
        "val_examples": len(val_set),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "pretrain": pretrain,
        "val_before_lora": before,
        "val_after_lora": after,
        "perplexity_ratio": round(before["perplexity"] / max(after["perplexity"], 1e-9), 3),
        "lora_steps": result.global_step,
        "lora_train_loss": round(float(result.training_loss), 4),
        "epoch_history": [h for h in trainer.state.log_history if "eval_loss" in h],
        "seconds": round(time.time() - started, 1),
    }
    if tracker is not None:
        per_language = {
            f"val_perplexity_{when}_{lang}": r["perplexity"]
            for when, m in (("before", before), ("after", after))
            for lang, r in m["per_language"].items()
        }
        tracker.log_metrics(
            {"val_perplexity_before": before["perplexity"], "val_perplexity_after": after["perplexity"],
             "perplexity_ratio": metrics["perplexity_ratio"], **per_language}, result.global_step)  # fmt: skip
    _publish(work, out, config, data_dir, base_ref, metrics, tracker)
    log(f"wrote {out} in {metrics['seconds']} s (perplexity {before['perplexity']} -> {after['perplexity']})")
    return metrics
