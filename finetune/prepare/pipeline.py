"""``data prepare``: read -> clean -> drop eval leaks -> dedup -> redact -> split -> RAFT -> write, atomically.

Everything is computed before the first byte is written; the output is written into a temp folder beside
``out`` and renamed into place at the end (``finetune.output``), so a failure or an interrupt leaves ``out`` as it
was (absent, or the previous run). A non-empty ``out`` that holds anything but an earlier run's files (its
``manifest.json`` lists every one) is replaced only with ``overwrite``.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from finetune.output import building, check_output
from finetune.prepare.cleaning import clean_text, shape_conversation
from finetune.prepare.config import PrepareConfig, Prepared, PrepareError
from finetune.prepare.readers import Conversation, input_files, read_file
from finetune.prepare.redaction import Redaction, card_example, pseudonymous_ids, published_contacts
from finetune.prepare.splits import SPLITS, assign_splits, drop_duplicates, leaking_ids, load_eval_texts

Progress = Callable[[str, int, int], None]
# the opened index -> (question, passages, lang) -> the extractive answer over the passages (``raft_draft``): the
# graph's extractive generator, passed in by the CLI (finetune does not import graph)
DrafterFactory = Callable[[Any], Callable[[str, Sequence[dict[str, Any]], str], str]]


def _silent(stage: str, done: int, total: int) -> None:
    return None


def read_inputs(
    paths: Sequence[Path], config: PrepareConfig
) -> tuple[list[Conversation], list[dict[str, Any]], list[dict[str, str]]]:
    """Every conversation of every input (ids made unique), per-file counts, and the files skipped in folders."""
    files, skipped = input_files(paths)
    conversations: list[Conversation] = []
    per_file = []
    for path, in_folder in files:
        before = len(conversations)
        conversations.extend(read_file(path, config.sgd_services, in_folder))
        per_file.append({"file": str(path), "conversations": len(conversations) - before})
    if not conversations:
        raise PrepareError(f"no conversations found in {', '.join(str(p) for p in paths)}")
    seen: Counter[str] = Counter()
    hints: dict[str, list[tuple[str, str]]] = {}
    for conversation in conversations:  # the same id twice (a sample and its full dataset): keep both, renamed
        hints.setdefault(conversation.id, []).extend(h for h in conversation.hints if h not in hints[conversation.id])
        seen[conversation.id] += 1
        if seen[conversation.id] > 1:
            conversation.meta.setdefault("group", conversation.id)
            conversation.id = f"{conversation.id}~{seen[conversation.id]}"
    for conversation in conversations:  # one source conversation: every copy knows its tagged PII
        conversation.hints = hints[str(conversation.meta.get("group") or conversation.id)]
    return conversations, per_file, skipped


def _conversation_lang(conversation: Conversation, turns: list[dict[str, str]]) -> str | None:
    from retrieval.language import detect_language, language_tag

    if conversation.lang is not None and conversation.lang.strip():  # "es-ES", "en_US" as help desks export them
        return language_tag(conversation.lang)
    return detect_language(" ".join(t["content"] for t in turns if t["role"] == "user"), default="en")


def _changed(conversation: Conversation, turns: list[dict[str, str]]) -> bool:
    raw = [m["content"] for m in conversation.messages if m["role"] != "system"]
    return raw != [t["content"] for t in turns] or any("{{" in t["content"] for t in turns)


def open_index(
    index: Path | str | None,
    kb_paths: Sequence[Path],
    *,
    search_backend: str = "faiss",
    es_url: str | None = None,
    cache_dir: Path | None = None,
    progress: Progress = _silent,
    rebuild: bool = False,
) -> Any:
    """Open the knowledge base for RAFT retrieval; a FAISS folder without a live index is built from ``kb_paths``.

    With ``rebuild`` (the command's own index, ``<home>/prepare-index``) a live FAISS index that holds other
    articles than ``kb_paths`` (another ``--kb`` than the run that built it, or edited articles) is rebuilt from
    them, so its passages are those of the articles the questions are made from.
    """
    from retrieval.backends import ingest_knowledge_base, open_knowledge_base
    from retrieval.store import live_version

    if index is None:
        raise PrepareError("RAFT examples need a knowledge-base index (--index) or articles to build one (--kb)")
    if search_backend == "faiss" and live_version(Path(index)) is None:
        if not kb_paths:
            raise PrepareError(f"{index}: no index there, and no knowledge-base articles (--kb) to build it from")
        ingest_knowledge_base("faiss", kb_paths, index, cache_dir=cache_dir, progress=progress)
    elif search_backend == "faiss" and rebuild and kb_paths and _holds_other_articles(Path(index), kb_paths):
        ingest_knowledge_base("faiss", kb_paths, index, replace=True, cache_dir=cache_dir, progress=progress)
    return open_knowledge_base(search_backend, index, es_url=es_url, cache_dir=cache_dir)


def _holds_other_articles(index: Path, kb_paths: Sequence[Path]) -> bool:
    from retrieval.documents import load_documents
    from retrieval.store import read_version

    stored = read_version(index, with_search=False).documents
    return {d.id: d.content_hash for d in load_documents(kb_paths)} != {k: d.content_hash for k, d in stored.items()}


def kb_documents(kb_paths: Sequence[Path], index: Path | str | None, search_backend: str = "faiss") -> list[Any]:
    """The articles KB-made RAFT questions and held-out articles come from: those of ``kb_paths``, else every
    article stored in the live FAISS ``index`` (an operator's own index named without ``--kb``), else none."""
    from retrieval.documents import load_documents
    from retrieval.store import live_version, read_version

    if kb_paths:
        return load_documents(kb_paths)
    if search_backend == "faiss" and index is not None and live_version(Path(index)) is not None:
        return list(read_version(Path(index), with_search=False).documents.values())
    return []


def prepare(
    inputs: Sequence[Path],
    out: Path,
    config: PrepareConfig | None = None,
    *,
    models_dir: Path,
    index: Path | str | None = None,
    kb_paths: Sequence[Path] = (),
    search_backend: str = "faiss",
    es_url: str | None = None,
    cache_dir: Path | None = None,
    progress: Progress = _silent,
    overwrite: bool = False,
    rebuild_index: bool = False,
    drafter: DrafterFactory | None = None,
) -> dict[str, Any]:
    """Prepare fine-tuning data from ``inputs`` into ``out`` (see the module docstring and docs/finetune-data.md).

    Args:
        inputs: files or folders (Bitext CSV, SGD/ABCD JSON, chat JSONL; optionally gzipped).
        out: the output folder (replaced atomically).
        config: the preparation settings.
        models_dir: where the redactor's blank spaCy pipelines live.
        index: the knowledge-base index for RAFT retrieval (built from ``kb_paths`` when absent).
        kb_paths: knowledge-base articles, for building the index, for KB-made RAFT questions and held-out
            articles; empty: those come from the articles stored in the live FAISS ``index``.
        search_backend: ``faiss`` or ``elasticsearch``.
        es_url: the Elasticsearch URL.
        cache_dir: the data home (embedder caches).
        progress: called as (stage, done, total).
        overwrite: replace a non-empty ``out`` that is not an earlier run's output.
        rebuild_index: ``index`` is the command's own (``<home>/prepare-index``): rebuilt from ``kb_paths`` when
            it holds other articles.
        drafter: makes, from the opened index, the extractive answer over a RAFT example's passages (needed with
            ``config.raft_draft``; the CLI passes :func:`graph.generators.extractive.drafter`).

    Returns:
        A JSON-ready summary (also in ``out/manifest.json``).

    Raises:
        PrepareError: bad input (the message names the file and line) or settings.
        OutputError: ``out`` is a file, cannot be written, holds an input, or holds other files and ``overwrite``
            is off.
    """
    from finetune.pii import shared_redactor
    from finetune.prepare.card import write_card

    config = config or PrepareConfig()
    if config.raft and config.raft_draft and drafter is None:
        raise PrepareError("raft_draft needs a drafter (the extractive generator; `supportbot data prepare` passes it)")
    started = time.perf_counter()
    clock = _Clock(started)
    lap = clock.lap

    out = Path(out)
    local_index = [Path(index)] if index and search_backend == "faiss" else []  # else the name of an ES index
    sources = [*inputs, *kb_paths, *config.eval_files, *config.raft_questions, *local_index]
    check_output(out, overwrite=overwrite, earlier=is_prepared, command="data prepare", inputs=sources)
    eval_texts = load_eval_texts(config.eval_files)
    conversations, per_file, skipped_files = read_inputs(inputs, config)
    read_counts = Counter(c.source for c in conversations)
    lap("read")
    redactor = shared_redactor(Path(models_dir))
    lap("redactor_load")
    pseudonymous_ids(conversations, redactor)  # before any step writes or reports an id
    turn_counts: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    shaped = _shape(conversations, config, turn_counts, dropped, progress)
    lap("clean")
    documents = kb_documents(kb_paths, index, search_backend)  # read once: hold-outs, public contacts, RAFT
    hidden = hidden_articles(documents, config.holdout_articles)
    shaped = _drop_leaks_and_holdouts(shaped, eval_texts, hidden, config, dropped)
    lap("eval_leaks")
    # Dedup on the cleaned text, before paying for redaction of conversations that would be dropped.
    shaped, duplicates = _drop_duplicates(shaped, config, dropped)
    lap("dedup")
    published = published_contacts(documents, redactor)
    redaction = Redaction(redactor, config.store(), published)
    records, examples = _redact(shaped, redaction, config, progress)
    lap("redact")

    splits, split_summary = _split(records, config)
    lap("split")

    raft_examples: list[dict[str, Any]] = []
    raft_summary: dict[str, Any] = {"enabled": config.raft}
    if config.raft:
        raft_examples, raft_summary = _raft(records, splits, eval_texts, config, hidden, documents, index, kb_paths,
                                            search_backend, es_url, cache_dir, progress, rebuild_index,
                                            drafter)  # fmt: skip
        lap("raft")

    summary = {
        "out": str(out),
        "inputs": [str(p) for p in inputs],
        "files": per_file,
        "skipped_files": skipped_files,
        "read": dict(sorted(read_counts.items())),
        "conversations": len(records),
        "splits": {s: sum(1 for r in records if splits[r["id"]] == s) for s in SPLITS},
        "raft": {s: sum(1 for e in raft_examples if e["split"] == s) for s in SPLITS},
        "dropped": dict(sorted(dropped.items())),
        "turns": dict(sorted(turn_counts.items())),
        "pii": dict(sorted(redaction.entities.items())),
        "slots": dict(sorted(redaction.slots.items())),
        "duplicates": duplicates,
        "split_units": split_summary,
        "raft_details": raft_summary,
        "stage_seconds": clock.stages,
    }
    prepared = Prepared(records, splits, raft_examples, summary, examples, config)
    _write_atomically(out, prepared, started, progress, write_card)
    return summary


Shaped = list[tuple[Conversation, list[dict[str, str]], str]]  # conversation, cleaned turns, language


class _Clock:
    """Seconds spent per stage (a stage timed twice adds up)."""

    def __init__(self, started: float) -> None:
        self.stages: dict[str, float] = {}
        self.last = started

    def lap(self, stage: str) -> None:
        """Charge the time since the last lap to ``stage``."""
        now = time.perf_counter()
        self.stages[stage] = round(self.stages.get(stage, 0.0) + now - self.last, 2)
        self.last = now


def _shape(
    conversations: Sequence[Conversation],
    config: PrepareConfig,
    turn_counts: Counter[str],
    dropped: Counter[str],
    progress: Progress,
) -> Shaped:
    """Clean every conversation's turns and decide its language; those left empty or in another language drop."""
    shaped: Shaped = []
    for i, conversation in enumerate(conversations, start=1):
        progress("clean", i, len(conversations))
        turns = shape_conversation(conversation.messages, config, turn_counts, clean_text)
        lang = _conversation_lang(conversation, turns) if turns else None
        if not turns:
            dropped["empty_after_cleaning"] += 1
        elif lang is None:
            dropped["unsupported_language"] += 1
        else:
            shaped.append((conversation, turns, lang))
    return shaped


def _drop_leaks_and_holdouts(
    shaped: Shaped,
    eval_texts: list[tuple[str, str | None]],
    hidden: set[str],
    config: PrepareConfig,
    dropped: Counter[str],
) -> Shaped:
    """Drop conversations whose questions leak an evaluation question, or that are about a held-out article."""
    questions = [(c.id, t["content"], lang) for c, turns, lang in shaped for t in turns if t["role"] == "user"]
    leaks = leaking_ids(questions, eval_texts, config.leak_jaccard, config.minhash_perm)
    dropped["eval_leak"] += len(leaks)
    shaped = [s for s in shaped if s[0].id not in leaks]
    about_hidden = {c.id for c, _, _ in shaped if hidden & set((c.meta or {}).get("gold_ids") or [])}
    dropped["holdout_article"] += len(about_hidden)
    return [s for s in shaped if s[0].id not in about_hidden]


def _drop_duplicates(shaped: Shaped, config: PrepareConfig, dropped: Counter[str]) -> tuple[Shaped, dict[str, Any]]:
    """Near-duplicate conversations (MinHash-Jaccard on the cleaned text) dropped; what was dropped, and why."""
    plain = [{"id": c.id, "lang": lang, "messages": turns} for c, turns, lang in shaped]
    kept_plain, duplicates = drop_duplicates(plain, config.dedup_jaccard, config.minhash_perm)
    kept_ids = {r["id"] for r in kept_plain}
    dropped["duplicates"] += len(shaped) - len(kept_ids)
    return [s for s in shaped if s[0].id in kept_ids], duplicates


def _redact(
    shaped: Shaped, redaction: Redaction, config: PrepareConfig, progress: Progress
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The redacted chat records, and the card's before/after examples (conversations cleaning changed first)."""
    records: list[dict[str, Any]] = []
    examples: list[dict[str, Any]] = []
    for i, (conversation, turns, lang) in enumerate(shaped, start=1):
        progress("redact", i, len(shaped))
        record = redaction.conversation(conversation, turns, lang)
        records.append(record)
        if (
            len(examples) < config.card_examples
            and _changed(conversation, turns)
            and (conversation.source not in {e["source"] for e in examples} or i % 97 == 0)
        ):
            examples.append(card_example(conversation, record, redaction))
    shown = {e["id"] for e in examples}
    for conversation, _, _ in [s for s in shaped if s[0].id not in shown][: config.card_examples - len(examples)]:
        record = next(r for r in records if r["id"] == conversation.id)  # too few cleaning changes to show
        examples.append(card_example(conversation, record, redaction))
    return records, examples


def _split(records: list[dict[str, Any]], config: PrepareConfig) -> tuple[dict[str, str], dict[str, Any]]:
    """Assign each record (its near-duplicate cluster, leak-free) to train, val or test; also in its meta."""
    fractions = (config.train_fraction, config.val_fraction, config.test_fraction)
    splits, summary = assign_splits(records, fractions, config.seed, config.split_jaccard, config.minhash_perm)
    for record in records:
        record["meta"]["split"] = splits[record["id"]]
    return splits, summary


def _raft(
    records: list[dict[str, Any]],
    splits: dict[str, str],
    eval_texts: list[tuple[str, str | None]],
    config: PrepareConfig,
    hidden: set[str],
    documents: Sequence[Any],
    index: Path | str | None,
    kb_paths: Sequence[Path],
    search_backend: str,
    es_url: str | None,
    cache_dir: Path | None,
    progress: Progress,
    rebuild_index: bool = False,
    drafter: DrafterFactory | None = None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    from finetune.prepare.raft import build_examples, questions_from_conversations, questions_from_kb, questions_from_qa
    from finetune.prepare.splits import read_qa_rows

    kb = open_index(index, kb_paths, search_backend=search_backend, es_url=es_url, cache_dir=cache_dir,
                    progress=progress, rebuild=rebuild_index)  # fmt: skip
    fractions = (config.train_fraction, config.val_fraction, config.test_fraction)
    questions = questions_from_conversations(records, splits)
    if config.raft_kb_questions:
        articles = [d for d in documents if d.lang in ("es", "en", None)]
        questions += questions_from_kb(articles, config.raft_kb_questions, fractions, config.seed)
    leaks = leaking_ids([(q.id, q.question, q.lang) for q in questions], eval_texts, config.leak_jaccard,
                        config.minhash_perm)  # fmt: skip
    questions = [q for q in questions if q.id not in leaks]
    qa_rows = read_qa_rows(config.raft_questions)
    qa_questions = questions_from_qa(qa_rows, fractions, config.seed)
    test_texts = [(r["question"], r.get("lang")) for r in qa_rows if r.get("split") == "test"]
    qa_leaks = leaking_ids([(q.id, q.question, q.lang) for q in qa_questions], test_texts, config.leak_jaccard,
                           config.minhash_perm)  # fmt: skip
    questions += [q for q in qa_questions if q.id not in qa_leaks]
    questions = [q for q in questions if q.oracle_doc_id not in hidden]
    draft = drafter(kb) if config.raft_draft and drafter is not None else None
    examples, skipped = build_examples(questions, kb, config, lambda d, t: progress("raft", d, t), frozenset(hidden),
                                       draft)  # fmt: skip
    summary = {
        "enabled": True,
        "index": str(index),
        "k": config.raft_k,
        "oracle_fraction": config.raft_oracle_fraction,
        "no_oracle_answer": config.raft_no_oracle_answer,
        "answer": config.raft_answer,
        "draft": draft is not None,
        "questions": dict(Counter(q.origin for q in questions)),
        "eval_leaks_dropped": len(leaks) + len(qa_leaks),
        "holdout_articles": sorted(hidden),
        "oracle_present": {s: sum(1 for e in examples if e["split"] == s and e["oracle_present"]) for s in SPLITS},
        **skipped,
    }
    return examples, summary


def hidden_articles(documents: Sequence[Any], ids: Sequence[str]) -> set[str]:
    """``ids`` plus their translations (an article and its twin carry the same knowledge); ``documents``: the
    knowledge base's articles (:func:`kb_documents`)."""
    if not ids:
        return set()
    known = {d.id for d in documents}
    missing = sorted(set(ids) - known)
    if missing:
        raise PrepareError(f"holdout article(s) not in the knowledge base: {', '.join(missing)}")
    hidden = set(ids)
    for _ in range(2):  # twins point one way (translation_of); two passes close the pair from either side
        for d in documents:
            if d.id in hidden and d.translation_of:
                hidden.add(d.translation_of)
            if d.translation_of in hidden:
                hidden.add(d.id)
    return hidden


def _jsonl(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def is_prepared(folder: Path) -> bool:
    """Whether ``folder`` holds only files an earlier run wrote (its ``manifest.json`` lists every one)."""
    try:
        listed = set(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["outputs"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return all(str(p.relative_to(folder)) in listed for p in folder.rglob("*") if not p.is_dir() or p.is_symlink())


def _write_atomically(
    out: Path, prepared: Prepared, started: float, progress: Progress, write_card: Callable[[Path, Prepared], None]
) -> None:
    records, splits, summary = prepared.records, prepared.splits, prepared.summary
    with building(out) as work:
        for n, split in enumerate(SPLITS, start=1):
            _jsonl(work / f"{split}.jsonl", [r for r in records if splits[r["id"]] == split])
            _jsonl(work / f"raft_{split}.jsonl", [e for e in prepared.raft_examples if e["split"] == split])
            progress("write", n, len(SPLITS) + 1)
        summary["seconds"] = round(time.perf_counter() - started, 1)
        write_card(work, prepared)
        outputs = [*sorted(str(p.relative_to(work)) for p in work.rglob("*") if p.is_file()), "manifest.json"]
        manifest = {**summary, "config": _config_dict(prepared.config), "outputs": outputs}
        (work / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8")
        progress("write", len(SPLITS) + 1, len(SPLITS) + 1)


def _config_dict(config: PrepareConfig) -> dict[str, Any]:
    from dataclasses import asdict

    return json.loads(json.dumps(asdict(config), default=str))
