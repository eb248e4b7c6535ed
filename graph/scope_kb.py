"""What the scope rail reads of a knowledge base, from either search backend: the kept articles and chunk vectors.

The FAISS index holds both on local disk (``retrieval.store.IndexData``). On Elasticsearch they are read from the
server: the articles from ``NAME-docs`` and the chunks from ``NAME`` (their stored vectors; a chunk whose ``_source``
leaves the vector out, as ES 9 may, is embedded again from its text with the index's embedder, as ingest did).
:func:`es_material` turns those ``_source`` records into the same shape :func:`graph.scope.fit_scope` fits from;
:func:`fetch_es_material` scans them from a live server. :func:`top3` (nearest-reference cosines),
:func:`covered_share` and :func:`logistic` are shared by the scope rail's two models (``graph.scope``,
``graph.scope_neutral``). :func:`topic_titles` picks the article titles the canned replies name as examples of what
the assistant helps with.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Encode = Callable[[list[str]], np.ndarray]
MAX_KB_VECTORS = 20_000
_DOC_FIELDS = ["id", "title", "text", "lang", "duplicate_of", "content_hash"]
_CHUNK_FIELDS = ["doc_id", "title", "text", "vector", "use_vector"]
_KEY_FIELDS = ["id", "content_hash", "duplicate_of"]
TOPIC_TITLES = 4  # titles a canned reply names ("I can help with ..., such as X, Y, Z or W")
TOPIC_TITLE_WORDS = 6  # longer titles are named only when there are too few short ones


def covered_share(
    words: Sequence[str], counts: Mapping[str, int], own: set[str] | None = None, also: frozenset[str] = frozenset()
) -> float:
    """Share of ``words`` that the knowledge base uses: counted by more articles than their own (``counts``: word ->
    articles using it; ``own``: the words of the row's own article, left out while fitting), or in ``also``."""
    if not words:
        return 0.0
    hits = sum(1 for w in words if counts.get(w, 0) - (1 if own and w in own else 0) > 0 or w in also)
    return hits / len(words)


def topic_titles(index_data: Any, n: int = TOPIC_TITLES) -> dict[str, list[str]]:
    """Per article language, ``n`` titles that together say what the knowledge base covers: the articles nearest the
    centre of the language's articles (their mean chunk vector), each next one also far from those already chosen
    (maximal marginal relevance), so a hotel FAQ reads "Room service, Pets, Room amenities, Gym" rather than four
    kinds of booking. Titles of up to ``TOPIC_TITLE_WORDS`` words where there are enough; listed in the order the
    articles were ingested; {} for a knowledge base without titles.
    """
    vectors = np.asarray(index_data.vectors, dtype=np.float32)
    by_doc: dict[str, list[int]] = {}
    for row, doc_id in enumerate(index_data.chunk_doc_ids[: len(vectors)]):
        by_doc.setdefault(doc_id, []).append(row)
    out: dict[str, list[str]] = {}
    docs = [d for d in index_data.documents.values() if d.duplicate_of is None and d.title.strip() and d.id in by_doc]
    for lang in sorted({d.lang for d in docs}):
        mine = [d for d in docs if d.lang == lang]
        short = [d for d in mine if len(d.title.split()) <= TOPIC_TITLE_WORDS]
        pool = short if len(short) >= min(n, len(mine)) else mine
        centres = np.stack([vectors[by_doc[d.id]].mean(axis=0) for d in pool])
        centres /= np.maximum(np.linalg.norm(centres, axis=1, keepdims=True), 1e-12)
        central = centres @ centres.mean(axis=0)
        chosen: list[int] = []
        while len(chosen) < min(n, len(pool)):
            taken = centres[chosen] if chosen else np.zeros((0, centres.shape[1]), np.float32)
            redundancy = (centres @ taken.T).max(axis=1) if chosen else np.zeros(len(pool), np.float32)
            gain = 0.6 * central - 0.4 * redundancy
            gain[chosen] = -np.inf
            chosen.append(int(np.argmax(gain)))
        out[lang] = [pool[i].title.strip() for i in sorted(chosen)]
    return out


def logistic(rows: np.ndarray, coef: np.ndarray, intercept: float) -> np.ndarray:
    """A fitted logistic regression's probabilities for feature ``rows``."""
    return np.asarray(1.0 / (1.0 + np.exp(-(rows @ coef + intercept))), dtype=np.float32)


def top3(
    vectors: np.ndarray,
    reference: np.ndarray,
    self_index: Sequence[int] | np.ndarray | None = None,
    exclude: np.ndarray | None = None,
) -> np.ndarray:
    """The three highest cosines of each row of ``vectors`` to ``reference`` (0 where there is no reference),
    leaving out each row's ``self_index`` (-1: none) and the ``exclude`` mask (rows x reference, True: left out)."""
    if not len(reference):
        return np.zeros((len(vectors), 3), np.float32)
    sims = vectors @ reference.T
    if self_index is not None:
        rows = np.array([i for i, j in enumerate(self_index) if j >= 0], dtype=int)
        sims[rows, np.asarray(self_index)[rows]] = -1.0
    if exclude is not None:
        sims[exclude] = -1.0
    if sims.shape[1] > 3:  # the three largest of each row, without sorting the rest
        sims = np.partition(sims, sims.shape[1] - 3, axis=1)[:, -3:]
    top = -np.sort(-sims, axis=1)
    return np.pad(top, ((0, 0), (0, 3 - top.shape[1])), mode="edge") if top.shape[1] < 3 else top


@dataclass
class KbDocument:
    """An article as the scope rail reads it."""

    id: str
    title: str
    text: str
    lang: str
    duplicate_of: str | None = None


@dataclass
class KbMaterial:
    """Articles (by id), chunks and their vectors: the attributes of ``IndexData`` that fitting reads."""

    documents: dict[str, KbDocument]
    vectors: np.ndarray
    chunk_doc_ids: list[str] = field(default_factory=list)
    chunk_texts: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    multilingual: np.ndarray | None = None  # the chunks' USE multilingual vectors, when the index stores them


def content_key(docs: Iterable[dict[str, Any]]) -> str:
    """A digest of the articles' ids, content hashes and dedup verdicts: changes whenever an ingest changes them."""
    rows = sorted(f"{d.get('id')}\x00{d.get('content_hash')}\x00{d.get('duplicate_of')}" for d in docs)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]


def es_material(
    doc_sources: Iterable[dict[str, Any]],
    chunk_sources: Iterable[dict[str, Any]],
    encode: Encode,
    max_vectors: int = MAX_KB_VECTORS,
    seed: int = 13,
) -> KbMaterial:
    """Scope material from Elasticsearch ``_source`` records of the article index and the chunk index.

    Args:
        doc_sources: records of ``NAME-docs`` (id, title, text, lang, duplicate_of).
        chunk_sources: records of ``NAME`` (doc_id, title, text and, when the server returns them, vector and
            use_vector).
        encode: the index's embedder, for chunks that come without their vector.
        max_vectors: at most this many chunks are kept (a seeded sample), as for a local index.
        seed: the sampling seed.
    """
    from retrieval.references import References, embed_text

    documents = {}
    for d in doc_sources:
        doc = KbDocument(str(d["id"]), d.get("title") or "", d.get("text") or "", d.get("lang") or "en",
                         d.get("duplicate_of"))  # fmt: skip
        documents[doc.id] = doc
    chunks = [c for c in chunk_sources if c.get("doc_id") in documents]
    if len(chunks) > max_vectors:
        chunks = random.Random(seed).sample(chunks, max_vectors)
    vectors: list[np.ndarray | None] = [np.asarray(c["vector"], np.float32) if c.get("vector") else None
                                        for c in chunks]  # fmt: skip
    missing = [i for i, v in enumerate(vectors) if v is None]
    if missing:
        references = References(d.title for d in documents.values() if d.title)  # as the ingest embedded them
        fresh = encode([embed_text(chunks[i].get("title") or "", chunks[i].get("text") or "", references)
                        for i in missing])  # fmt: skip
        for i, vector in zip(missing, fresh, strict=True):
            vectors[i] = np.asarray(vector, np.float32)
    matrix = np.stack([v for v in vectors if v is not None]) if vectors else np.zeros((0, 1), np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True) if len(matrix) else np.ones((0, 1), np.float32)
    meta = {"chunks": len(chunks), "reembedded": len(missing)}
    matrix = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    use = [c.get("use_vector") for c in chunks]  # an index ingested with them (else the fit encodes the chunks)
    stored = np.asarray(use, np.float32) if chunks and all(u is not None for u in use) else None
    return KbMaterial(documents, matrix, [str(c["doc_id"]) for c in chunks], [c.get("text") or "" for c in chunks],
                      meta, stored)  # fmt: skip


def es_content_key(kb: Any) -> str:
    """:func:`content_key` of the articles of an ``EsKnowledgeBase`` (a scan of ids and hashes only)."""
    from elasticsearch import helpers

    from retrieval.es_backend import docs_index, es_errors

    with es_errors(kb.es_url):
        docs = [h["_source"] for h in helpers.scan(kb.es, index=docs_index(kb.index_name), _source=_KEY_FIELDS)]
    return content_key(docs)


def fetch_es_material(kb: Any) -> KbMaterial:
    """The scope material of an ``EsKnowledgeBase`` (``retrieval.es_backend``), scanned from the server."""
    from elasticsearch import helpers

    from retrieval.es_backend import docs_index, es_errors

    with es_errors(kb.es_url):
        docs = [h["_source"] for h in helpers.scan(kb.es, index=docs_index(kb.index_name), _source=_DOC_FIELDS)]
        chunks = [h["_source"] for h in helpers.scan(kb.es, index=kb.index_name, _source=_CHUNK_FIELDS)]
    return es_material(docs, chunks, kb.embedder.encode)
