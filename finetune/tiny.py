"""The ``tiny`` preset's base model, built here: BPE tokenizer, small LlamaConfig model, pre-training.

No Llama weights can be downloaded on the development machines, so the tiny preset makes every step real on CPU:
it trains a byte-level BPE tokenizer on the knowledge base + training conversations, builds a small Llama, and
pre-trains it as a plain language model on the same text (message contents only, no chat template: learning the
chat format is the LoRA step's job). The smoke model tests load is built from it in ``tests/finetune/smoke.py``.
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from finetune.config import TrainConfig, TrainError

Messages = list[dict[str, str]]
PRETRAIN_DONE = "pretrain.json"


def corpus_texts(config: TrainConfig, conversations: Sequence[Messages], turns: str | None = None) -> list[str]:
    """Plain texts for the tokenizer and pre-training: KB articles, then the messages of ``conversations``.

    ``turns`` (default ``config.pretrain_turns``) picks the messages: ``all`` non-system turns, or ``user`` turns
    only (the base then learns the domain's language from the KB and what customers write, and the agent's replies
    are left to LoRA). The tokenizer always reads all turns.
    Only training conversations are passed in, so nothing from validation or test leaks into the base model.
    """
    texts = []
    if config.pretrain_kb:
        from retrieval.documents import LoadError, load_documents

        try:
            documents = load_documents([Path(config.pretrain_kb)])
        except (LoadError, OSError) as exc:
            raise TrainError(f"pretrain_kb {config.pretrain_kb}: {exc}") from exc
        texts += [f"{d.title}\n{d.text}" if d.title else d.text for d in documents]
    for messages in conversations:
        roles = ("user",) if (turns or config.pretrain_turns) == "user" else ("user", "assistant")
        texts.append("\n".join(m["content"] for m in messages if m["role"] in roles))
    return texts


def llama_config(config: TrainConfig, tokenizer: Any) -> Any:
    """The small Llama architecture of the tiny preset."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers,
        num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_kv_heads,
        max_position_embeddings=max(config.max_seq_len, config.pretrain_block_size),  # the context it can serve
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )


def pack_blocks(tokenizer: Any, texts: Sequence[str], block_size: int) -> list[dict[str, list[int]]]:
    """Concatenate ``<bos> text <eos>`` for every text and cut the stream into equal blocks (no padding)."""
    stream: list[int] = []
    for encoded in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        stream += [tokenizer.bos_token_id, *encoded, tokenizer.eos_token_id]
    blocks = []
    for start in range(0, len(stream) - block_size + 1, block_size):
        ids = stream[start : start + block_size]
        blocks.append({"input_ids": ids, "attention_mask": [1] * block_size, "labels": list(ids)})
    return blocks


def build_base(
    config: TrainConfig,
    conversations: Sequence[Messages],
    work: Path,
    trainer_factory: Callable[..., Any],
) -> tuple[Any, Path, dict[str, Any]]:
    """Train the tokenizer, build and pre-train the tiny Llama; reuse them if ``work`` already holds them.

    Args:
        config: the run's config (tiny architecture and pre-training fields).
        conversations: training conversations only.
        work: the run's work folder; the base model goes to ``work/base``, the tokenizer to ``work/tokenizer``.
        trainer_factory: ``train.make_trainer`` (shared Trainer settings: device, precision, progress, resume).

    Returns:
        The tokenizer, the base model folder and the pre-training metrics.
    """
    import torch

    from finetune.tokenizer import load_tokenizer, train_bpe_tokenizer

    base_dir, tok_dir = work / "base", work / "tokenizer"
    done = base_dir / PRETRAIN_DONE
    if done.is_file() and tok_dir.is_dir():
        return load_tokenizer(tok_dir), base_dir, json.loads(done.read_text(encoding="utf-8"))
    tokenizer = train_bpe_tokenizer(corpus_texts(config, conversations, turns="all"), config.vocab_size)
    texts = corpus_texts(config, conversations)
    tokenizer.save_pretrained(str(tok_dir))

    from transformers import LlamaForCausalLM

    torch.manual_seed(config.seed)
    model = LlamaForCausalLM(llama_config(config, tokenizer))
    blocks = pack_blocks(tokenizer, texts, config.pretrain_block_size)
    if not blocks:
        raise TrainError("the pre-training corpus is shorter than one block; lower pretrain_block_size")
    random.Random(config.seed).shuffle(blocks)
    trainer = trainer_factory(
        model,
        tokenizer,
        blocks,
        None,
        work / "pretrain_checkpoints",
        epochs=config.pretrain_epochs,
        max_steps=config.pretrain_max_steps,
        learning_rate=config.pretrain_lr,
        phase="pretrain",
    )
    result = trainer.train(resume_from_checkpoint=last_checkpoint(work / "pretrain_checkpoints"))
    model.save_pretrained(str(base_dir))
    metrics = {
        "params": sum(p.numel() for p in model.parameters()),
        "corpus_texts": len(texts),
        "tokens_per_epoch": len(blocks) * config.pretrain_block_size,
        "steps": result.global_step,
        "train_loss": round(float(result.training_loss), 4),
        "seconds": round(float(result.metrics.get("train_runtime", 0.0)), 1),
    }
    done.write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    shutil.rmtree(work / "pretrain_checkpoints", ignore_errors=True)
    return tokenizer, base_dir, metrics


def last_checkpoint(folder: Path) -> str | None:
    """The newest ``checkpoint-N`` folder in ``folder`` (for resuming), or None."""
    if not folder.is_dir():
        return None
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return str(max(found, key=lambda p: int(p.name.split("-")[-1]))) if found else None
