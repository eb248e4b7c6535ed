"""Loading the bundled evaluation sets into chat items, split and limit applied."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from evaluation.suites import EvalDataError, load_items, read_records, select
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
        '{"id": "q1", "lang": "es", "question": "¿Puedo pagar con PayPal?", "reference": "Sí.", "gold_ids": []}\n',
        encoding="utf-8",
    )
    with pytest.raises(EvalDataError, match=r"in split 'test' \(1 have no 'split' field: pass --split all"):
        load_items(("qa",), testset=path, scope_set=path, prompts_dir=tmp_path, bias_datasets=None, split="test",
                   limit=None, bbq_per_language=0, seed=0)  # fmt: skip
    items, _ = load_items(("qa",), testset=path, scope_set=path, prompts_dir=tmp_path, bias_datasets=None,
                          split="all", limit=None, bbq_per_language=0, seed=0)  # fmt: skip
    assert [i["id"] for i in items] == ["q1"]
