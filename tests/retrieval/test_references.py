"""Other articles' titles inside a chunk are references: the index reads the chunk without them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from retrieval.ingest import REFERENCES_KEY, ingest
from retrieval.references import References
from retrieval.search import KnowledgeBase
from retrieval.store import read_version

MISSING = "Items missing from my package"
LOST = "Tracking says delivered but I don't have my package"
ARTICLES = [
    {"id": "missing", "title": MISSING, "lang": "en", "text": (
        "If your parcel arrived without everything you ordered, check your shipping email: orders may ship in "
        "several boxes. Look carefully through the packaging material, small accessories are easy to overlook. "
        f"If the whole parcel never reached you, see {LOST} instead.")},
    {"id": "lost", "title": LOST, "lang": "en", "text": (
        "Check with your neighbours, your building's reception and any safe place the courier may have used. "
        "If nothing turns up within 48 hours, tell us and we open an investigation with the carrier.")},
    {"id": "invoice", "title": "Get an invoice for your order", "lang": "en", "text": (
        "Invoices are in My orders. Open the order and choose Download invoice.")},
]  # fmt: skip


def _write(folder: Path, articles: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "kb.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in articles), encoding="utf-8")
    return path


def test_strip_takes_out_other_titles_as_written_and_keeps_its_own() -> None:
    refs = References([LOST, "My item arrived damaged", "¿Puedo cambiar mi pedido?", "Returns", MISSING])
    text = (f"See {LOST} instead. If broken, see My item arrived damaged. Mira «¿Puedo cambiar mi pedido?». "
            "Returns are free. my item arrived damaged in lower case is the sentence's own. "
            "My item arrived damageds.")  # fmt: skip
    out = refs.strip(text, own=MISSING)
    assert out.startswith("See  instead. If broken, see . Mira «».")
    assert "Returns are free" in out  # a one-word title is not a reference
    assert "my item arrived damaged in lower case" in out and "My item arrived damageds" in out
    assert refs.strip(f"{MISSING}: {LOST}", own=MISSING) == f"{MISSING}: "


def test_the_index_reads_a_chunk_without_the_titles_it_names_and_shows_it_whole(tmp_path: Path) -> None:
    kb = _write(tmp_path / "kb", ARTICLES)
    ingest([kb], tmp_path / "idx")
    base = KnowledgeBase.open(tmp_path / "idx")
    query = "tracking says delivered"  # words of LOST's title only, which MISSING names
    signals = base.signals(query, base.embedder.encode([query])[0], candidates=3)
    lexical = {base.data.chunk_doc_ids[row] for row in signals.lexical_rows}
    assert lexical == {"lost"}
    dense = dict(zip((base.data.chunk_doc_ids[r] for r in signals.dense_rows), signals.dense_scores, strict=True))
    assert dense["lost"] - dense["missing"] > 0.12  # 0.16; 0.05 when the title is read with the chunk
    assert [r.doc_id for r in base.search(query, k=2)] == ["lost", "missing"]
    # the chunk is shown and quoted as written
    assert LOST in base.search("packaging material accessories", k=1)[0].text


def test_an_article_added_later_is_taken_out_of_the_chunks_that_name_it(tmp_path: Path) -> None:
    """Incremental ingest: the chunk naming an article that arrives later gets the vector a fresh build gives it."""
    ingest([_write(tmp_path / "first", [ARTICLES[0], ARTICLES[2]])], tmp_path / "idx")
    ingest([_write(tmp_path / "second", [ARTICLES[1]])], tmp_path / "idx")
    ingest([_write(tmp_path / "all", ARTICLES)], tmp_path / "fresh")
    incremental, fresh = read_version(tmp_path / "idx"), read_version(tmp_path / "fresh")
    assert incremental is not None and fresh is not None
    row = {c: i for i, c in enumerate(fresh.chunk_ids)}
    for i, chunk_id in enumerate(incremental.chunk_ids):
        assert np.allclose(incremental.vectors[i], fresh.vectors[row[chunk_id]], atol=1e-5), chunk_id
        if incremental.multilingual is not None and fresh.multilingual is not None:
            assert np.allclose(incremental.multilingual[i], fresh.multilingual[row[chunk_id]], atol=1e-5), chunk_id
    assert incremental.manifest[REFERENCES_KEY] is True
