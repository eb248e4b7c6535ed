"""Ingest: load -> clean -> detect language -> chunk -> embed -> deduplicate -> index, incrementally and atomically.

Unchanged documents (same content hash) reuse their stored chunks and vectors; changed ones are re-chunked and
re-embedded; documents absent from the input stay until deleted by id (:func:`delete_documents`). Nothing touches
the live index until the new version is completely written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.chunking import CHUNKING_VERSION, chunk_document
from retrieval.config import RetrievalConfig
from retrieval.dedup import DedupItem, find_duplicates
from retrieval.documents import Document, load_documents
from retrieval.embeddings import Embedder, load_embedder
from retrieval.language import Lang, detect_language
from retrieval.multilingual import DIM as MULTILINGUAL_DIM
from retrieval.multilingual import NAME as MULTILINGUAL_NAME
from retrieval.multilingual import encode as encode_multilingual
from retrieval.references import References, embed_text
from retrieval.sentences import EMBEDDER as SENTENCE_EMBEDDER
from retrieval.sentences import USE as SENTENCE_USE
from retrieval.sentences import SentenceVectors
from retrieval.sentences import build as build_sentence_vectors
from retrieval.store import (
    IndexData,
    IndexFault,
    StoredDocument,
    live_version,
    read_version,
    write_lock,
    write_version,
)

Progress = Callable[[str, int, int], None]


def silent(stage: str, done: int, total: int) -> None:
    """A :data:`Progress` callback that reports nothing."""
    return None


CHUNKING_KEY = "chunking"  # in the manifest: how its chunks were cut (chunking_of)
REFERENCES_KEY = "strip_references"  # in the manifest of versions whose vectors left other articles' titles out


def references_of(data: IndexData | None) -> References | None:
    """The titles a version's vectors were embedded without (None: they were embedded with every title in)."""
    if data is None or not data.manifest.get(REFERENCES_KEY):
        return None
    return References(d.title for d in data.documents.values() if d.title)


def stored_document(document: Document) -> StoredDocument:
    """The article as the index stores it (language defaulted to en)."""
    return StoredDocument(
        id=document.id,
        title=document.title,
        lang=document.lang or "en",
        text=document.text,
        url=document.url,
        tags=document.tags,
        translation_of=document.translation_of,
        updated=document.updated,
        source=document.source,
        content_hash=document.content_hash,
    )


def _doc_vectors(data: IndexData, doc_ids: Sequence[str]) -> np.ndarray:
    """One unit vector per document: the normalised mean of its chunk vectors."""
    rows: dict[str, list[int]] = {}
    for row, doc_id in enumerate(data.chunk_doc_ids):
        rows.setdefault(doc_id, []).append(row)
    out = np.zeros((len(doc_ids), data.vectors.shape[1]), dtype=np.float32)
    for i, doc_id in enumerate(doc_ids):
        if rows.get(doc_id):
            mean = data.vectors[rows[doc_id]].mean(axis=0)
            out[i] = mean / max(float(np.linalg.norm(mean)), 1e-12)
    return out


def ingest(
    paths: Sequence[Path],
    index_dir: Path,
    config: RetrievalConfig | None = None,
    replace: bool = False,
    cache_dir: Path | None = None,
    embedder: Embedder | None = None,
    progress: Progress = silent,
) -> dict[str, Any]:
    """Build or update the index at ``index_dir`` from ``paths``; returns the ingest report."""
    config = config or RetrievalConfig()
    started = time.perf_counter()
    documents = load_documents(paths)  # every input error surfaces here, before anything is written
    with write_lock(index_dir):
        previous = None if replace or live_version(index_dir) is None else read_version(index_dir, with_search=False)
        if previous is not None and previous.manifest["embedder"] != config.embedder:
            raise IndexFault(
                f"{index_dir} was built with embedder {previous.manifest['embedder']!r}, not {config.embedder!r}; "
                "use --replace to rebuild it with the new embedder"
            )
        embedder = embedder or load_embedder(config.embedder, config.embedder_backend, cache_dir)
        data, report, counts, how = _build(documents, index_dir, previous, config, embedder, progress)
    searchable = [d for d, doc in data.documents.items() if doc.duplicate_of is None]
    languages: dict[str, int] = {}
    for doc in data.documents.values():
        if doc.duplicate_of is None:
            languages[doc.lang] = languages.get(doc.lang, 0) + 1
    return {
        "index": str(index_dir),
        "documents": data.manifest["documents"],
        **counts,
        "indexed": indexed_counts(how, searchable),
        "kept_articles": kept_articles(how, searchable),
        "updated_articles": updated_articles(how, previous.documents if previous is not None else {}, documents),
        "duplicates_dropped": len(report["dropped"]),
        "chunks": len(data.chunk_ids),
        "languages": languages,
        "embedder": config.embedder,
        "seconds": round(time.perf_counter() - started, 2),
        "dedup": report,
    }


def chunking_of(config: RetrievalConfig) -> dict[str, int]:
    """How ``config`` cuts articles into chunks: the chunker's version and the chunk settings."""
    return {"version": CHUNKING_VERSION, "max_chars": config.chunk_max_chars,
            "overlap_sentences": config.chunk_overlap_sentences}  # fmt: skip


def _build(documents: Sequence[Document], index_dir: Path, previous: IndexData | None, config: RetrievalConfig,
           embedder: Embedder, progress: Progress
           ) -> tuple[IndexData, dict[str, Any], dict[str, int], dict[str, str]]:  # fmt: skip
    """Write the version made of ``previous`` (or nothing) updated with ``documents`` (the write lock is held):
    (the new version, the dedup report, the input's counts, how each input article counted)."""
    for i, document in enumerate(documents):
        document.lang = document.lang or detect_language(f"{document.title}\n{document.text}", default="en")
        progress("language", i + 1, len(documents))

    kept_docs: dict[str, StoredDocument] = {}
    chunk_rows: list[tuple[str, str, str, str]] = []  # chunk_id, doc_id, lang, text
    vectors: list[np.ndarray] = []
    to_embed: list[tuple[str, str, str, str]] = []
    counts = {"added": 0, "updated": 0, "unchanged": 0, "rechunked": 0}
    how: dict[str, str] = {}  # an input article's count: added, updated or unchanged
    rechunk = previous is not None and previous.manifest.get(CHUNKING_KEY) != chunking_of(config)

    def carry(document: Document, rows: list[int]) -> None:
        """An article whose text has not changed keeps its chunks and vectors; chunked again when the previous
        version cut chunks otherwise (an older chunker, other settings), each chunk of the same text keeping its
        vector. Until 2026-12-07 an unchanged article kept the chunks of the version that first indexed it."""
        assert previous is not None
        if not rechunk or not rows:
            _reuse(previous, rows, chunk_rows, vectors)
            return
        counts["rechunked"] += 1
        known = {previous.chunk_texts[row]: previous.vectors[row] for row in rows}
        for row in _chunk_rows(document, config):
            if row[3] in known:
                chunk_rows.append(row)
                vectors.append(known[row[3]])
            else:
                to_embed.append(row)

    old_rows = _keep_absent_documents(previous, documents, kept_docs, carry)
    # A duplicate dropped last time has no stored chunks or vectors. One in this input is embedded again below so
    # dedup can re-judge it; one absent from it is too when the article it was dropped for is gone or changes now
    # (it stayed without chunks, unsearchable, and the article vanished from search when its kept copy was deleted).
    # Otherwise it stays dropped as it was, and nothing is embedded for it.
    incoming = {d.id: d.content_hash for d in documents}
    old_docs = previous.documents if previous is not None else {}
    changed = {k for k, h in incoming.items() if k not in old_docs or old_docs[k].content_hash != h}
    bare = []
    for doc_id, stay in kept_docs.items():
        keep = stay.duplicate_of
        if not old_rows.get(doc_id) and (
            keep is None or keep in changed or (keep not in kept_docs and keep not in incoming)
        ):
            stay.duplicate_of = None
            bare.append(_as_document(stay))

    to_embed += [row for document in bare for row in _chunk_rows(document, config)]
    stale: list[int] = []  # carried-over chunks to embed again (see below)
    for document in documents:
        old: StoredDocument | None = previous.documents.get(document.id) if previous is not None else None
        kept_docs[document.id] = stored_document(document)
        unchanged = old is not None and old.content_hash == document.content_hash
        how[document.id] = "unchanged" if unchanged else "updated" if old is not None else "added"
        counts[how[document.id]] += 1
        if unchanged and previous is not None and old_rows.get(document.id):
            carry(document, old_rows[document.id])
            continue
        to_embed += _chunk_rows(document, config)

    references = References(d.title for d in kept_docs.values() if d.title)
    # a carried-over chunk that names an article added or renamed since is embedded again without its title
    # (and every carried-over chunk naming one, when the previous version kept the titles in: format before 2026-12)
    old_references = references_of(previous)
    for i, (_, doc_id, _, text) in enumerate(chunk_rows):
        title = kept_docs[doc_id].title
        if embed_text(title, text, references) != embed_text(title, text, old_references):
            to_embed.append(chunk_rows[i])
            stale.append(i)
    fresh = _embed_chunks(to_embed, kept_docs, references, embedder, progress)
    for i, vector in zip(stale, fresh[len(fresh) - len(stale) :], strict=True):
        vectors[i] = vector
    del to_embed[len(to_embed) - len(stale) :]
    vectors.extend(fresh[: len(fresh) - len(stale)])
    chunk_rows.extend(to_embed)

    matrix = np.vstack(vectors).astype(np.float32) if vectors else np.zeros((0, embedder.dim), np.float32)
    data = IndexData.from_rows({}, kept_docs, chunk_rows, matrix)
    report = dedupe(data, config)
    progress("dedup", 1, 1)
    data = _drop(data, report["dropped"])
    if config.multilingual_dense:
        data.multilingual = _multilingual_vectors(data, previous, references, progress)
    if config.sentence_vectors:
        data.sentences = _sentence_vectors(data, previous, embedder, progress)
    data.manifest = {
        "embedder": config.embedder,
        "embedder_backend": config.embedder_backend,
        "dim": int(matrix.shape[1]),
        "multilingual": MULTILINGUAL_NAME if data.multilingual is not None else None,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S"),
        REFERENCES_KEY: True,
        CHUNKING_KEY: chunking_of(config),
        "config": asdict(config),
        "documents": sum(1 for d in data.documents.values() if d.duplicate_of is None),
        "dedup": report,
    }
    write_version(index_dir, data, config.hnsw_threshold, config.hnsw_m, config.hnsw_ef_search)
    progress("write", 1, 1)
    return data, report, counts, how


def _chunk_rows(document: Document, config: RetrievalConfig) -> list[tuple[str, str, str, str]]:
    """The chunks of ``document`` to embed, as (chunk_id, doc_id, lang, text); each chunk's language is detected
    when it is long enough to tell, else the article's."""
    doc_lang: Lang = "es" if document.lang == "es" else "en"
    rows: list[tuple[str, str, str, str]] = []
    for chunk in chunk_document(document, config.chunk_max_chars, config.chunk_overlap_sentences):
        lang = detect_language(chunk.text, default=doc_lang) if len(chunk.text) > 40 else doc_lang
        rows.append((chunk.chunk_id, document.id, lang or "en", chunk.text))
    return rows


def _as_document(stored: StoredDocument) -> Document:
    """A stored article as the loader would give it, to chunk it again."""
    return Document(id=stored.id, text=stored.text, title=stored.title, lang=stored.lang, url=stored.url,
                    tags=list(stored.tags), translation_of=stored.translation_of, updated=stored.updated,
                    source=stored.source)  # fmt: skip


def updated_articles(
    how: Mapping[str, str], previous: Mapping[str, StoredDocument], documents: Sequence[Document]
) -> list[dict[str, str]]:
    """The report's ``updated_articles``: each input article that replaced a stored one with other content, by id,
    with its title and source (``file:line``) now and before, so an operator sees what an ingest overwrote (an id
    two exports share shows as another file's article). ``how`` is each input article's count (added, updated or
    unchanged), ``previous`` the stored articles before the ingest."""
    return [
        {"id": d.id, "title": d.title, "source": d.source, "previous_title": previous[d.id].title,
         "previous_source": previous[d.id].source}
        for d in sorted(documents, key=lambda d: d.id)
        if how.get(d.id) == "updated" and d.id in previous
    ]  # fmt: skip


def indexed_counts(how: dict[str, str], searchable: Sequence[str]) -> dict[str, int]:
    """The searchable articles after an ingest (the report's ``documents``) by how they came: ``added``,
    ``updated`` and ``unchanged`` as the input's articles are counted, less those dropped as duplicates, and
    ``kept``, the articles of earlier ingests absent from this input. The report's ``added``, ``updated`` and
    ``unchanged`` count every article of the input, duplicates included: each one's stored row is new, changed or
    the same (its row stays, marked ``duplicate_of``, and ``GET /v1/kb/documents/{id}`` finds it)."""
    indexed = dict.fromkeys(("added", "updated", "unchanged", "kept"), 0)
    for doc_id in searchable:
        indexed[how.get(doc_id, "kept")] += 1
    return indexed


def kept_articles(how: dict[str, str], searchable: Sequence[str]) -> list[str]:
    """The report's ``kept_articles``: the searchable articles of earlier ingests that this input lacks (an author
    who removed an article's file and ingested the folder again still has it in search until ``kb delete``)."""
    return sorted(doc_id for doc_id in searchable if doc_id not in how)


def _keep_absent_documents(
    previous: IndexData | None,
    documents: Sequence[Document],
    kept_docs: dict[str, StoredDocument],
    carry: Callable[[Document, list[int]], None],
) -> dict[str, list[int]]:
    """Keep the previous version's documents that are not in this input (their chunks and vectors carried over by
    ``carry``); the previous version's chunk rows per document id."""
    old_rows: dict[str, list[int]] = {}
    if previous is None:
        return old_rows
    for row, doc_id in enumerate(previous.chunk_doc_ids):
        old_rows.setdefault(doc_id, []).append(row)
    incoming = {d.id for d in documents}
    for doc_id, stay in previous.documents.items():
        if doc_id not in incoming:
            kept_docs[doc_id] = stay
            carry(_as_document(stay), old_rows.get(doc_id, []))
    return old_rows


def _reuse(previous: IndexData, rows: list[int], chunk_rows: list[tuple[str, str, str, str]],
           vectors: list[np.ndarray]) -> None:  # fmt: skip
    """Carry the chunks at ``rows`` of the previous version over, vectors included (nothing is embedded again)."""
    for row in rows:
        chunk_rows.append(
            (previous.chunk_ids[row], previous.chunk_doc_ids[row], previous.chunk_langs[row], previous.chunk_texts[row])
        )
        vectors.append(previous.vectors[row])


def _embed_chunks(
    to_embed: list[tuple[str, str, str, str]], documents: dict[str, StoredDocument], references: References,
    embedder: Embedder, progress: Progress
) -> list[np.ndarray]:  # fmt: skip
    """Vectors of the new chunks (chunk_id, doc_id, lang, text), 64 at a time, each with its article's title and
    without other articles' titles."""
    vectors: list[np.ndarray] = []
    batch = 64
    for start in range(0, len(to_embed), batch):
        part = to_embed[start : start + batch]
        texts = [embed_text(documents[doc_id].title, text, references) for _, doc_id, _, text in part]
        vectors.extend(embedder.encode(texts, batch_size=batch))
        progress("embed", min(start + batch, len(to_embed)), len(to_embed))
    return vectors


def _multilingual_vectors(
    data: IndexData, previous: IndexData | None, references: References, progress: Progress
) -> np.ndarray:
    """USE multilingual vectors of every chunk of ``data`` (embedded as by the main embedder); a chunk the previous
    version embedded from the same text keeps its vector, the rest are encoded 64 at a time."""
    texts = [embed_text(data.documents[d].title, t, references)
             for d, t in zip(data.chunk_doc_ids, data.chunk_texts, strict=True)]  # fmt: skip
    known: dict[str, np.ndarray] = {}
    if previous is not None and previous.multilingual is not None:
        old_references = references_of(previous)
        for row, (doc_id, text) in enumerate(zip(previous.chunk_doc_ids, previous.chunk_texts, strict=True)):
            title = previous.documents[doc_id].title if doc_id in previous.documents else ""
            known[embed_text(title, text, old_references)] = previous.multilingual[row]
    out = np.zeros((len(texts), MULTILINGUAL_DIM), np.float32)
    missing = [i for i, text in enumerate(texts) if text not in known]
    for i, text in enumerate(texts):
        if text in known:
            out[i] = known[text]
    batch = 64
    for start in range(0, len(missing), batch):
        rows = missing[start : start + batch]
        out[rows] = encode_multilingual([texts[i] for i in rows])
        progress("multilingual", min(start + batch, len(missing)), len(missing))
    return out


def _sentence_vectors(data: IndexData, previous: IndexData | None, embedder: Embedder, progress: Progress
                      ) -> SentenceVectors:  # fmt: skip
    """The sentence vectors of every chunk of ``data`` (:mod:`retrieval.sentences`); a sentence the previous
    version encoded with the same encoder keeps its vector."""
    encoders: dict[str, tuple[Callable[[list[str]], np.ndarray], int]] = {
        SENTENCE_EMBEDDER: (lambda texts: embedder.encode(texts, batch_size=64), embedder.dim)
    }
    if data.multilingual is not None:
        encoders[SENTENCE_USE] = (encode_multilingual, MULTILINGUAL_DIM)
    before = list(zip(previous.chunk_langs, previous.chunk_texts, strict=True)) if previous is not None else []
    return build_sentence_vectors(
        list(zip(data.chunk_langs, data.chunk_texts, strict=True)), encoders,
        previous.sentences if previous is not None else None, before, data.multilingual is not None, progress,
    )  # fmt: skip


def dedupe(data: IndexData, config: RetrievalConfig) -> dict[str, Any]:
    """Run the three duplicate detectors over the documents of ``data`` (vectors from their chunks)."""
    ids = sorted(data.documents)
    items = [DedupItem(d.id, d.text, d.lang, d.updated, d.translation_of) for d in (data.documents[i] for i in ids)]
    report = find_duplicates(
        items,
        _doc_vectors(data, ids) if len(data.vectors) else None,
        jaccard_threshold=config.jaccard_threshold,
        cosine_threshold=config.cosine_threshold,
        num_perm=config.minhash_perm,
        review_cosine=config.review_cosine,
    )
    return report.to_dict()


def _drop(data: IndexData, dropped: dict[str, str]) -> IndexData:
    """Remove the chunks of dropped duplicates; their document rows stay, marked with ``duplicate_of``."""
    for doc_id, keep in dropped.items():
        data.documents[doc_id].duplicate_of = keep
    return _without_chunks_of(data, set(dropped))


def _without_chunks_of(data: IndexData, doc_ids: set[str]) -> IndexData:
    """``data`` minus the chunks (and vectors) of ``doc_ids``; the document rows are left as they are."""
    rows = [i for i, doc_id in enumerate(data.chunk_doc_ids) if doc_id not in doc_ids]
    return IndexData(
        manifest=data.manifest,
        documents=data.documents,
        chunk_ids=[data.chunk_ids[i] for i in rows],
        chunk_doc_ids=[data.chunk_doc_ids[i] for i in rows],
        chunk_langs=[data.chunk_langs[i] for i in rows],
        chunk_texts=[data.chunk_texts[i] for i in rows],
        vectors=data.vectors[rows] if rows else data.vectors[:0],
        multilingual=None if data.multilingual is None else data.multilingual[rows] if rows else data.multilingual[:0],
        sentences=None if data.sentences is None else data.sentences.rows(rows),
    )


def delete_documents(
    index_dir: Path,
    doc_ids: Sequence[str],
    config: RetrievalConfig | None = None,
    cache_dir: Path | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Remove documents (and their chunks) by id; unknown ids are an error and nothing is changed.

    The duplicates dropped in favour of a deleted article (``duplicate_of`` it) are chunked, embedded and judged
    again in the same new version, so one of them takes its place (``restored`` in the report); ``cache_dir`` and
    ``embedder`` are used only then.
    """
    with write_lock(index_dir, create=False):
        data = read_version(index_dir, with_search=False)
        unknown = sorted(set(doc_ids) - set(data.documents))
        if unknown:
            raise IndexFault(f"{index_dir}: no document with id {', '.join(unknown)}; nothing was deleted")
        config = config or RetrievalConfig.from_stored(data.manifest.get("config", {}))
        gone = set(doc_ids)
        data.documents = {k: v for k, v in data.documents.items() if k not in gone}
        data = _without_chunks_of(data, gone)
        orphans = sorted(k for k, v in data.documents.items() if v.duplicate_of in gone)
        if orphans:
            embedder = embedder or load_embedder(data.manifest["embedder"], config.embedder_backend, cache_dir)
            data, _, _, _ = _build([], index_dir, data, config, embedder, silent)
        else:
            data.manifest = {
                **data.manifest,
                "documents": sum(1 for d in data.documents.values() if d.duplicate_of is None),
            }
            write_version(index_dir, data, config.hnsw_threshold, config.hnsw_m, config.hnsw_ef_search)
    restored = [k for k in orphans if data.documents[k].duplicate_of is None]
    return {"index": str(index_dir), "deleted": sorted(gone), "documents": data.manifest["documents"],
            "restored": restored}  # fmt: skip
