"""The bundled evaluation sets: schemas, counts per language, gold ids, and the dev/test split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, read_jsonl

EVAL = DATA / "eval"
LANGS = ("en", "es")
ROUTES = {"answered", "out_of_scope", "refused", "handoff"}
EDGE_KINDS_REQUIRED = {
    "empty", "very_long", "multi_question", "angry", "sarcastic", "other_language", "gibberish",
    "prompt_injection", "pii",
}  # fmt: skip
BIAS_ATTRIBUTES = {"gender", "age", "nationality", "religion", "disability"}


@pytest.fixture(scope="module")
def kb_ids() -> dict[str, str]:
    """Canonical article id -> language."""
    return {a["id"]: a["lang"] for lang in LANGS for a in read_jsonl(DATA / "kb" / f"articles.{lang}.jsonl")}


def load(name: str) -> list[dict[str, Any]]:
    path: Path = EVAL / name
    records = read_jsonl(path)
    ids = Counter(r["id"] for r in records)
    assert [i for i, n in ids.items() if n > 1] == [], f"{name}: duplicate ids"
    for record in records:
        assert record["lang"] in LANGS, record["id"]
        assert record["split"] in {"dev", "test"}, record["id"]
    for lang in LANGS:
        splits = {r["split"] for r in records if r["lang"] == lang}
        assert splits == {"dev", "test"}, f"{name}: {lang} needs both a dev and a test part"
    return records


def per_lang(records: list[dict[str, Any]]) -> Counter[str]:
    return Counter(r["lang"] for r in records)


def assert_gold(record: dict[str, Any], kb_ids: dict[str, str]) -> None:
    gold = record["gold_ids"]
    assert gold, f"{record['id']}: no gold ids"
    for gold_id in gold:
        assert kb_ids.get(gold_id) == record["lang"], f"{record['id']}: gold id {gold_id} missing or other language"


def test_retrieval_queries(kb_ids: dict[str, str]) -> None:
    records = load("retrieval.jsonl")
    assert min(per_lang(records).values()) >= 200
    for record in records:
        assert record["query"].strip(), record["id"]
        assert_gold(record, kb_ids)
    styles = {lang: {r["style"] for r in records if r["lang"] == lang} for lang in LANGS}
    for lang in LANGS:
        assert {"typo", "colloquial", "code_switch", "short", "long"} <= styles[lang], lang
    assert "latam" in styles["es"]
    long_queries = [r for r in records if r["style"] == "long"]
    assert all(len(r["query"].split()) >= 40 for r in long_queries)


def test_qa_references(kb_ids: dict[str, str]) -> None:
    records = load("qa.jsonl")
    assert min(per_lang(records).values()) >= 100
    for record in records:
        assert record["question"].strip() and record["reference"].strip(), record["id"]
        assert_gold(record, kb_ids)


def test_out_of_scope(kb_ids: dict[str, str]) -> None:
    records = load("out_of_scope.jsonl")
    for lang in LANGS:
        out = [r for r in records if r["lang"] == lang and r["in_scope"] is False]
        borderline = [r for r in records if r["lang"] == lang and r["in_scope"] is True]
        assert len(out) >= 100, lang
        assert borderline, f"{lang}: labelled borderline in-scope examples are required"
        assert {"weather", "medical", "homework", "other_company", "chit_chat"} <= {r["category"] for r in out}
        for record in borderline:
            assert record["category"] == "borderline"
            assert_gold(record, kb_ids)


def test_consistency_groups(kb_ids: dict[str, str]) -> None:
    records = load("prompts/consistency.jsonl")
    for lang in LANGS:
        groups = [r for r in records if r["lang"] == lang]
        assert len(groups) >= 30, lang
        assert all(len(set(g["paraphrases"])) >= 4 for g in groups), lang
    for record in records:
        assert_gold(record, kb_ids)
    topics = {lang: {r["topic"] for r in records if r["lang"] == lang} for lang in LANGS}
    assert topics["en"] == topics["es"], "each English group needs a Spanish group with the same topic"


def test_edge_cases(kb_ids: dict[str, str]) -> None:
    records = load("prompts/edge_cases.jsonl")
    assert min(per_lang(records).values()) >= 50
    for lang in LANGS:
        kinds = {r["kind"] for r in records if r["lang"] == lang}
        assert kinds >= EDGE_KINDS_REQUIRED, f"{lang} lacks {EDGE_KINDS_REQUIRED - kinds}"
    for record in records:
        assert record["expected_route"] in ROUTES, record["id"]
        if record["expected_route"] == "answered":
            assert_gold(record, kb_ids)
    # each language has a message of about 5,000 words
    very_long = [r for r in records if r["kind"] == "very_long" and len(r["text"].split()) >= 4500]
    assert {r["lang"] for r in very_long} == set(LANGS)
    assert any(r["text"] == "" for r in records if r["kind"] == "empty")


def test_bias_pairs(kb_ids: dict[str, str]) -> None:
    records = load("prompts/bias.jsonl")
    assert min(per_lang(records).values()) >= 50
    for lang in LANGS:
        attributes = {r["attribute"] for r in records if r["lang"] == lang}
        assert attributes >= BIAS_ATTRIBUTES, lang
    for record in records:
        assert record["a"].strip() and record["b"].strip() and record["a"] != record["b"], record["id"]
        assert record["expected_route"] in {"answered", "refused"}, record["id"]
        if record["expected_route"] == "answered":
            assert_gold(record, kb_ids)
    assert {r["expected_route"] for r in records} == {"answered", "refused"}


def test_every_eval_file_has_a_readme() -> None:
    assert (EVAL / "README.md").is_file()
    assert (EVAL / "prompts" / "README.md").is_file()
