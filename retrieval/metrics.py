"""Retrieval metrics over article ids: Recall@k, MRR and nDCG@10, overall, per language and cross-lingual.

A query's gold ids name articles in the query's language. Cross-lingual evaluation (the index holds only the
other language) maps each gold id through ``translation_of`` before scoring.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from retrieval.conversation import USER_ROLES
from retrieval.jsonl import jsonl_records

KS = (1, 5, 10)


class QueryFileError(ValueError):
    """A queries file that cannot be used, naming the file, line and reason."""


def load_queries(path: Path, split: str | None = None, *, scored: bool = False) -> list[dict[str, Any]]:
    """Read ``{id, query|text, gold_ids, lang?, split?, turns|history?}`` lines; keep one ``split`` when given.

    ``scored``: the queries are to be scored, so each must have a non-empty ``gold_ids`` list of ids and a language
    (``lang``, en or es, else detected from the query as ingest detects an article's).

    Raises:
        QueryFileError: a missing or unreadable file, or a line that breaks the rules; the message names the file
            and line.
    """
    if path.is_dir():
        raise QueryFileError(f"{path}: a folder, not a JSONL file of queries")
    if not path.is_file():
        raise QueryFileError(f"{path}: no such file")
    queries = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise QueryFileError(f"{path}: not valid UTF-8") from exc
    for number, record in jsonl_records(lines, path, QueryFileError):
        if not isinstance(record, dict):
            raise QueryFileError(f"{path}:{number}: each line must be a JSON object")
        text = record.get("query", record.get("text"))
        turns = record.get("turns", record.get("history"))
        if text is None and isinstance(turns, list):  # a conversation alone: its last customer turn is the query
            said = [t for t in turns if isinstance(t, dict) and str(t.get("role", "")).lower() in USER_ROLES]
            text = str(said[-1].get("text", said[-1].get("content", ""))) if said else None
        if not isinstance(text, str) or "id" not in record:
            raise QueryFileError(f"{path}:{number}: needs 'id' and 'query' (or 'text', or customer 'turns')")
        if scored:
            record = {**record, "lang": _scored_lang(record, text, f"{path}:{number}")}
        if split is None or record.get("split") == split:
            queries.append({**record, "query": text})
    return queries


def _scored_lang(record: dict[str, Any], text: str, where: str) -> str:
    """The language of a query to be scored, after checking its gold ids (see :func:`load_queries`)."""
    from retrieval.language import detect_language

    gold, lang = record.get("gold_ids"), record.get("lang")
    if not isinstance(gold, list) or not gold or not all(isinstance(g, str) and g for g in gold):
        raise QueryFileError(f'{where}: "gold_ids" must be a non-empty list of article ids, like ["refund-policy-en"]')
    if lang is None:
        lang = detect_language(text)
        if lang is None:
            raise QueryFileError(f'{where}: cannot tell the language of the query: add "lang": "en" or "es"')
    elif lang not in ("en", "es"):
        raise QueryFileError(f'{where}: "lang" must be "en" or "es", got {lang!r}')
    return str(lang)


def recall_at(ranked: Sequence[str], gold: set[str], k: int) -> float:
    """Share of gold ids found in the first ``k`` results."""
    return len(gold & set(ranked[:k])) / len(gold) if gold else 0.0


def reciprocal_rank(ranked: Sequence[str], gold: set[str]) -> float:
    """1 / rank of the first gold id (0 when none is found)."""
    return next((1.0 / rank for rank, doc in enumerate(ranked, start=1) if doc in gold), 0.0)


def ndcg_at(ranked: Sequence[str], gold: set[str], k: int = 10) -> float:
    """Binary-relevance nDCG@k."""
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranked[:k], start=1) if doc in gold)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(gold), k) + 1))
    return dcg / ideal if ideal else 0.0


def score(ranked: Sequence[str], gold: set[str]) -> dict[str, float]:
    """Every metric for one query."""
    values = {f"recall@{k}": recall_at(ranked, gold, k) for k in KS}
    values["mrr"] = reciprocal_rank(ranked, gold)
    values["ndcg@10"] = ndcg_at(ranked, gold, 10)
    return values


def aggregate(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean of each metric, with the query count."""
    if not rows:
        return {"queries": 0}
    keys = rows[0].keys()
    return {"queries": len(rows), **{key: round(sum(r[key] for r in rows) / len(rows), 4) for key in keys}}


def evaluate(
    queries: list[dict[str, Any]],
    search: Callable[[list[str]], list[list[str]]],
    translation_of: dict[str, str] | None = None,
    indexed_langs: set[str] | None = None,
) -> dict[str, Any]:
    """Score ``search`` (queries -> ranked doc ids) overall, per language and cross-lingual.

    When ``indexed_langs`` lacks a query's language, its gold ids are mapped to their translations
    (``translation_of``) and the query counts as cross-lingual.
    """
    ranked_lists = search([q["query"] for q in queries])
    groups: dict[str, list[dict[str, float]]] = {"overall": []}
    per_query = []
    for query, ranked in zip(queries, ranked_lists, strict=True):
        lang = query.get("lang", "unknown")
        gold = set(query.get("gold_ids", []))
        cross = indexed_langs is not None and lang not in indexed_langs
        if cross and translation_of:
            gold = {translation_of.get(g, g) for g in gold}
        values = score(ranked, gold)
        groups["overall"].append(values)
        groups.setdefault(lang, []).append(values)
        if cross:
            groups.setdefault(f"{lang}->{'+'.join(sorted(indexed_langs or []))}", []).append(values)
        per_query.append({"id": query["id"], "lang": lang, "ranked": list(ranked[:10]), **values})
    return {"metrics": {name: aggregate(rows) for name, rows in groups.items()}, "queries": per_query}
