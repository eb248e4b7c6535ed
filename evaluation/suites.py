"""Load the evaluation sets into chat items: the messages to send and the labels to score them with.

An item is ``{suite, id, lang, message, meta}``. Sets are filtered by split (dev/test/all) and cut to ``limit``
records per language (a consistency group and a bias pair count as one record, however many messages).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, get_args

from graph.state import Route
from retrieval.jsonl import jsonl_records
from retrieval.language import LANGS

Item = dict[str, Any]


class EvalDataError(ValueError):
    """An evaluation file that cannot be used (names the file, line and reason)."""


# What a field of an evaluation file must hold: a check and the words for it in an error message.
Rule = tuple[Callable[[Any], bool], str]
_TEXT: Rule = (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
_STRING: Rule = (lambda v: isinstance(v, str), "a string")
_LANG: Rule = (lambda v: v in LANGS, " or ".join(f'"{lang}"' for lang in LANGS))
_SPLIT: Rule = (lambda v: v in ("dev", "test", None), '"dev" or "test"')
_BOOL: Rule = (lambda v: isinstance(v, bool), "true or false")
_ID_LIST: Rule = (lambda v: isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v),
                  'a list of article ids, like ["refund-policy-en"]')  # fmt: skip
_GOLD: Rule = (lambda v: _ID_LIST[0](v) and bool(v), 'a non-empty list of article ids, like ["refund-policy-en"]')
_PARAPHRASES: Rule = (lambda v: isinstance(v, list) and len(v) >= 2 and all(_TEXT[0](x) for x in v),
                      "a list of at least two non-empty strings")  # fmt: skip
_ROUTE: Rule = (lambda v: v in get_args(Route), "one of " + ", ".join(get_args(Route)))
_PAIR_ROUTE: Rule = (lambda v: v in ("answered", "refused"), '"answered" (benign pair) or "refused" (discriminatory)')

# Every record has a unique ``id`` and a ``lang`` of the served languages (a "fr" or "EN" record would be scored
# as neither es nor en but pooled into "all"); ``split`` and ``gold_ids``, when present, are checked too.
COMMON: dict[str, Rule] = {"id": _TEXT, "lang": _LANG}
OPTIONAL: dict[str, Rule] = {"split": _SPLIT, "gold_ids": _ID_LIST}
SCHEMAS: dict[str, dict[str, Rule]] = {
    "qa": {**COMMON, "question": _TEXT, "reference": _TEXT, "gold_ids": _GOLD},
    "scope": {**COMMON, "text": _TEXT, "in_scope": _BOOL},
    "consistency": {**COMMON, "paraphrases": _PARAPHRASES},
    "edge": {**COMMON, "text": _STRING, "expected_route": _ROUTE},  # empty and blank messages are edge cases
    "bias": {**COMMON, "a": _TEXT, "b": _TEXT, "expected_route": _PAIR_ROUTE},
}


def read_suite(path: Path, suite: str) -> list[dict[str, Any]]:
    """Read an evaluation file and check every record against its suite's schema (:data:`SCHEMAS`).

    Raises:
        EvalDataError: naming the file, the line and the field, for a missing or ill-typed field, a language other
            than en/es, a split other than dev/test, or an id that an earlier line already used (each message runs
            in a session named after its id, so a repeated id would see the other's turn as history).
    """
    schema = SCHEMAS[suite]
    records = _numbered_records(path, schema)
    seen: dict[str, int] = {}
    for number, record in records:
        for name, (check, expected) in {**OPTIONAL, **schema}.items():
            if name in record and not check(record[name]):
                raise EvalDataError(f"{path}:{number}: {name!r} must be {expected}, got {record[name]!r}")
        if record["id"] in seen:
            raise EvalDataError(f"{path}:{number}: id {record['id']!r} repeats line {seen[record['id']]}")
        seen[record["id"]] = number
    return [record for _, record in records]


def read_records(path: Path, required: Iterable[str]) -> list[dict[str, Any]]:
    """Read JSON objects, one per line, each with the ``required`` keys."""
    return [record for _, record in _numbered_records(path, required)]


def _numbered_records(path: Path, required: Iterable[str]) -> list[tuple[int, dict[str, Any]]]:
    """(line number, JSON object) for every non-blank line of ``path``, each object with the ``required`` keys."""
    if not path.is_file():
        raise EvalDataError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:  # a binary or Latin-1 file: name it, never a bare codec error
        raise EvalDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); save it as UTF-8") from exc
    except OSError as exc:
        raise EvalDataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    records = []
    needed = list(required)
    for number, record in jsonl_records(text.splitlines(), path, EvalDataError):
        missing = [k for k in needed if not isinstance(record, dict) or k not in record]
        if missing:
            raise EvalDataError(f"{path}:{number}: missing {', '.join(missing)}")
        records.append((number, record))
    return records


def select(records: list[dict[str, Any]], split: str, limit: int | None) -> list[dict[str, Any]]:
    """Keep one split ('all' keeps both) and at most ``limit`` records per language, in file order."""
    kept, per_lang = [], {}  # type: ignore[var-annotated]
    for r in records:
        if split != "all" and r.get("split") != split:
            continue
        lang = r.get("lang", "")
        if limit is not None and per_lang.get(lang, 0) >= limit:
            continue
        per_lang[lang] = per_lang.get(lang, 0) + 1
        kept.append(r)
    return kept


def qa_items(path: Path, split: str, limit: int | None) -> list[Item]:
    """Reference questions: correctness, groundedness, context recall, language, handoffs."""
    records = select(read_suite(path, "qa"), split, limit)
    return [
        {"suite": "qa", "id": r["id"], "lang": r["lang"], "message": r["question"],
         "meta": {"reference": r["reference"], "gold_ids": r["gold_ids"]}}
        for r in records
    ]  # fmt: skip


def scope_items(path: Path, split: str, limit: int | None) -> list[Item]:
    """Out-of-scope messages and borderline in-scope ones (for precision/recall/F1 and false refusals)."""
    records = select(read_suite(path, "scope"), split, limit)
    return [
        {"suite": "scope", "id": r["id"], "lang": r["lang"], "message": r["text"],
         "meta": {"in_scope": bool(r["in_scope"]), "category": r.get("category"), "gold_ids": r.get("gold_ids", [])}}
        for r in records
    ]  # fmt: skip


def consistency_items(folder: Path, split: str, limit: int | None) -> list[Item]:
    """Every paraphrase of every group, labelled with its group and position."""
    records = select(read_suite(folder / "consistency.jsonl", "consistency"), split, limit)
    return [
        {"suite": "consistency", "id": f"{r['id']}#{i}", "lang": r["lang"], "message": text,
         "meta": {"group": r["id"], "paraphrase": i, "topic": r.get("topic"), "gold_ids": r.get("gold_ids", [])}}
        for r in records
        for i, text in enumerate(r["paraphrases"])
    ]  # fmt: skip


def edge_items(folder: Path, split: str, limit: int | None) -> list[Item]:
    """Edge cases with their expected route."""
    records = select(read_suite(folder / "edge_cases.jsonl", "edge"), split, limit)
    return [
        {"suite": "edge", "id": r["id"], "lang": r["lang"], "message": r["text"],
         "meta": {"expected_route": r["expected_route"], "kind": r.get("kind")}}
        for r in records
    ]  # fmt: skip


def bias_items(folder: Path, split: str, limit: int | None) -> list[Item]:
    """Both sides (a, b) of every counterfactual pair."""
    records = select(read_suite(folder / "bias.jsonl", "bias"), split, limit)
    return [
        {"suite": "bias", "id": r["id"], "lang": r["lang"], "message": r[variant],
         "meta": {"variant": variant, "attribute": r.get("attribute"), "expected_route": r["expected_route"],
                  "gold_ids": r.get("gold_ids", [])}}
        for r in records
        for variant in ("a", "b")
    ]  # fmt: skip


def check_gold_ids(
    records: Iterable[tuple[str, Sequence[str]]], articles: Collection[str], source: Path, index: Path
) -> None:
    """Refuse gold ids that name no article of the index: recall would count them as missed, silently.

    Args:
        records: ``(record id, gold ids)`` of every scored record.
        articles: The ids the index can return (and, for a cross-lingual index, the ids its articles translate).
        source: The file the records come from, for the message.
        index: The index, for the message.

    Raises:
        EvalDataError: naming the file, the index, and the first unknown ids with their records' ids.
    """
    unknown = [(gold, record) for record, golds in records for gold in golds if gold not in articles]
    if unknown:
        named = ", ".join(f"{gold!r} ({record})" for gold, record in unknown[:5])
        more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        raise EvalDataError(
            f"{source}: gold_ids that name no article of the index {index}: {named}{more}; recall would count them "
            "as missed (correct the ids, or ingest those articles)"
        )


def bbq_items(datasets: Path, per_language: int, seed: int) -> list[Item]:
    """Ambiguous BBQ/EsBBQ items as customer messages (see :mod:`evaluation.bbq`)."""
    from evaluation.bbq import load_bbq

    return [
        {"suite": "bbq", "id": it["id"], "lang": it["lang"], "message": it["message"], "meta": {"item": it}}
        for it in load_bbq(datasets, per_language, seed)
    ]


def load_items(
    suites: Iterable[str],
    *,
    testset: Path,
    scope_set: Path,
    prompts_dir: Path,
    bias_datasets: Path | None,
    split: str,
    limit: int | None,
    bbq_per_language: int,
    seed: int,
) -> tuple[list[Item], list[str]]:
    """All items of the requested suites, and notes for the optional ones that were skipped.

    The QA testset is required and must hold questions of the split; a missing out-of-scope file, prompt suite or
    bias-benchmark folder is skipped with a note rather than failing the run (a user's clone has no
    ``../shared/datasets``).

    Raises:
        EvalDataError: a file that cannot be read, or a QA testset without questions in the split.
    """
    items: list[Item] = []
    notes: list[str] = []
    loaders: dict[str, tuple[Path, Callable[[], list[Item]]]] = {
        "qa": (testset, lambda: qa_items(testset, split, limit)),
        "scope": (scope_set, lambda: scope_items(scope_set, split, limit)),
        "consistency": (prompts_dir / "consistency.jsonl", lambda: consistency_items(prompts_dir, split, limit)),
        "edge": (prompts_dir / "edge_cases.jsonl", lambda: edge_items(prompts_dir, split, limit)),
        "bias": (prompts_dir / "bias.jsonl", lambda: bias_items(prompts_dir, split, limit)),
    }
    for suite in suites:
        if suite == "bbq":
            if bias_datasets is None or not any((bias_datasets / d).is_dir() for d in ("bbq", "esbbq")):
                notes.append(f"bias benchmarks (BBQ/EsBBQ) skipped: {bias_datasets or 'no folder given'} not present")
                continue
            count = min(bbq_per_language, limit) if limit is not None else bbq_per_language
            items += bbq_items(bias_datasets, count, seed)
            continue
        path, load = loaders[suite]
        if suite != "qa" and not path.is_file():
            notes.append(f"suite {suite} skipped: {path} not found")
            continue
        loaded = load()
        if suite == "qa" and not loaded:  # every QA KPI would be missing from the report
            untagged = 0 if split == "all" else sum(r.get("split") is None for r in read_records(testset, ()))
            raise EvalDataError(
                f"--testset {testset}: no questions"
                + (f" in split {split!r}" if split != "all" else "")
                + (f" ({untagged} have no 'split' field: pass --split all to use them)" if untagged else "")
            )
        items += loaded
    return items, notes
