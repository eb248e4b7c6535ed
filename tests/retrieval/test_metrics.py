"""Retrieval metrics on small rankings with known values."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from retrieval.metrics import QueryFileError, evaluate, load_queries, ndcg_at, recall_at, reciprocal_rank


def test_recall_mrr_ndcg_known_values() -> None:
    ranked = ["a", "b", "c", "d"]
    assert recall_at(ranked, {"c"}, 1) == 0.0 and recall_at(ranked, {"c"}, 5) == 1.0
    assert recall_at(ranked, {"a", "z"}, 5) == 0.5
    assert reciprocal_rank(ranked, {"c"}) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, {"z"}) == 0.0
    assert ndcg_at(ranked, {"a"}) == 1.0
    assert ndcg_at(ranked, {"b"}) == pytest.approx(1 / math.log2(3))
    assert ndcg_at(ranked, {"z"}) == 0.0


def test_evaluate_groups_by_language_and_maps_cross_lingual_gold() -> None:
    queries = [
        {"id": "1", "lang": "en", "query": "q1", "gold_ids": ["x-en"]},
        {"id": "2", "lang": "es", "query": "q2", "gold_ids": ["x-es"]},
    ]
    result = evaluate(queries, lambda texts: [["x-en"], ["y-en", "x-en"]], {"x-es": "x-en"}, {"en"})
    metrics = result["metrics"]
    assert metrics["en"]["mrr"] == 1.0 and metrics["es"]["mrr"] == 0.5
    assert metrics["es->en"]["recall@5"] == 1.0 and metrics["overall"]["queries"] == 2


def test_query_files_errors_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": 1, "query": "ok", "split": "dev"}\n{"id": 2}\n')
    with pytest.raises(QueryFileError, match=r"q\.jsonl:2: needs 'id' and 'query'"):
        load_queries(path)
    path.write_text('{"id": 1, "query": "ok", "split": "dev"}\n{"id": 2, "text": "t", "split": "test"}\n')
    assert [q["query"] for q in load_queries(path, "test")] == ["t"]
    with pytest.raises(QueryFileError, match="no such file"):
        load_queries(tmp_path / "none.jsonl")
    # `kb search --batch DIR` / `eval retrieval --queries DIR` said "DIR: no such file" of a folder that exists
    with pytest.raises(QueryFileError, match=r": a folder, not a JSONL file of queries$"):
        load_queries(tmp_path)


def test_query_file_saved_with_a_byte_order_mark_loads(tmp_path: Path) -> None:
    # Notepad and Excel save UTF-8 with a BOM: `kb ingest` read such a file, `kb search --batch` and `eval retrieval`
    # stopped at line 1 with "invalid JSON: Unexpected UTF-8 BOM (decode using utf-8-sig)"
    path = tmp_path / "q.jsonl"
    path.write_text('\ufeff{"id": 1, "query": "reembolso", "split": "dev"}\n{"id": 2, "query": "envío"}\n', "utf-8")
    assert [(q["id"], q["query"]) for q in load_queries(path)] == [(1, "reembolso"), (2, "envío")]
