"""The knowledge base on Elasticsearch 8/9: dense_vector kNN + BM25, fused client-side like the local index.

``NAME`` holds a document per chunk and, in its mapping's ``_meta``, the embedder that built it; ``NAME-docs`` one per
article. Loading, chunking, languages, embedding, dedup and fusion are the local index's code, so both rank alike
(ES's ``rrf`` retriever needs an Enterprise licence and has no per-language weights or translation twins)."""

from __future__ import annotations

import base64
import contextlib
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np

from retrieval.chunking import Chunk, chunk_document
from retrieval.config import RetrievalConfig
from retrieval.documents import Document, load_documents
from retrieval.embeddings import Embedder, is_bilingual, load_embedder
from retrieval.fusion import Signals
from retrieval.ingest import Progress, dedupe, indexed_counts, kept_articles, silent, stored_document, updated_articles
from retrieval.language import detect_language
from retrieval.multilingual import DIM as MULTILINGUAL_DIM
from retrieval.multilingual import NAME as MULTILINGUAL_NAME
from retrieval.multilingual import encode as encode_multilingual
from retrieval.references import References, embed_text
from retrieval.search import CROSS_SHARE, SearchResult, rank_articles
from retrieval.store import IndexData, IndexFault, StoredDocument
from retrieval.text import has_words

VectorIndex = Literal["hnsw", "int8_hnsw"]
Tags = list[str] | None
# article, chunk, chunk language, vector, USE multilingual vector (None: the index stores none)
Row = tuple[StoredDocument, Chunk, str, np.ndarray, np.ndarray | None]
Verdict = tuple[StoredDocument, str | None, np.ndarray]  # article, the article it duplicates (or None), its vector
_RESULT_FIELDS = ["doc_id", "chunk_id", "lang", "title", "text", "url", "tags"]
_HIT_FIELDS = [*_RESULT_FIELDS, "translation_of"]  # never the vector: ES 9 may leave it out of _source anyway
_DOC_FIELDS = [f.name for f in fields(StoredDocument)]
_KEYWORD: dict[str, Any] = {"type": "keyword"}
_TEXT: dict[str, Any] = {"type": "text"}
_STORED_ONLY: dict[str, Any] = {"type": "keyword", "index": False}


def docs_index(name: str) -> str:
    """The companion index of ``name`` that holds one document per article."""
    return f"{name}-docs"


def chunk_index_body(
    dims: int, vector_index: VectorIndex = "hnsw", hnsw_m: int = 16, multilingual: bool = False
) -> dict[str, Any]:
    """Mappings of the chunk index: the vector (cosine kNN), per-language BM25 text and keyword filters; with
    ``multilingual``, the chunk's USE multilingual v3 vector too (``use_vector``: the dense list of Spanish and
    cross-language queries, as the local index's ``multilingual.npy``)."""
    if vector_index not in ("hnsw", "int8_hnsw"):
        raise ValueError(f"vector_index must be hnsw or int8_hnsw, got {vector_index!r}")
    # lang is the article's language (what --lang filters on), chunk_lang the chunk's; text is what results show.
    keywords = ("chunk_id", "doc_id", "lang", "chunk_lang", "tags", "content_hash", "translation_of", "updated")
    properties: dict[str, Any] = {**dict.fromkeys(keywords, _KEYWORD), "position": {"type": "integer"}, "title": _TEXT}
    properties |= {"url": _STORED_ONLY, "text": {**_TEXT, "index": False}}
    # What BM25 sees: title + chunk, in the field of the chunk's language, as the local lexical index does.
    properties |= {"text_en": {**_TEXT, "analyzer": "english"}, "text_es": {**_TEXT, "analyzer": "spanish"}}
    vector = {"type": "dense_vector", "dims": dims, "index": True, "similarity": "cosine"}
    properties["vector"] = {**vector, "index_options": {"type": vector_index, "m": hnsw_m}}
    if multilingual:
        properties["use_vector"] = {**properties["vector"], "dims": MULTILINGUAL_DIM}
    return {"mappings": {"dynamic": "strict", "properties": properties}}


def docs_index_body() -> dict[str, Any]:
    """Mappings of the companion article index."""
    keywords = ("id", "lang", "tags", "translation_of", "updated", "content_hash", "duplicate_of")
    properties = {**dict.fromkeys(keywords, _KEYWORD), "title": _TEXT, "text": {**_TEXT, "index": False}}
    # doc_vector: the article vector dedup compares, float32 little-endian in base64.
    properties |= {"url": _STORED_ONLY, "source": _STORED_ONLY, "doc_vector": {"type": "binary"}}
    return {"mappings": {"dynamic": "strict", "properties": properties}}


def chunk_actions(index_name: str, rows: Iterable[Row], references: References | None = None
                  ) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Bulk index actions for (article, chunk, chunk language, vector) rows; ``_id`` is the chunk id. BM25 reads
    each chunk as the embedder did (``references``: the titles it was embedded without)."""
    for doc, chunk, lang, vector, use in rows:
        source = {"chunk_id": chunk.chunk_id, "doc_id": doc.id, "position": chunk.position, "lang": doc.lang}
        source |= {"chunk_lang": lang, "tags": doc.tags, "content_hash": doc.content_hash}
        source |= {"translation_of": doc.translation_of, "updated": doc.updated, "title": doc.title, "url": doc.url}
        indexed = embed_text(doc.title, chunk.text, references)
        source |= {"text": chunk.text, "text_es" if lang == "es" else "text_en": indexed}
        source["vector"] = [float(x) for x in vector]
        if use is not None:
            source["use_vector"] = [float(x) for x in use]
        yield {"_op_type": "index", "_index": index_name, "_id": chunk.chunk_id, "_source": source}


def article_actions(docs_name: str, verdicts: Iterable[Verdict]) -> Iterator[dict[str, Any]]:
    """Bulk index actions for (article, id it duplicates or None, article vector) rows; ``_id`` is the article id."""
    for doc, duplicate_of, vector in verdicts:
        source = {**asdict(doc), "duplicate_of": duplicate_of}
        source["doc_vector"] = base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
        yield {"_op_type": "index", "_index": docs_name, "_id": doc.id, "_source": source}


def connect(es_url: str) -> Any:
    """An Elasticsearch client for ``es_url``."""
    from elasticsearch import Elasticsearch

    return Elasticsearch(es_url, request_timeout=60)


@contextlib.contextmanager
def es_errors(es_url: str) -> Iterator[None]:
    """Turn the client's errors into :class:`IndexFault` naming the server (the CLI prints them plainly)."""
    from elasticsearch import ApiError, TransportError, __versionstr__
    from elasticsearch.helpers import BulkIndexError

    try:
        yield
    except ApiError as exc:
        if "media_type_header_exception" in str(exc):
            hint = "a client talks to servers of its own major version; for ES 8: pip install 'elasticsearch>=8.12,<9'"
            raise IndexFault(f"Elasticsearch at {es_url} rejected Python client {__versionstr__}: {hint}") from exc
        raise IndexFault(f"Elasticsearch at {es_url}: {exc}") from exc
    except TransportError as exc:
        raise IndexFault(f"cannot reach Elasticsearch at {es_url}: {exc}") from exc
    except BulkIndexError as exc:
        raise IndexFault(f"Elasticsearch at {es_url}: {len(exc.errors)} bulk writes failed: {exc.errors[:3]}") from exc


def _read_meta(es: Any, index_name: str) -> dict[str, Any] | None:
    if not es.indices.exists(index=index_name):
        return None
    return dict(next(iter(es.indices.get_mapping(index=index_name).body.values()))["mappings"].get("_meta", {}))


def _embed(
    docs: Sequence[Document],
    config: RetrievalConfig,
    embedder: Embedder,
    progress: Progress,
    multilingual: bool,
    references: References | None = None,
) -> list[Row]:
    """Chunk and embed as the local ingest does: per-chunk language, title-prefixed text, batches of 64; with
    ``multilingual``, the same text's USE multilingual vector too."""
    pending = []
    for doc in docs:
        stored = stored_document(doc)
        for chunk in chunk_document(doc, config.chunk_max_chars, config.chunk_overlap_sentences):
            lang = detect_language(chunk.text, default=doc.lang) if len(chunk.text) > 40 else doc.lang  # type: ignore[arg-type]
            pending.append((stored, chunk, lang or "en"))
    vectors: list[np.ndarray] = []
    use: list[np.ndarray | None] = [None] * len(pending)
    for start in range(0, len(pending), 64):
        texts = [embed_text(doc.title, chunk.text, references) for doc, chunk, _ in pending[start : start + 64]]
        vectors.extend(embedder.encode(texts, batch_size=64))
        if multilingual:
            use[start : start + 64] = list(encode_multilingual(texts))
        progress("embed", min(start + 64, len(pending)), len(pending))
    return [(*row, vector, u) for row, vector, u in zip(pending, vectors, use, strict=True)]


def _doc_vectors(rows: Sequence[Row]) -> dict[str, np.ndarray]:
    """One unit vector per article: the normalised mean of its chunk vectors (what the local dedup compares)."""
    grouped: dict[str, list[np.ndarray]] = {}
    for doc, _, _, vector, _ in rows:
        grouped.setdefault(doc.id, []).append(vector)
    means = {doc_id: np.asarray(np.mean(vectors, axis=0), np.float32) for doc_id, vectors in grouped.items()}
    return {doc_id: mean / max(float(np.linalg.norm(mean)), 1e-12) for doc_id, mean in means.items()}


def _cosine(hit: dict[str, Any]) -> float:
    """The cosine of a kNN hit: ES scores cosine similarity as (1 + cos) / 2."""
    return 2 * float(hit["_score"]) - 1


def _decode(doc_vector: str | None, dims: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(doc_vector), "<f4") if doc_vector else np.zeros(dims, np.float32)


@dataclass
class IngestPlan:
    """What an ingest writes, worked out from the input and the stored article rows alone (no server involved)."""

    counts: dict[str, int]  # added, updated, unchanged: as the local ingest counts them
    indexed: dict[str, int]  # the kept articles by how they came (ingest.indexed_counts)
    dedup: dict[str, Any]  # the dedup report over every article
    kept: list[StoredDocument]  # articles that have chunks in the index afterwards
    rows: list[Row]  # chunks to write
    stale: list[str]  # articles whose old chunks are deleted before the new ones are written
    verdicts: list[Verdict]  # article rows to write
    references: References | None = None  # the titles the chunks were embedded without
    updated: list[dict[str, str]] = field(default_factory=list)  # ingest.updated_articles: what was overwritten
    absent: list[str] = field(default_factory=list)  # ingest.kept_articles: kept, though not in this input


def plan_ingest(
    docs: Sequence[Document],
    previous: dict[str, Any],
    config: RetrievalConfig,
    embedder: Embedder,
    progress: Progress,
    multilingual: bool = False,
) -> IngestPlan:
    """Compare ``docs`` (languages set) with the stored article rows ``previous`` (id -> ``_source``): embed what
    is new or changed, skip what is not, and let dedup judge every article again (``multilingual``: the chunks get
    their USE multilingual vectors too)."""
    counts = {"added": 0, "updated": 0, "unchanged": 0}
    how: dict[str, str] = {}
    pending: list[Document] = []
    for document in docs:
        old = previous.get(document.id)
        unchanged = old is not None and old.get("content_hash") == document.content_hash
        # An article dropped as a duplicate last time has no chunks: it is embedded again so dedup re-judges it.
        if not unchanged or (old or {}).get("duplicate_of") is not None:
            pending.append(document)
        how[document.id] = "unchanged" if unchanged else "updated" if old is not None else "added"
        counts[how[document.id]] += 1
    stored = {key: StoredDocument(**{f: old.get(f) for f in _DOC_FIELDS}) for key, old in previous.items()}
    articles = stored | {d.id: stored_document(d) for d in docs}
    # Other articles' titles out, as in a local index; an unchanged article's chunks keep the vectors they have
    # (a title added since stays in them until the article changes or `kb ingest --replace`).
    references = References(a.title for a in articles.values() if a.title)
    rows = _embed(pending, config, embedder, progress, multilingual, references)
    vectors = {key: _decode(old.get("doc_vector"), embedder.dim) for key, old in previous.items()}
    vectors |= _doc_vectors(rows)
    ids = sorted(articles)
    # The local ingest's dedup, over one row per article: its vector is already the mean of its chunks'.
    report = dedupe(IndexData({}, articles, ids, ids, [], [], np.vstack([vectors[i] for i in ids])), config)
    dropped: dict[str, str] = report["dropped"]
    progress("dedup", 1, 1)
    embedded = {d.id for d in pending}
    # An article kept now but chunkless (dropped last time, absent from this input) gets its chunks back.
    revived = [i for i in ids if i not in dropped and i not in embedded and previous[i].get("duplicate_of")]
    again = [Document(**{f.name: getattr(articles[i], f.name) for f in fields(Document)}) for i in revived]
    rows += _embed(again, config, embedder, progress, multilingual, references)
    embedded |= set(revived)
    had_chunks = {key for key, old in previous.items() if old.get("duplicate_of") is None}
    stale = [i for i in ids if i in had_chunks and (i in embedded or i in dropped)]
    changed = [i for i in ids if i in embedded or previous[i].get("duplicate_of") != dropped.get(i)]
    kept = [articles[i] for i in ids if i not in dropped]
    verdicts = [(articles[i], dropped.get(i), vectors[i]) for i in changed]
    indexed = indexed_counts(how, [a.id for a in kept])
    rows = [row for row in rows if row[0].id not in dropped]
    return IngestPlan(
        counts, indexed, report, kept, rows, stale, verdicts, references, updated_articles(how, stored, docs),
        kept_articles(how, [a.id for a in kept]),
    )  # fmt: skip


def es_ingest(
    paths: Sequence[Path],
    es_url: str,
    index_name: str,
    config: RetrievalConfig | None = None,
    replace: bool = False,
    cache_dir: Path | None = None,
    progress: Progress = silent,
    *,
    embedder: Embedder | None = None,
    vector_index: VectorIndex = "hnsw",
) -> dict[str, Any]:
    """Build or update the knowledge base ``index_name`` (see :func:`plan_ingest`); the report is ``ingest``'s.
    ``vector_index`` applies when the index is created (``int8_hnsw`` holds HNSW vectors in a quarter of the memory).
    """
    from elasticsearch import helpers

    config, started = config or RetrievalConfig(), time.perf_counter()
    documents = load_documents(paths)  # every input error surfaces here, before anything is written
    es, docs_name = connect(es_url), docs_index(index_name)
    with es_errors(es_url):
        if replace:
            es.indices.delete(index=[index_name, docs_name], ignore_unavailable=True)
        meta = _read_meta(es, index_name)
        if meta is not None and meta.get("embedder", config.embedder) != config.embedder:  # none: a crashed 1st ingest
            built = f"Elasticsearch index {index_name} was built with embedder {meta.get('embedder')!r}"
            raise IndexFault(f"{built}, not {config.embedder!r}; use --replace to rebuild it with the new embedder")
        embedder = embedder or load_embedder(config.embedder, config.embedder_backend, cache_dir)
        for i, document in enumerate(documents):
            document.lang = document.lang or detect_language(f"{document.title}\n{document.text}", default="en")
            progress("language", i + 1, len(documents))
        # USE multilingual vectors as the local index stores them; an index created before them has no such field
        # (its mapping is strict) and keeps searching without them until it is rebuilt with --replace.
        multilingual = config.multilingual_dense if meta is None else bool(meta.get("multilingual"))
        if meta is None:
            body = chunk_index_body(embedder.dim, vector_index, config.hnsw_m, multilingual)
            es.indices.create(index=index_name, **body)
        if not es.indices.exists(index=docs_name):
            es.indices.create(index=docs_name, **docs_index_body())
        # Dedup compares every article, as the local ingest does, so all article rows are read.
        previous = {hit["_id"]: hit["_source"] for hit in helpers.scan(es, index=docs_name)}

        plan = plan_ingest(documents, previous, config, embedder, progress, multilingual)
        # Old chunks of changed (and of newly dropped) articles go before the new ones are written.
        stale = {"terms": {"doc_id": plan.stale}}
        es.delete_by_query(index=index_name, query=stale, refresh=True, conflicts="proceed")
        chunk_rows = chunk_actions(index_name, plan.rows, plan.references)
        actions = itertools.chain(chunk_rows, article_actions(docs_name, plan.verdicts))
        helpers.bulk(es, actions, chunk_size=500)
        es.indices.refresh(index=[index_name, docs_name])
        kept, dropped = plan.kept, plan.dedup["dropped"]
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        info = {"embedder": config.embedder, "embedder_backend": config.embedder_backend, "dim": embedder.dim}
        old = meta or {}
        info |= {"vector_index": old.get("vector_index", vector_index), "created": old.get("created", stamp)}
        info |= {
            "updated": stamp,
            "config": asdict(config),
            "multilingual": MULTILINGUAL_NAME if multilingual else None,
        }
        es.indices.put_mapping(index=index_name, meta=info)
        chunks = int(es.count(index=index_name)["count"])
        progress("write", 1, 1)
    out = {
        "index": index_name,
        "documents": len(kept),
        **plan.counts,
        "indexed": plan.indexed,
        "updated_articles": plan.updated,
        "kept_articles": plan.absent,
        "duplicates_dropped": len(dropped),
    }
    out |= {"chunks": chunks, "languages": dict(Counter(d.lang for d in kept)), "embedder": config.embedder}
    return out | {"seconds": round(time.perf_counter() - started, 2), "dedup": plan.dedup}


def es_delete(es_url: str, index_name: str, doc_ids: Sequence[str]) -> dict[str, Any]:
    """Remove articles (and their chunks) by id; unknown ids are an error and nothing is changed."""
    es, docs_name, gone = connect(es_url), docs_index(index_name), sorted(set(doc_ids))
    with es_errors(es_url):
        found = {d["_id"] for d in es.mget(index=docs_name, ids=gone, source=False)["docs"] if d.get("found")}
        if missing := ", ".join(i for i in gone if i not in found):
            raise IndexFault(f"{index_name}: no document with id {missing}; nothing was deleted")
        es.delete_by_query(index=index_name, query={"terms": {"doc_id": gone}}, refresh=True, conflicts="proceed")
        es.delete_by_query(index=docs_name, query={"ids": {"values": gone}}, refresh=True, conflicts="proceed")
        kept = {"bool": {"must_not": {"exists": {"field": "duplicate_of"}}}}
        documents = int(es.count(index=docs_name, query=kept)["count"])
    return {"index": index_name, "deleted": gone, "documents": documents}


def es_drop(es_url: str, index_name: str) -> None:
    """Delete a knowledge base (both of its indices); a missing one is not an error."""
    es = connect(es_url)
    with es_errors(es_url):
        es.indices.delete(index=[index_name, docs_index(index_name)], ignore_unavailable=True)


class EsKnowledgeBase:
    """A knowledge base in Elasticsearch, searched like :class:`retrieval.search.KnowledgeBase`."""

    def __init__(
        self,
        es: Any,
        es_url: str,
        index_name: str,
        embedder: Embedder,
        config: RetrievalConfig,
        multilingual: bool = False,
        language_share: dict[str, float] | None = None,
    ) -> None:
        """``multilingual``: the chunks carry USE multilingual vectors (``use_vector``), searched for Spanish and
        cross-language queries as the local index does; ``language_share``: each language's share of the kept
        articles (a query in a language under ``CROSS_SHARE`` of them is cross-language)."""
        self.es, self.es_url, self.index_name, self.embedder, self.config = es, es_url, index_name, embedder, config
        self.bilingual = is_bilingual(config.embedder)
        self.multilingual = multilingual and config.multilingual_dense and not self.bilingual
        self.language_share = language_share or {}

    @classmethod
    def open(
        cls, es_url: str, index_name: str, cache_dir: Path | None = None, config: RetrievalConfig | None = None
    ) -> EsKnowledgeBase:
        """Connect to ``index_name`` and load the embedder that built it (recorded in the index's ``_meta``)."""
        es = connect(es_url)
        with es_errors(es_url):
            meta = _read_meta(es, index_name)
        if meta is None or "embedder" not in meta:
            raise IndexFault(f"no Elasticsearch index {index_name} at {es_url}; build one with `supportbot kb ingest`")
        stored = RetrievalConfig.from_stored(meta.get("config", {}))
        if config is not None:  # search-time knobs may be overridden; the embedder never is
            stored = RetrievalConfig(**{**asdict(config), "embedder": stored.embedder})
        backend = config.embedder_backend if config is not None else meta.get("embedder_backend", "auto")
        with es_errors(es_url):
            kept = {"bool": {"must_not": {"exists": {"field": "duplicate_of"}}}}
            langs = {"langs": {"terms": {"field": "lang", "size": 50}}}
            found = es.search(index=docs_index(index_name), query=kept, aggs=langs, size=0)
        buckets = {b["key"]: int(b["doc_count"]) for b in found["aggregations"]["langs"]["buckets"]}
        share = {lang: n / sum(buckets.values()) for lang, n in buckets.items()} if buckets else {}
        embedder = load_embedder(meta["embedder"], backend, cache_dir)
        return cls(es, es_url, index_name, embedder, stored, bool(meta.get("multilingual")), share)

    @property
    def size(self) -> int:
        """Number of indexed chunks."""
        with es_errors(self.es_url):
            return int(self.es.count(index=self.index_name)["count"])

    def search(
        self, query: str, k: int = 5, lang: str | None = None, tags: Tags = None, query_lang: str | None = None
    ) -> list[SearchResult]:
        """The ``k`` best articles for ``query``, optionally only in ``lang`` and carrying one of ``tags``."""
        if not has_words(query := query.strip()):  # only spaces or punctuation: nothing to search for
            return []
        return self.search_vector(query, self.embedder.encode([query])[0], k, lang, tags, query_lang)

    def search_batch(self, queries: list[str], k: int = 5) -> list[list[SearchResult]]:
        """Search many queries, embedding them in batches."""
        vectors = self.embedder.encode(queries) if queries else np.zeros((0, 1), np.float32)
        return [self.search_vector(q, v, k) if has_words(q) else [] for q, v in zip(queries, vectors, strict=True)]

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """A stored article by id (None when unknown)."""
        with es_errors(self.es_url):
            found = self.es.mget(index=docs_index(self.index_name), ids=[doc_id], source_includes=_DOC_FIELDS)
        doc = found["docs"][0]
        return {f: doc["_source"].get(f) for f in _DOC_FIELDS} if doc.get("found") else None

    def article_chunks(self, doc_id: str) -> list[tuple[str, str]]:
        """(chunk id, text) of every chunk of an article, in the article's order ([] when unknown)."""
        query = {"term": {"doc_id": doc_id}}
        with es_errors(self.es_url):
            hits = self.es.search(index=self.index_name, query=query, size=1000, sort=[{"position": "asc"}],
                                  source_includes=["chunk_id", "text"])["hits"]["hits"]  # fmt: skip
        return [(str(h["_source"]["chunk_id"]), str(h["_source"]["text"])) for h in hits]

    def _knn(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None, field: str = "vector"
    ) -> dict[str, Any]:
        knn = {"field": field, "query_vector": [float(x) for x in vector], "k": k}
        knn |= {"num_candidates": min(10_000, max(2 * k, 100))} | ({"filter": where} if where else {})
        return {"knn": knn, "size": k, "_source": _HIT_FIELDS}

    def search_vector(
        self,
        query: str,
        vector: np.ndarray,
        k: int = 5,
        lang: str | None = None,
        tags: list[str] | None = None,
        query_lang: str | None = None,
        prefer: str | None = None,
    ) -> list[SearchResult]:
        """:meth:`search` with the query already embedded: kNN and BM25 in one msearch, fused here (``prefer``: as
        :meth:`retrieval.search.KnowledgeBase.search_vector`)."""
        size = self.config.candidates * (4 if lang is not None or tags else 1)
        qlang = query_lang or detect_language(query)
        cross = self.language_share.get(qlang or "", 0.0) < CROSS_SHARE
        # as the local index: a Spanish or cross-language query's dense list is USE multilingual's (MiniLM reads
        # English only); the cosines results report stay the index embedder's (the rails read that scale)
        multilingual = self.multilingual and qlang is not None and (cross or qlang == "es")
        bm25 = {"query": {"multi_match": {"query": query, "fields": ["text_en", "text_es"]}}, "size": size}
        sources: list[dict[str, Any]] = []  # the chunks this search has seen; a chunk's row is its position here
        row_of: dict[str, int] = {}
        cosine: dict[int, float] = {}  # row -> cosine of the query and the chunk, by the index's embedder

        def add(hit: dict[str, Any], dense: bool) -> int:
            row = row_of.setdefault(hit["_id"], len(sources))
            sources.extend([hit.get("_source", {})] if row == len(sources) else [])
            cosine.update({row: _cosine(hit)} if dense else {})
            return row

        with es_errors(self.es_url):
            knn = (self._knn(encode_multilingual([query])[0], size, field="use_vector") if multilingual
                   else self._knn(vector, size))  # fmt: skip
            searches = [{}, knn, {}, {**bm25, "_source": _HIT_FIELDS}]
            answers = self.es.msearch(index=self.index_name, searches=searches)["responses"]
            if errors := [a["error"] for a in answers if "error" in a]:
                raise IndexFault(f"Elasticsearch search on {self.index_name} failed: {errors[0]}")
            main = not multilingual
            rows = [
                np.array([add(h, main and i == 0) for h in a["hits"]["hits"]], np.int64) for i, a in enumerate(answers)
            ]
            dense_scores = np.array([_cosine(h) for h in answers[0]["hits"]["hits"]], np.float32)
            bm25_scores = np.array([float(h["_score"]) for h in answers[1]["hits"]["hits"]], np.float32)
            signals = Signals(rows[0], dense_scores, rows[1], bm25_scores, qlang, cross, self.bilingual, multilingual)
            fused = self.config.fuse(signals)
            prefer = (lang or prefer or qlang) if self.config.prefer_query_language else None

            def best_chunk(twin: str) -> int:  # a twin that was not retrieved: its own best-matching chunk
                hits = self.es.search(index=self.index_name, **self._knn(vector, 1, {"term": {"doc_id": twin}}))
                if not hits["hits"]["hits"]:
                    raise IndexFault(f"{self.index_name}: {twin} was deleted during the search; search again")
                return add(hits["hits"]["hits"][0], dense=True)

            langs, twins = {s["doc_id"]: s["lang"] for s in sources}, self._twins(sources, prefer)
            ranked = rank_articles(
                fused, lambda row: str(sources[row]["doc_id"]), langs.__getitem__, twins, prefer, best_chunk
            )
            chosen: list[tuple[int, float]] = []
            for _, score, row in ranked:
                source = sources[row]
                if (lang is None or source["lang"] == lang) and (not tags or set(tags) & set(source["tags"] or [])):
                    chosen.append((row, score))
                if len(chosen) == k:
                    break
            # Results only BM25 found still get their cosine: an exact kNN restricted to those chunks.
            if missing := [sources[row]["chunk_id"] for row, _ in chosen if row not in cosine]:
                only = self._knn(vector, len(missing), {"ids": {"values": missing}})
                for hit in self.es.search(index=self.index_name, **only)["hits"]["hits"]:
                    add(hit, dense=True)
        found = [({f: sources[row][f] for f in _RESULT_FIELDS}, score, cosine.get(row, 0.0)) for row, score in chosen]
        return [SearchResult(**values, score=round(s, 6), dense_score=round(d, 6)) for values, s, d in found]

    def _twins(self, sources: list[dict[str, Any]], prefer: str | None) -> dict[str, str]:
        """Article -> its translation, for retrieved articles not in ``prefer`` whose twin is indexed and kept."""
        wanted = {s["doc_id"]: s["translation_of"] for s in sources if s.get("translation_of") and s["lang"] != prefer}
        if prefer is None or not wanted:
            return {}
        twins = sorted(set(wanted.values()))
        found = self.es.mget(index=docs_index(self.index_name), ids=twins, source=["duplicate_of"])
        kept = {d["_id"] for d in found["docs"] if d.get("found") and d["_source"].get("duplicate_of") is None}
        return {doc_id: twin for doc_id, twin in wanted.items() if twin in kept}
