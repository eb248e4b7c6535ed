"""Chat examples for training and prompts for inference, rendered through the SAME chat template.

Training tokenizes the whole rendered conversation once and labels only the characters the template produced for
assistant turns (their content and end-of-turn token); everything else gets label -100. Inference renders the
conversation so far with the generation prompt and tokenizes it the same way, so the prompt a model sees at
inference is token for token the prefix it was trained on (``tests/finetune/test_train.py`` checks this).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from finetune.config import TrainError
from finetune.prompts import SYSTEM_PROMPTS, company_problem, system_prompt

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant")

Messages = list[dict[str, str]]


def render(tokenizer: Any, messages: Sequence[Mapping[str, str]], *, add_generation_prompt: bool) -> str:
    """The conversation as text, through the tokenizer's chat template."""
    return str(
        tokenizer.apply_chat_template(
            [dict(m) for m in messages], tokenize=False, add_generation_prompt=add_generation_prompt
        )
    )


def prompt_ids(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    """Token ids of the inference prompt: the conversation so far plus the assistant generation prompt."""
    text = render(tokenizer, messages, add_generation_prompt=True)
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def assistant_spans(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans the template produced for each assistant turn.

    A span starts where the generation prompt of that turn ends and stops where the turn (end token included)
    ends, so exactly what the model must generate at inference is supervised.
    """
    text = render(tokenizer, messages, add_generation_prompt=False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before = render(tokenizer, messages[:i], add_generation_prompt=True)
        through = render(tokenizer, messages[: i + 1], add_generation_prompt=False)
        if not (text.startswith(before) and text.startswith(through)):
            raise TrainError("the chat template does not render conversations prefix by prefix; cannot mask labels")
        spans.append((len(before), len(through)))
    return text, spans


def encode_conversation(tokenizer: Any, messages: Sequence[Mapping[str, str]], max_len: int) -> dict[str, list[int]]:
    """Tokenize one conversation for supervised fine-tuning, with loss on assistant tokens only.

    Args:
        tokenizer: a fast tokenizer with a chat template.
        messages: system/user/assistant turns.
        max_len: longest sequence kept (cut on the right).

    Returns:
        ``input_ids``, ``attention_mask`` and ``labels`` (-100 outside assistant turns); ``labels`` is all -100
        when truncation removed every assistant token.
    """
    text, spans = assistant_spans(tokenizer, messages)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids: list[int] = list(encoded["input_ids"])
    labels = [IGNORE_INDEX] * len(ids)
    for k, (start, _end) in enumerate(encoded["offset_mapping"]):
        if any(a <= start < b for a, b in spans):
            labels[k] = ids[k]
    if len(ids) > max_len:
        starts = [k for k in range(1, len(ids)) if labels[k] != IGNORE_INDEX and labels[k - 1] == IGNORE_INDEX]
        last_answer = starts[-1] if starts else 0
        if last_answer >= max_len // 2 and last_answer - (len(ids) - max_len) >= head_tokens(max_len):
            # A long prompt (RAG passages) before the last answer: cut its middle, as inference does.
            keep = middle_cut(len(ids), max_len)
            ids, labels = [ids[k] for k in keep], [labels[k] for k in keep]
        ids, labels = ids[:max_len], labels[:max_len]  # otherwise: keep the start, cut the end
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}


def head_tokens(limit: int) -> int:
    """Tokens kept from the start of a too-long sequence (system prompt and first passage)."""
    return limit // 4


def middle_cut(length: int, limit: int) -> list[int]:
    """Indices kept when a sequence of ``length`` tokens must fit ``limit``: its head and its tail."""
    if length <= limit:
        return list(range(length))
    head = head_tokens(limit)
    return list(range(head)) + list(range(length - (limit - head), length))


def collate(batch: Sequence[Mapping[str, list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-pad a batch: pad id for inputs, 0 for the mask, -100 for labels."""
    import torch

    width = max(len(example["input_ids"]) for example in batch)
    out: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    for example in batch:
        gap = width - len(example["input_ids"])
        out["input_ids"].append(list(example["input_ids"]) + [pad_id] * gap)
        out["attention_mask"].append(list(example["attention_mask"]) + [0] * gap)
        out["labels"].append(list(example["labels"]) + [IGNORE_INDEX] * gap)
    return {key: torch.tensor(value, dtype=torch.long) for key, value in out.items()}


def normalize_system_prompt(messages: Messages, lang: str, company: str | None = None) -> Messages:
    """Use finetune.prompts' system prompt naming ``company`` (the one inference sends) unless the example carries
    it already (a RAG prompt: it, then the passages)."""
    system = system_prompt(lang, company)
    if messages and messages[0]["role"] == "system":
        if messages[0]["content"].startswith(system):
            return messages
        return [{"role": "system", "content": system}, *messages[1:]]
    return [{"role": "system", "content": system}, *messages]


def _check_messages(record: Any, where: str) -> Messages:
    if not isinstance(record, dict) or not isinstance(record.get("messages"), list):
        raise TrainError(f"{where}: expected an object with a 'messages' list")
    messages: Messages = []
    for j, message in enumerate(record["messages"]):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise TrainError(f"{where}: message {j} needs a role among {', '.join(ROLES)}")
        content = message.get("content")
        if not isinstance(content, str) or not content.strip():
            raise TrainError(f"{where}: message {j} ({message['role']}) has empty or non-text content")
        messages.append({"role": message["role"], "content": content})
    roles = {m["role"] for m in messages}
    if "user" not in roles or "assistant" not in roles:
        raise TrainError(f"{where}: a conversation needs at least one user and one assistant message")
    return messages


def read_chat_jsonl(
    path: Path, *, normalize_system: bool = True, company: str | None = None
) -> list[tuple[str, Messages]]:
    """Read chat JSONL (``{"lang", "messages": [...]}`` per line) as ``(lang, messages)`` pairs, system turns
    normalized to name ``company`` (default: the demo store's) unless ``normalize_system`` is False.

    Raises:
        TrainError: unreadable file, invalid JSON or an invalid conversation, naming the file and line.
    """
    examples = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise TrainError(f"{path}: cannot read: {exc}") from exc
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainError(f"{where}: invalid JSON: {exc.msg}") from exc
        messages = _check_messages(record, where)
        lang = record.get("lang") if record.get("lang") in SYSTEM_PROMPTS else "en"
        examples.append((lang, normalize_system_prompt(messages, lang, company) if normalize_system else messages))
    return examples


def load_split(
    data_dir: Path, split: str, *, use_raft: bool, normalize_system: bool = True, company: str | None = None
) -> list[tuple[str, Messages]]:
    """``(lang, messages)`` for one split (``train`` or ``val``): ``<split>.jsonl`` plus ``raft_<split>.jsonl``.

    Raises:
        TrainError: the data folder or its ``<split>.jsonl`` is missing, empty or invalid.
    """
    if not data_dir.is_dir():
        raise TrainError(f"--data {data_dir}: no such folder (expected the output of `supportbot data prepare`)")
    main = data_dir / f"{split}.jsonl"
    if not main.is_file():
        raise TrainError(
            f"--data {data_dir}: {main.name} is missing (expected the output of `supportbot data prepare`)"
        )
    files = [main] + ([data_dir / f"raft_{split}.jsonl"] if use_raft else [])
    conversations = [
        c for f in files if f.is_file() for c in read_chat_jsonl(f, normalize_system=normalize_system, company=company)
    ]
    if not conversations:
        raise TrainError(f"--data {data_dir}: {main.name} holds no conversations")
    return conversations


def _prepared_config(data_dir: Path) -> dict[str, Any]:
    """The settings a `data prepare` output was made with (its manifest's ``config``); {} for older outputs and
    hand-written folders."""
    try:
        manifest = json.loads((data_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return {}
    config = manifest.get("config") if isinstance(manifest, dict) else None
    return config if isinstance(config, dict) else {}


def data_company(data_dir: Path) -> str | None:
    """The company a `data prepare` output was prepared for (its manifest's ``config.company``), or None (the demo
    store's: older outputs and hand-written folders)."""
    company = _prepared_config(data_dir).get("company")
    return company if isinstance(company, str) and company_problem(company) is None else None


def data_drafts(data_dir: Path) -> bool:
    """Whether a `data prepare` output's RAFT prompts show the extractive draft (``--raft-draft``)."""
    return _prepared_config(data_dir).get("raft_draft") is True
