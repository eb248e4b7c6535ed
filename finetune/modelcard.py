"""What a trained model folder says about itself: metrics.json, supportbot_model.json and model_card.md."""

from __future__ import annotations

import json
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finetune.base_model import read_provenance, vocab_fingerprint, write_notice
from finetune.chat_format import data_company, data_drafts
from finetune.config import TrainConfig
from finetune.prompts import DEFAULT_COMPANY

MODEL_FILE = "supportbot_model.json"


DRAFT_LINE = (
    "- RAFT prompts show the extractive answer over their passages as a draft (`data prepare --raft-draft`); the "
    "hybrid turn shows this model the draft too"
)
_TURNS = {"all": "every turn", "user": "the customer turns"}


def write_json(path: Path, document: Any) -> None:
    """Write pretty UTF-8 JSON."""
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _data_summary(data_dir: Path) -> dict[str, Any]:
    counts = {}
    for name in ("train", "val", "test", "raft_train", "raft_val", "raft_test"):
        path = data_dir / f"{name}.jsonl"
        if path.is_file():
            counts[name] = sum(1 for line in path.open(encoding="utf-8") if line.strip())
    manifest = data_dir / "manifest.json"
    return {"folder": str(data_dir.resolve()), "conversations": counts, "has_manifest": manifest.is_file(),
            "company": data_company(data_dir) or DEFAULT_COMPANY, "drafts": data_drafts(data_dir)}  # fmt: skip


def write_outputs(work: Path, config: TrainConfig, data_dir: Path, base_ref: str, metrics: dict[str, Any]) -> None:
    """Write the three descriptor files of an adapter model folder into ``work``."""
    data = _data_summary(data_dir)
    write_json(work / "metrics.json", metrics)
    write_json(
        work / MODEL_FILE,
        {
            "kind": "adapter",
            "preset": config.preset,
            "base": base_ref,
            "adapter": "adapter",
            "tokenizer": "tokenizer",
            "lang_aware": config.normalize_system_prompt,
            # the company its system prompts named in training: the hf generator's default for serving
            "company": data["company"],
            # its RAFT prompts showed the extractive answer (data prepare --raft-draft): the hybrid turn shows it too
            "drafts": data["drafts"],
            "max_seq_len": config.max_seq_len,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **base_identity(base_ref),
        },
    )
    provenance = {} if config.from_scratch else read_provenance(Path(base_ref))
    if provenance.get("notice"):
        write_notice(
            work, f"LoRA adapter trained on {Path(base_ref).name} by `supportbot train --preset {config.preset}`"
        )
    (work / "model_card.md").write_text(model_card(config, data, base_ref, metrics), encoding="utf-8")


def base_identity(base_ref: str) -> dict[str, Any]:
    """What an adapter records about its base, so a load can find it by name and refuse a different vocabulary."""
    path = Path(base_ref)
    if not (path / "config.json").is_file():
        return {}
    from transformers import AutoTokenizer

    provenance = read_provenance(path)
    fingerprint = provenance.get("vocab_fingerprint") or vocab_fingerprint(AutoTokenizer.from_pretrained(str(path)))
    return {"base_name": path.name, "base_fingerprint": fingerprint}


def model_card(config: TrainConfig, data: dict[str, Any], base_ref: str, metrics: dict[str, Any]) -> str:
    """The model card: base, data, parameters and metrics (before/after LoRA perplexity, per-epoch eval)."""
    before, after = metrics["val_before_lora"], metrics["val_after_lora"]
    base = "pre-trained here from scratch (folder `base/`)" if config.from_scratch else f"`{base_ref}`"
    lines = [
        f"# supportbot model card: `{config.preset}`",
        "",
        f"LoRA adapter for the bilingual (es/en) {data['company']} support assistant, trained by `supportbot train`.",
        "",
        "## Base model",
        f"- Base: {base}",
    ]
    if metrics.get("pretrain"):
        p = metrics["pretrain"]
        lines += [
            f"- Tiny Llama: {config.num_layers} layers, hidden {config.hidden_size}, MLP {config.intermediate_size}, "
            f"{config.num_heads} heads ({config.num_kv_heads} KV), vocabulary {config.vocab_size} (byte-level BPE "
            f"trained on the corpus), {p['params']:,} parameters",
            f"- Pre-training: {p['corpus_texts']} texts (knowledge base + {_TURNS[config.pretrain_turns]} of the "
            "training conversations, no chat template), "
            f"{p['tokens_per_epoch']:,} tokens per epoch, {p['steps']} steps, final train loss {p['train_loss']}, "
            f"{p['seconds']} s",
        ]
    lines += [
        "",
        "## Data",
        f"- Folder: `{data['folder']}`",
        "- Conversations per file: " + ", ".join(f"{k} {v}" for k, v in data["conversations"].items()),
        f"- Used: {metrics['train_examples']} training examples (from {metrics.get('train_conversations', '?')} "
        f"conversations; languages under {config.min_lang_share:.0%} of them repeated) and "
        f"{metrics['val_examples']} validation examples "
        f"(max {config.max_seq_len} tokens; loss on assistant tokens only; system prompt from `finetune.prompts`)",
        *([DRAFT_LINE] if data["drafts"] else []),
        "",
        "## Parameters",
        f"- LoRA r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout}, "
        f"targets {', '.join(config.lora_targets)}; {metrics['trainable_params']:,} trainable parameters",
        f"- Epochs {config.epochs} (max steps {config.max_steps}), learning rate {config.learning_rate}, batch "
        f"{config.batch_size} x {config.grad_accum}, early stopping patience {config.early_stopping_patience}",
        f"- Device {metrics['device']}, quantization {metrics['quantization']}, bf16 {metrics['bf16']}, gradient "
        f"checkpointing {config.gradient_checkpointing}",
        "",
        "## Metrics (validation, assistant tokens)",
        "",
        "| model | loss | perplexity | tokens |",
        "|---|---|---|---|",
        f"| base, before LoRA | {before['loss']} | {before['perplexity']} | {before['tokens']} |",
        f"| after LoRA | {after['loss']} | {after['perplexity']} | {after['tokens']} |",
        *(
            f"| {when}, {lang} | {r['loss']} | {r['perplexity']} | {r['tokens']} |"
            for when, m in (("before LoRA", before), ("after LoRA", after))
            for lang, r in (m.get("per_language") or {}).items()
        ),
        "",
        f"Perplexity ratio before/after: **{metrics['perplexity_ratio']}x**. LoRA steps {metrics['lora_steps']}, "
        f"final train loss {metrics['lora_train_loss']}. Whole run: {metrics['seconds']} s on "
        f"{platform.machine()} ({metrics['device']}).",
    ]
    if metrics["epoch_history"]:
        lines += ["", "| epoch | eval loss | eval perplexity |", "|---|---|---|"]
        for h in metrics["epoch_history"]:
            import math

            lines.append(
                f"| {h.get('epoch', 0):.2f} | {h['eval_loss']:.4f} | {math.exp(min(h['eval_loss'], 50)):.2f} |"
            )
    provenance = {} if config.from_scratch else read_provenance(Path(base_ref))
    if provenance.get("notice"):
        lines += [
            "",
            "## License and use restrictions",
            f"- {provenance['notice']}.",
            f"- Modified: this adapter changes the base's behaviour (LoRA); base changes: "
            f"{provenance.get('modified') or 'none'}. See NOTICE.",
        ]
    lines += [
        "",
        "## Use",
        "```python",
        "from finetune.inference import load_model",
        "",
        'model = load_model("THIS_FOLDER")',
        "print(model.generate(messages))  # messages from finetune.prompts.plain_messages / rag_messages",
        "```",
        "",
    ]
    return "\n".join(lines)
