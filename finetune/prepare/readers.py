"""Readers: Bitext CSV, SGD and ABCD dialogue JSON, and the project's chat JSONL, into one :class:`Conversation`.

The format is told by the file name and content. A file named on the command line that no reader knows is an
error; inside a folder, documentation files and JSON files that hold no dialogues (SGD's schema.json, ABCD's
guidelines) are skipped and listed. Every error names the file, and the line (JSONL) or record (JSON, CSV).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from finetune.prepare.config import PrepareError
from retrieval.jsonl import jsonl_records

ROLES = ("system", "user", "assistant")
# Bitext's tagged entity -> the redactor's placeholder type; cities, countries, amounts, plan names are not PII.
BITEXT_ENTITY_TYPES = {"order_id": "ORDER", "invoice_id": "INVOICE", "person_name": "PERSON"}
ABCD_SCENARIO_TYPES = {
    "customer_name": "PERSON", "email": "EMAIL", "phone": "PHONE", "username": "USERNAME",
    "account_id": "ACCOUNT", "order_id": "ORDER", "full_address": "ADDRESS", "street_address": "ADDRESS",
}  # fmt: skip
_DOC_NAMES = ("readme", "license", "source", "manifest", "tags_upstream", "schema.json")
_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv")
# Where an export of another shape (a help desk's tickets, one row per message) goes: the chat JSONL every reader makes.
CONVERT_HINT = (
    '; convert other exports to chat JSONL, one conversation per line: {"id", "lang", "messages": [{"role": '
    '"user" or "assistant", "content"}]} (docs/finetune-data.md)'
)


@dataclass
class Conversation:
    """One conversation as read, before cleaning. ``hints`` are known PII values, used for redaction only."""

    id: str
    source: str
    messages: list[dict[str, str]]
    origin: str  # where it came from, for messages: "file:line" or "file#record"
    lang: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    hints: list[tuple[str, str]] = field(default_factory=list)


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _open_text(path: Path) -> io.TextIOBase:
    raw: Any = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8", newline="")


def read_all(path: Path) -> str:
    """The whole UTF-8 text of ``path`` (gzipped too, BOM dropped), or a PrepareError naming it."""
    try:
        with _open_text(path) as handle:
            return handle.read().removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise PrepareError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except (OSError, EOFError) as exc:
        raise PrepareError(f"{path}: cannot read: {exc}") from exc


def input_files(paths: Iterable[Path]) -> tuple[list[tuple[Path, bool]], list[dict[str, str]]]:
    """The files to read as (path, found in a folder), folders walked recursively and sorted, and the files
    skipped inside folders (documentation, other formats)."""
    files: list[tuple[Path, bool]] = []
    skipped: list[dict[str, str]] = []
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise PrepareError(f"{path}: no such file or folder")
        if path.is_file():
            files.append((path, False))
            continue
        for found in sorted(p for p in path.rglob("*") if p.is_file()):
            name = found.name.lower()
            if name.startswith(_DOC_NAMES) or _suffix(found) not in _SUFFIXES:
                skipped.append({"file": str(found), "reason": "not a conversation file"})
            else:
                files.append((found, True))
    return files, skipped


def read_file(path: Path, sgd_services: tuple[str, ...] = (), in_folder: bool = False) -> Iterator[Conversation]:
    """The conversations of one file, whatever its format.

    Raises:
        PrepareError: unknown format (unless ``in_folder``, where a JSON file holding no dialogues yields nothing),
            unreadable file, invalid JSON (with the line), or an empty or malformed conversation.
    """
    match _suffix(path):
        case ".jsonl" | ".ndjson":
            yield from read_chat_jsonl(path)
        case ".csv":
            yield from read_bitext_csv(path)
        case ".json":
            text = read_all(path)
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:
                raise PrepareError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg} (column {exc.colno})") from exc
            kind = json_kind(document)
            if kind == "sgd":
                yield from read_sgd(path, document, sgd_services)
            elif kind == "abcd":
                yield from read_abcd(path, document)
            elif not in_folder:
                raise PrepareError(
                    f"{path}: unknown JSON format: expected SGD dialogues (a list of objects with 'dialogue_id' "
                    "and 'turns') or ABCD conversations (objects with 'original' turns)" + CONVERT_HINT
                )
        case _:
            raise PrepareError(
                f"{path}: unknown format: expected chat .jsonl, Bitext .csv or SGD/ABCD .json (optionally .gz)"
                + CONVERT_HINT
            )


def json_kind(document: Any) -> str | None:
    """``sgd``, ``abcd`` or None for a parsed JSON document."""
    if isinstance(document, dict) and document and all(isinstance(v, list) for v in document.values()):
        items = [x for v in document.values() for x in v]  # ABCD's full file: {"train": [...], "dev": [...]}
    elif isinstance(document, list):
        items = document
    else:
        return None
    if not items or not all(isinstance(x, dict) for x in items):
        return None
    if all("dialogue_id" in x and "turns" in x for x in items):
        return "sgd"
    if all("original" in x for x in items):
        return "abcd"
    return None


def _check_messages(messages: Any, where: str) -> list[dict[str, str]]:
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise PrepareError(f"{where}: 'messages' must be a list of objects")
    out = []
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise PrepareError(f"{where}: message role must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise PrepareError(f"{where}: message content must be a string")
        out.append({"role": role, "content": content})
    if not any(m["role"] != "system" and m["content"].strip() for m in out):
        raise PrepareError(f"{where}: empty conversation (no user or assistant turn with text)")
    return out


def read_chat_jsonl(path: Path) -> Iterator[Conversation]:
    """The project's chat JSONL: ``{"id", "lang", "messages": [{"role", "content"}], "source", "meta"}``."""
    try:
        with _open_text(path) as handle:
            for number, record in jsonl_records(handle, path, PrepareError, column=True):
                where = f"{path}:{number}"
                if not isinstance(record, dict):
                    raise PrepareError(f"{where}: expected a JSON object, got {type(record).__name__}")
                if "messages" not in record:
                    raise PrepareError(f"{where}: record has no 'messages'{CONVERT_HINT}")
                meta = record.get("meta") or {}
                if not isinstance(meta, dict):
                    raise PrepareError(f"{where}: 'meta' must be an object")
                lang = record.get("lang")
                yield Conversation(
                    id=str(record.get("id") or f"{path.stem}-{number}"),
                    source=str(record.get("source") or path.name.split(".")[0]),
                    messages=_check_messages(record["messages"], where),
                    origin=where,
                    lang=lang if isinstance(lang, str) else None,
                    meta=meta,
                )
    except UnicodeDecodeError as exc:
        raise PrepareError(f"{path}: not UTF-8 text ({exc.reason})") from exc
    except OSError as exc:
        raise PrepareError(f"{path}: cannot read: {exc}") from exc


def read_bitext_csv(path: Path) -> Iterator[Conversation]:
    """Bitext's customer-support CSV: one instruction/response pair per row (ids match data/conversations)."""
    from retrieval.documents import csv_rows

    reader = csv_rows(read_all(path))
    try:
        yield from _bitext_rows(path, reader)
    except csv.Error as exc:  # a bare-CR file: named by the line the reader stopped at
        raise PrepareError(f"{path}#row{reader.line_num + 1}: invalid CSV: {exc}") from exc


def _bitext_rows(path: Path, reader: csv.DictReader[str]) -> Iterator[Conversation]:
    missing = {"instruction", "response"} - set(reader.fieldnames or [])
    if missing:
        columns = ", ".join(sorted(missing))
        raise PrepareError(f"{path}: unknown CSV format: no column {columns} (Bitext CSV expected){CONVERT_HINT}")
    for row_number, row in enumerate(reader, start=2):  # the numbering scripts/build_conversation_sample.py uses
        where = f"{path}#row{row_number}"
        instruction, response = (row.get("instruction") or "").strip(), (row.get("response") or "").strip()
        if not instruction or not response:
            raise PrepareError(f"{where}: empty conversation (empty instruction or response)")
        entity = BITEXT_ENTITY_TYPES.get(row.get("entity_type") or "")
        hints = [(entity, row["entity_value"].strip())] if entity and (row.get("entity_value") or "").strip() else []
        meta = {"intent": row.get("intent") or None, "category": row.get("category") or None,
                "flags": row.get("tags") or None, "csv_row": row_number}  # fmt: skip
        yield Conversation(
            id=f"bitext-{row_number:05d}",
            source="bitext_cs",
            messages=[{"role": "user", "content": instruction}, {"role": "assistant", "content": response}],
            origin=where,
            lang="en",
            meta={k: v for k, v in meta.items() if v is not None},
            hints=hints,
        )


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def read_sgd(path: Path, dialogues: list[dict[str, Any]], services: tuple[str, ...] = ()) -> Iterator[Conversation]:
    """Schema-Guided Dialogue files: USER/SYSTEM turns; only dialogues using one of ``services`` (empty = all)."""
    split = path.parent.name if path.parent.name in ("train", "dev", "test") else None
    for number, dialogue in enumerate(dialogues):
        where = f"{path}#{number}"
        if services and not set(services) & set(dialogue.get("services") or []):
            continue
        turns = dialogue.get("turns")
        if not isinstance(turns, list) or not turns:
            raise PrepareError(f"{where}: empty conversation (dialogue {dialogue.get('dialogue_id')!r} has no turns)")
        messages, intent = [], None
        for turn in turns:
            if not isinstance(turn, dict) or not isinstance(turn.get("utterance"), str):
                raise PrepareError(f"{where}: every SGD turn needs a 'speaker' and an 'utterance'")
            role = "user" if turn.get("speaker") == "USER" else "assistant"
            messages.append({"role": role, "content": turn["utterance"]})
            for frame in turn.get("frames") or []:
                active = (frame.get("state") or {}).get("active_intent")
                if intent is None and role == "user" and active and active != "NONE":
                    intent = _snake(active)
        dialogue_id = str(dialogue["dialogue_id"])
        yield Conversation(
            id=f"sgd-{dialogue_id}" if split in (None, "train") else f"sgd-{split}-{dialogue_id}",
            source="sgd_banking",
            messages=_check_messages(messages, where),
            origin=where,
            lang="en",
            meta={"services": dialogue.get("services") or [], "split": split, "intent": intent},
        )


def read_abcd(path: Path, document: Any) -> Iterator[Conversation]:
    """ABCD conversations (``original``: [speaker, text] pairs; agent actions dropped); scenario values are hints."""
    items = document if isinstance(document, list) else [x for v in document.values() for x in v]
    for number, convo in enumerate(items):
        where = f"{path}#{number}"
        pairs = convo.get("original")
        if not isinstance(pairs, list) or not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise PrepareError(f"{where}: ABCD 'original' must be a list of [speaker, text] pairs")
        roles = {"customer": "user", "agent": "assistant"}
        messages = [{"role": roles[s], "content": str(t)} for s, t in pairs if s in roles]
        scenario = convo.get("scenario") or {}
        hints = []
        for part in ("personal", "order"):
            for key, value in (scenario.get(part) or {}).items():
                if key in ABCD_SCENARIO_TYPES and isinstance(value, str) and len(value.strip()) >= 3:
                    hints.append((ABCD_SCENARIO_TYPES[key], " ".join(value.split())))
        yield Conversation(
            id=f"abcd-{convo.get('convo_id', number)}",
            source="abcd",
            messages=_check_messages(messages, where),
            origin=where,
            lang="en",
            meta={"intent": scenario.get("subflow"), "flow": scenario.get("flow")},
            hints=hints,
        )
