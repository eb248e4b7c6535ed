"""A small bilingual knowledge base (a slice of the bundled one) and its index, built once per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import DATA

TOPICS = ["return-policy", "refund-policy", "track-order", "delivery-options", "payment-methods", "get-invoice"]


@pytest.fixture(scope="session")
def small_kb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six topics in en and es plus the outdated 2023 returns policy, as one JSONL file."""
    folder = tmp_path_factory.mktemp("kb")
    lines = []
    for name in ("articles.en.jsonl", "articles.es.jsonl", "variants.jsonl"):
        for line in (DATA / "kb" / name).read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            if record["id"].rsplit("-", 1)[0] in TOPICS or record["id"] == "return-policy-2023-en":
                record.pop("variant_of", None)
                record.pop("variant_kind", None)
                lines.append(json.dumps(record, ensure_ascii=False))
    (folder / "kb.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "kb.jsonl"


@pytest.fixture(scope="session")
def built_index(small_kb: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of ``small_kb`` (do not modify it: copy it first)."""
    from retrieval.ingest import ingest

    index = tmp_path_factory.mktemp("index") / "idx"
    ingest([small_kb], index)
    return index


@pytest.fixture
def index(built_index: Path, tmp_path: Path) -> Path:
    """A private copy of ``built_index`` that a test may modify."""
    copy = tmp_path / "idx"
    shutil.copytree(built_index, copy)
    return copy
