"""Byte-level BPE tokenizer trained on the corpus (tiny preset), and the chat template every model uses.

The template lives in the saved tokenizer (``tokenizer_config.json``), so training (``chat_format``) and inference
(``finetune.inference``) both render conversations through ``tokenizer.apply_chat_template`` and cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

BOS, EOS, PAD = "<|bos|>", "<|end|>", "<|pad|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = [PAD, BOS, EOS, *ROLE_TOKENS]

# One turn = role token, newline, content, end token, newline. The generation prompt is the assistant role token
# and its newline, so the model's first generated token is the first content token, as in training.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)

# For a base checkpoint whose tokenizer has no chat template: the same layout in plain text markers, so no new
# (untrained) token embeddings are needed.
FALLBACK_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '### ' + message['role'] + '\n' + message['content'] + eos_token + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '### assistant\n' }}{% endif %}"
)


def train_bpe_tokenizer(texts: Iterable[str], vocab_size: int) -> Any:
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it as a transformers fast tokenizer.

    Args:
        texts: the training corpus (knowledge base and training conversations).
        vocab_size: target vocabulary size, special tokens included.

    Returns:
        A ``PreTrainedTokenizerFast`` with bos/eos/pad set and :data:`CHAT_TEMPLATE` as its chat template.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.BPE())
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=list(ROLE_TOKENS),
        clean_up_tokenization_spaces=False,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def load_tokenizer(path: str | Path) -> Any:
    """Load a saved tokenizer and make sure it can render chats and pad batches."""
    from transformers import AutoTokenizer

    return ensure_chat_ready(AutoTokenizer.from_pretrained(str(path)))


def ensure_chat_ready(tokenizer: Any) -> Any:
    """Give a base checkpoint's tokenizer a chat template and a pad token when it has none."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = FALLBACK_TEMPLATE
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def stop_token_ids(tokenizer: Any) -> list[int]:
    """Token ids that end an assistant turn: eos plus the end-of-turn markers of common templates."""
    ids = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    vocab = tokenizer.get_vocab()
    for marker in (EOS, "<|eot_id|>", "<|im_end|>", "<|end_of_text|>", "<end_of_turn>"):
        if marker in vocab and vocab[marker] not in ids:
            ids.append(vocab[marker])
    return ids
