"""The shipped conversation samples: one normalized chat schema, licenses beside them, size and Spanish count."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import DATA, read_jsonl

CONVERSATIONS = DATA / "conversations"
MAX_BYTES = 3 * 1024 * 1024


def all_records() -> list[dict[str, Any]]:
    return [r for path in sorted(CONVERSATIONS.glob("*.jsonl")) for r in read_jsonl(path)]


def test_sample_is_small() -> None:
    size = sum(p.stat().st_size for p in CONVERSATIONS.glob("*.jsonl"))
    assert 0 < size < MAX_BYTES


def test_normalized_chat_schema() -> None:
    records = all_records()
    assert [i for i, n in Counter(r["id"] for r in records).items() if n > 1] == []
    for record in records:
        assert set(record) == {"id", "lang", "messages", "source", "meta"}, record["id"]
        assert record["lang"] in {"en", "es"}, record["id"]
        roles = [m["role"] for m in record["messages"]]
        if roles[0] == "system":
            roles = roles[1:]
        assert roles and roles[-1] == "assistant", record["id"]
        assert roles[::2] == ["user"] * len(roles[::2]), f"{record['id']}: turns must alternate user/assistant"
        assert roles[1::2] == ["assistant"] * len(roles[1::2]), record["id"]
        assert all(m["content"].strip() for m in record["messages"]), record["id"]


def test_at_least_300_spanish_exchanges_grounded_in_the_spanish_kb() -> None:
    kb = {a["id"] for a in read_jsonl(DATA / "kb" / "articles.es.jsonl")}
    spanish = [r for r in all_records() if r["source"] == "nimbus_es"]
    assert len(spanish) >= 300
    for record in spanish:
        assert record["lang"] == "es"
        assert record["meta"]["gold_ids"] and set(record["meta"]["gold_ids"]) <= kb, record["id"]


@pytest.mark.parametrize("source", ["bitext_cs", "sgd_banking"])
def test_public_samples_keep_their_license_and_attribution(source: str) -> None:
    assert any(r["source"] == source for r in all_records())
    assert list(CONVERSATIONS.glob(f"LICENSE.{source}*")), f"license of {source} must ship beside its sample"
    readme = (CONVERSATIONS / "README.md").read_text(encoding="utf-8")
    assert source in readme


def test_sample_is_reproducible_from_the_shared_datasets(shared_datasets, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    from tests.conftest import REPO

    subprocess.run(
        [sys.executable, str(REPO / "scripts" / "build_conversation_sample.py"), "--datasets", str(shared_datasets),
         "--out", str(tmp_path)],
        check=True,
    )  # fmt: skip
    for name in ("bitext_sample.jsonl", "sgd_banking_sample.jsonl"):
        assert (tmp_path / name).read_bytes() == (CONVERSATIONS / name).read_bytes(), name
