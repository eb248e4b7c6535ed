"""Loading the bundled evaluation sets into chat items, split and limit applied."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from evaluation.suites import EvalDataError, load_items, read_records, read_suite, select
from tests.conftest import DATA

EVAL = DATA / "eval"


def test_load_items_applies_split_and_limit_per_language() -> None:
    items, notes = load_items(
        ("qa", "scope", "consistency", "edge", "bias", "bbq"), testset=EVAL / "qa.jsonl",
        scope_set=EVAL / "out_of_scope.jsonl", prompts_dir=EVAL / "prompts", bias_datasets=None, split="test",
        limit=2, bbq_per_language=10, seed=0,
    )  # fmt: skip
    records = Counter((i["suite"], i["lang"]) for i in items)
    assert records[("qa", "en")] == records[("qa", "es")] == 2
    assert records[("edge", "es")] == 2
    assert records[("bias", "en")] == 4  # 2 pairs, both sides
    assert len({i["meta"]["group"] for i in items if i["suite"] == "consistency"}) == 4
    assert all(i["suite"] != "bbq" for i in items)
    assert notes == ["bias benchmarks (BBQ/EsBBQ) skipped: no folder given not present"]
    qa_ids = {i["id"] for i in items if i["suite"] == "qa"}
    test_ids = {r["id"] for r in read_records(EVAL / "qa.jsonl", ["id"]) if r["split"] == "test"}
    assert qa_ids <= test_ids


def test_missing_optional_suite_is_a_note(tmp_path: Path) -> None:
    items, notes = load_items(("qa", "edge"), testset=EVAL / "qa.jsonl", scope_set=tmp_path / "none.jsonl",
                              prompts_dir=tmp_path, bias_datasets=None, split="dev", limit=1, bbq_per_language=0,
                              seed=0)  # fmt: skip
    assert {i["suite"] for i in items} == {"qa"}
    assert notes and "edge" in notes[0]


def test_select_all_keeps_both_splits() -> None:
    records = [{"lang": "en", "split": "dev"}, {"lang": "en", "split": "test"}, {"lang": "es", "split": "test"}]
    assert len(select(records, "all", None)) == 3
    assert len(select(records, "test", 1)) == 2
    assert select(records, "dev", None) == records[:1]


def test_bad_lines_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_text('{"id": "a"}\nnot json\n', encoding="utf-8")
    with pytest.raises(EvalDataError, match=r"qa.jsonl:1: missing lang"):
        read_records(path, ["id", "lang"])
    with pytest.raises(EvalDataError, match=r"qa.jsonl:2: invalid JSON"):
        read_records(path, ["id"])


def test_a_testset_that_is_not_utf8_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "qa.jsonl"
    path.write_bytes(b'{"id": "a"}\n\xb8\xff\x00binary\n')
    with pytest.raises(EvalDataError, match=r"qa.jsonl: not UTF-8 text"):
        read_records(path, ["id"])


def test_a_testset_without_split_fields_says_to_pass_split_all(tmp_path: Path) -> None:
    # An operator's own questions rarely carry split: dev|test; the default --split test then finds none.
    path = tmp_path / "qa.jsonl"
    path.write_text(
        '{"id": "q1", "lang": "es", "question": "¿Puedo pagar con PayPal?", "reference": "Sí.",'
        ' "gold_ids": ["payment-methods-es"]}\n',
        encoding="utf-8",
    )
    with pytest.raises(EvalDataError, match=r"in split 'test' \(1 have no 'split' field: pass --split all"):
        load_items(("qa",), testset=path, scope_set=path, prompts_dir=tmp_path, bias_datasets=None, split="test",
                   limit=None, bbq_per_language=0, seed=0)  # fmt: skip
    items, _ = load_items(("qa",), testset=path, scope_set=path, prompts_dir=tmp_path, bias_datasets=None,
                          split="all", limit=None, bbq_per_language=0, seed=0)  # fmt: skip
    assert [i["id"] for i in items] == ["q1"]


QA = {"id": "q1", "lang": "es", "question": "¿Puedo pagar con PayPal?", "reference": "Sí, con PayPal.",
      "gold_ids": ["payment-methods-es"], "split": "dev"}  # fmt: skip


def _write(path: Path, *records: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # scored as neither es nor en, yet pooled into "all": the per-language tables did not add up to it
        ({"lang": "fr"}, """'lang' must be "en" or "es", got 'fr'"""),
        ({"lang": "EN"}, """'lang' must be "en" or "es", got 'EN'"""),  # and its language match was always 0
        # a string was read as a set of characters: context recall 0 for every question, silently
        ({"gold_ids": "payment-methods-es"}, "'gold_ids' must be a non-empty list of article ids"),
        ({"gold_ids": []}, "'gold_ids' must be a non-empty list of article ids"),
        ({"question": None}, "'question' must be a non-empty string, got None"),  # was a turn with route "error"
        ({"question": "  "}, "'question' must be a non-empty string"),
        ({"reference": 3}, "'reference' must be a non-empty string, got 3"),
        ({"split": "validation"}, """'split' must be "dev" or "test", got 'validation'"""),  # silently dropped
        ({"id": 7}, "'id' must be a non-empty string, got 7"),
    ],
)
def test_a_qa_record_breaking_the_schema_names_file_line_and_field(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path / "qa.jsonl", {**QA, "id": "q0"}, {**QA, **change})
    with pytest.raises(EvalDataError, match=re.escape(f"{path}:2: {message}")):
        load_items(("qa",), testset=path, scope_set=path, prompts_dir=tmp_path, bias_datasets=None, split="all",
                   limit=None, bbq_per_language=0, seed=0)  # fmt: skip


def test_a_repeated_id_is_refused(tmp_path: Path) -> None:
    # Every message runs in a session named after its id: the second "q1" answered with the first as history,
    # and the report counted the question twice.
    path = _write(tmp_path / "qa.jsonl", QA, {**QA, "lang": "en", "question": "Can I pay with PayPal?"})
    with pytest.raises(EvalDataError, match=re.escape(f"{path}:2: id 'q1' repeats line 1")):
        read_suite(path, "qa")


@pytest.mark.parametrize(
    ("suite", "record", "message"),
    [
        ("scope", {"text": "hola", "in_scope": "false"}, "'in_scope' must be true or false, got 'false'"),
        ("consistency", {"paraphrases": ["only one"]}, "'paraphrases' must be a list of at least two"),
        ("edge", {"text": "", "expected_route": "declined"}, "'expected_route' must be one of answered,"),
        ("bias", {"a": "x", "b": "y", "expected_route": "handoff"}, "'expected_route' must be \"answered\""),
        ("bias", {"a": "x", "b": "y", "expected_route": "refused", "lang": "de"}, "'lang' must be"),
    ],
)
def test_a_prompt_suite_record_breaking_its_schema_is_named(
    tmp_path: Path, suite: str, record: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path / f"{suite}.jsonl", {"id": "p1", "lang": "en", **record})
    with pytest.raises(EvalDataError, match=re.escape(f"{path}:1: {message}")):
        read_suite(path, suite)


def test_every_bundled_set_meets_its_schema() -> None:
    items, notes = load_items(("qa", "scope", "consistency", "edge", "bias"), testset=EVAL / "qa.jsonl",
                              scope_set=EVAL / "out_of_scope.jsonl", prompts_dir=EVAL / "prompts",
                              bias_datasets=None, split="all", limit=None, bbq_per_language=0, seed=0)  # fmt: skip
    assert not notes and {i["lang"] for i in items} == {"en", "es"}
    assert any(i["suite"] == "edge" and not i["message"] for i in items)  # an empty message stays an edge case
