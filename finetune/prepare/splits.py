"""Dedup (exact + MinHash near-duplicates, with retrieval's code), evaluation-leak filtering and leak-free splits.

Splits are assigned to whole units: conversations that share a group (the source conversation) or are near
duplicates of each other at ``split_jaccard`` (below the drop threshold) form one unit, and a unit lands in one
split, so no near duplicate crosses splits. Units are assigned per (source, language) stratum, in a seeded order,
to the split furthest below its target share.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from finetune.prepare.config import PrepareError
from finetune.prepare.readers import read_all
from retrieval.jsonl import jsonl_records

SPLITS = ("train", "val", "test")


def dedup_items(records: Sequence[dict[str, Any]]) -> list[Any]:
    """One :class:`retrieval.dedup.DedupItem` per conversation: its user and assistant text, its language."""
    from retrieval.dedup import DedupItem

    return [
        DedupItem(id=r["id"], text="\n".join(m["content"] for m in r["messages"] if m["role"] != "system"),
                  lang=r["lang"])
        for r in records
    ]  # fmt: skip


def drop_duplicates(
    records: list[dict[str, Any]], jaccard: float, num_perm: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Drop exact and near-duplicate conversations (retrieval.dedup.find_duplicates); keep each cluster's
    representative (the longest, then the smallest id). Returns the kept records and a summary."""
    from retrieval.dedup import find_duplicates

    report = find_duplicates(dedup_items(records), jaccard_threshold=jaccard, num_perm=num_perm)
    kinds: dict[str, int] = defaultdict(int)
    for pair in report.pairs:
        kinds[pair.kind] += 1
    kept = [r for r in records if r["id"] not in report.dropped]
    summary = {
        "threshold": jaccard,
        "dropped": len(report.dropped),
        "clusters": len(report.clusters),
        "pairs": dict(kinds),
        "examples": report.clusters[:10],
    }
    return kept, summary


def load_eval_texts(paths: Iterable[Path]) -> list[tuple[str, str | None]]:
    """(text, lang) of every question/query/text in evaluation JSONL files (to keep them out of training)."""
    texts = []
    for path in paths:
        if not Path(path).is_file():
            raise PrepareError(f"{path}: evaluation file not found")
        for _number, record in jsonl_records(read_all(Path(path)).splitlines(), path, PrepareError):
            for key in ("question", "query", "text", "prompt"):
                if isinstance(record, dict) and isinstance(record.get(key), str) and record[key].strip():
                    texts.append((record[key], record.get("lang")))
    return texts


def read_qa_rows(paths: Iterable[Path]) -> list[dict[str, Any]]:
    """The records of QA JSONL files (``id``, ``lang``, ``question``, ``reference``, ``gold_ids``, ``split``)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        if not Path(path).is_file():
            raise PrepareError(f"{path}: QA file not found")
        for number, row in jsonl_records(read_all(Path(path)).splitlines(), path, PrepareError):
            if not isinstance(row, dict):
                raise PrepareError(f"{path}:{number}: expected a JSON object, got {type(row).__name__}")
            missing = [k for k in ("id", "question", "reference", "split") if not isinstance(row.get(k), str)]
            if missing:
                raise PrepareError(f"{path}:{number}: missing {', '.join(missing)}")
            rows.append(row)
    return rows


def leaking_ids(
    questions: Sequence[tuple[str, str, str | None]],
    eval_texts: Sequence[tuple[str, str | None]],
    jaccard: float,
    num_perm: int,
) -> set[str]:
    """Owners of ``questions`` ((owner id, text, lang)) that duplicate an evaluation text (exact or near)."""
    from retrieval.dedup import DedupItem, find_duplicates

    if not questions or not eval_texts:
        return set()
    items = [DedupItem(id=f"eval\t{i}", text=t, lang=lang) for i, (t, lang) in enumerate(eval_texts)]
    owners: dict[str, str] = {}
    for i, (owner, text, lang) in enumerate(questions):
        owners[f"q\t{i}"] = owner
        items.append(DedupItem(id=f"q\t{i}", text=text, lang=lang))
    report = find_duplicates(items, jaccard_threshold=jaccard, num_perm=num_perm)
    leaks: set[str] = set()
    for pair in report.pairs:
        ids = {pair.a, pair.b}
        if any(i.startswith("eval\t") for i in ids):
            leaks.update(owners[i] for i in ids if i in owners)
    return leaks


def _stable(seed: int, key: str) -> str:
    return hashlib.sha256(f"{seed}\t{key}".encode()).hexdigest()


def assign_splits(
    records: Sequence[dict[str, Any]],
    fractions: tuple[float, float, float],
    seed: int,
    jaccard: float,
    num_perm: int,
) -> tuple[dict[str, str], dict[str, Any]]:
    """Map each record id to train/val/test, keeping groups and near-duplicate clusters whole.

    Returns the assignment and a summary (units, near-duplicate clusters that had to stay together).
    """
    from retrieval.dedup import find_duplicates

    parent = list(range(len(records)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    position = {r["id"]: i for i, r in enumerate(records)}
    by_group: dict[str, int] = {}
    for i, record in enumerate(records):
        group = str(record["meta"].get("group") or record["id"])
        if group in by_group:
            parent[root(i)] = root(by_group[group])
        else:
            by_group[group] = i
    report = find_duplicates(dedup_items(records), jaccard_threshold=jaccard, num_perm=num_perm)
    for pair in report.pairs:
        parent[root(position[pair.a])] = root(position[pair.b])

    units: dict[int, list[int]] = defaultdict(list)
    for i in range(len(records)):
        units[root(i)].append(i)
    strata: dict[tuple[str, str], list[list[int]]] = defaultdict(list)
    for members in units.values():
        first = records[members[0]]
        strata[(first["source"], first["lang"])].append(members)

    assignment: dict[str, str] = {}
    for stratum in sorted(strata):
        ordered = sorted(strata[stratum], key=lambda m: _stable(seed, records[m[0]]["id"]))
        sizes = dict.fromkeys(SPLITS, 0)
        for members in ordered:
            total = sum(sizes.values()) + len(members)
            deficit = {s: f * total - sizes[s] for s, f in zip(SPLITS, fractions, strict=True)}
            split = max(SPLITS, key=lambda s: (deficit[s], -SPLITS.index(s)))
            sizes[split] += len(members)
            for i in members:
                assignment[records[i]["id"]] = split
    summary = {
        "units": len(units),
        "multi_member_units": sum(1 for m in units.values() if len(m) > 1),
        "near_duplicate_pairs_kept_together": len(report.pairs),
        "threshold": jaccard,
    }
    return assignment, summary
