"""The on-disk index: atomic versions, HNSW above the threshold, and surviving a kill in the middle of a write."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from retrieval.search import KnowledgeBase
from retrieval.signals import Interrupted, forget_signals, record_signal
from retrieval.store import (
    IndexData,
    IndexFault,
    StoredDocument,
    read_version,
    write_lock,
    write_version,
)
from tests.conftest import REPO


def tiny_data(n: int, dim: int = 8) -> IndexData:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = {f"d{i}": StoredDocument(id=f"d{i}", title=f"Doc {i}", lang="en", text=f"text {i}") for i in range(n)}
    return IndexData(
        manifest={"embedder": "x", "config": {}},
        documents=docs,
        chunk_ids=[f"d{i}#0" for i in range(n)],
        chunk_doc_ids=[f"d{i}" for i in range(n)],
        chunk_langs=["en"] * n,
        chunk_texts=[f"text number {i}" for i in range(n)],
        vectors=vectors,
    )


def test_hnsw_above_the_threshold_and_exact_below(tmp_path: Path) -> None:
    write_version(tmp_path / "small", tiny_data(20), hnsw_threshold=100, hnsw_m=8, ef_search=32)
    write_version(tmp_path / "big", tiny_data(200), hnsw_threshold=100, hnsw_m=8, ef_search=32)
    assert read_version(tmp_path / "small").manifest["faiss"] == "flat"
    big = read_version(tmp_path / "big")
    assert big.manifest["faiss"] == "hnsw"
    _, rows = big.faiss_index.search(big.vectors[5:6], 1)
    assert rows[0][0] == 5


def test_a_new_version_replaces_the_old_one(tmp_path: Path) -> None:
    first = write_version(tmp_path, tiny_data(3), 100, 8, 32)
    second = write_version(tmp_path, tiny_data(4), 100, 8, 32)
    assert not first.exists() and second.exists()
    assert (tmp_path / "CURRENT").read_text() == second.name
    assert len(read_version(tmp_path).chunk_ids) == 4


def test_unreadable_indexes_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(IndexFault, match="no such index folder"):
        read_version(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IndexFault, match="not an index"):
        read_version(tmp_path / "empty")
    version = write_version(tmp_path / "broken", tiny_data(3), 100, 8, 32)
    (version / "vectors.npy").write_bytes(b"garbage")
    with pytest.raises(IndexFault, match="unreadable"):
        read_version(tmp_path / "broken")


@pytest.mark.parametrize(
    ("current", "message"),
    [(b"", "CURRENT is empty"), (b"\xff\xfe", "CURRENT is unreadable"), (None, "CURRENT is a folder")],
)
def test_a_damaged_current_pointer_is_a_clear_error(tmp_path: Path, current: bytes | None, message: str) -> None:
    # An empty CURRENT read as "CURRENT points at idx" (the folder itself); one not UTF-8 gave a bare "'utf-8' codec
    # can't decode ..." naming no file; a folder named CURRENT a traceback (IsADirectoryError)
    (tmp_path / "idx").mkdir()
    if current is None:
        (tmp_path / "idx" / "CURRENT").mkdir()
    else:
        (tmp_path / "idx" / "CURRENT").write_bytes(current)
    with pytest.raises(IndexFault, match=f"^{re.escape(str(tmp_path / 'idx'))}: {message}"):
        read_version(tmp_path / "idx")


def test_a_folder_named_current_is_refused_before_a_rebuild_and_left_alone(tmp_path: Path) -> None:
    # `kb ingest --replace` embedded every article, then failed its swap with a traceback (IsADirectoryError): the
    # read error had told the user to re-ingest with --replace
    (tmp_path / "idx" / "CURRENT").mkdir(parents=True)
    (tmp_path / "idx" / "CURRENT" / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(IndexFault, match=r"CURRENT is a folder, .* move it out"), write_lock(tmp_path / "idx"):
        pytest.fail("no write while CURRENT is a folder")
    assert (tmp_path / "idx" / "CURRENT" / "notes.txt").read_text(encoding="utf-8") == "mine"
    assert sorted(p.name for p in (tmp_path / "idx").iterdir()) == ["CURRENT"]


def test_an_interrupt_recorded_during_a_write_keeps_the_live_version(tmp_path: Path) -> None:
    # The command line records SIGINT/SIGTERM even when its KeyboardInterrupt is swallowed (inside a __del__);
    # the write checks the record before its swap.
    first = write_version(tmp_path, tiny_data(3), 100, 8, 32)
    record_signal(signal.SIGINT)
    try:
        with pytest.raises(Interrupted):
            write_version(tmp_path, tiny_data(4), 100, 8, 32)
    finally:
        forget_signals()
    assert (tmp_path / "CURRENT").read_text() == first.name and len(read_version(tmp_path).chunk_ids) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["CURRENT", first.name]


def test_a_write_lock_on_a_bad_place_is_a_clear_error_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("mine", encoding="utf-8")
    with pytest.raises(IndexFault, match="file is a file, not a folder"), write_lock(tmp_path / "file"):
        pytest.fail("no lock on a file")
    with pytest.raises(IndexFault, match=r"idx: .*file is a file, not a folder"), write_lock(tmp_path / "file" / "idx"):
        pytest.fail("no lock under a file")
    for missing in (tmp_path / "new" / "deep" / "idx", tmp_path / "file"):
        with (
            pytest.raises(IndexFault, match=r"no such index folder|not an index folder"),
            write_lock(missing, create=False),
        ):
            pytest.fail("a delete needs an index")
    with pytest.raises(RuntimeError, match="embedder failed"), write_lock(tmp_path / "new" / "deep" / "idx"):
        assert (tmp_path / "new" / "deep" / "idx" / ".lock").exists()
        raise RuntimeError("embedder failed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]  # the folders the failed ingest made are gone
    assert (tmp_path / "file").read_text(encoding="utf-8") == "mine"


CHILD = """
import pathlib, sys, time
import retrieval.store as store
marker = pathlib.Path(sys.argv[2])
original = store._write_sqlite
def stalled(path, data):
    original(path, data)      # half of the new version is on disk now
    marker.write_text("in the middle of a write")
    time.sleep(600)
store._write_sqlite = stalled
from retrieval.ingest import ingest
ingest([pathlib.Path(sys.argv[3])], pathlib.Path(sys.argv[1]), replace=True)
"""


@pytest.mark.slow
def test_killing_an_ingest_mid_write_leaves_the_previous_index_readable(
    built_index: Path, small_kb: Path, tmp_path: Path
) -> None:
    index = tmp_path / "idx"
    shutil.copytree(built_index, index)
    before = (index / "CURRENT").read_text()
    expected = [r.doc_id for r in KnowledgeBase.open(index).search("refund", k=5)]
    marker = tmp_path / "marker"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(index), str(marker), str(small_kb)], env=env)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert child.poll() is None, "the ingest ended before reaching the write"
            assert time.monotonic() < deadline, "the ingest never reached the write"
            time.sleep(0.2)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert any(p.name.startswith(".staging-") for p in index.iterdir()), "the kill should have interrupted a write"
    assert (index / "CURRENT").read_text() == before
    assert [r.doc_id for r in KnowledgeBase.open(index).search("refund", k=5)] == expected
    # the next successful write cleans the abandoned staging folder up
    write_version(index, read_version(index, with_search=False), 20_000, 32, 128)
    assert not any(p.name.startswith(".staging-") for p in index.iterdir())
