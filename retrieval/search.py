"""Hybrid search over a local index: dense (FAISS) and lexical (BM25) rankings fused (retrieval.fusion).

Results are articles (the best chunk of each), and a query in one language prefers the article in that language
when its translation is also indexed: the pair is folded into the query-language twin.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.config import RetrievalConfig
from retrieval.embeddings import Embedder, is_bilingual, load_embedder
from retrieval.fusion import Signals, fuse, rrf
from retrieval.language import detect_language
from retrieval.lexicon import OTHER, content_terms, load_lexicon
from retrieval.multilingual import encode as encode_multilingual
from retrieval.spelling import Speller
from retrieval.store import IndexData, read_version
from retrieval.text import content_stems, has_words, words

# Below this share of indexed articles in the query's language, fusion uses its 'cross' weights: a bilingual index
# (about half each) is not cross-language, an English-only index asked in Spanish is. An index with a Spanish
# minority (16 % among 10,000 English texts) searches a Spanish query as Spanish: at 0.25 the cross weights (USE
# 0.6) ranked English customer questions above the Spanish article (docs/retrieval.md, "Mixed-language indexes").
CROSS_SHARE = 0.10


@lru_cache(maxsize=8192)
def _folded_stems(text: str, lang: str) -> frozenset[str]:
    """Content stems of ``text`` with accents folded (a customer's "revision" is the article's "revisión")."""
    return frozenset(content_stems(" ".join(words(text)), lang))


__all__ = ["KnowledgeBase", "SearchResult", "Signals", "fuse", "rank_articles", "rrf"]


@dataclass
class SearchResult:
    """One article found for a query, represented by its best-matching chunk."""

    doc_id: str
    chunk_id: str
    score: float
    lang: str
    title: str
    text: str
    url: str | None = None
    tags: list[str] = field(default_factory=list)
    dense_score: float = 0.0  # cosine of the query and this chunk: an absolute relevance signal for the rails

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the contract's fields first)."""
        return asdict(self)


def _search_one(index: Any, vector: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS search of one query vector on one OpenMP thread.

    One query gains nothing from FAISS's thread team, and on shared cores the team waits for a busy core: 10k-chunk
    flat search p50 93 -> 22 ms with 1 thread on the loaded 2-core machine (docs/retrieval.md). The setting is the
    calling thread's own (an OpenMP ICV), restored after.
    """
    import faiss

    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(vector[None, :].astype(np.float32), k)
    finally:
        faiss.omp_set_num_threads(previous)


def chunk_position(chunk_id: str, default: int) -> int:
    """The place of a chunk in its article, from its id ("track-order-en#2" -> 2), else ``default``."""
    tail = chunk_id.rpartition("#")[2]
    return int(tail) if tail.isdigit() else default


def rank_articles(
    fused: dict[int, float],
    doc_of: Callable[[int], str],
    lang_of: Callable[[str], str],
    twin_of: Mapping[str, str],
    prefer: str | None,
    best_chunk: Callable[[str], int],
) -> list[tuple[str, float, int]]:
    """Collapse fused chunk scores into articles, folding each article into its twin in the preferred language.

    Shared by every backend so that they rank alike.

    Args:
        fused: chunk row -> fused score (:func:`retrieval.fusion.fuse`).
        doc_of: the article id of a chunk row.
        lang_of: the language of an article that has a row in ``fused``.
        twin_of: article id -> id of its indexed translation (both kept by dedup).
        prefer: the language to fold translations into; None keeps every article as retrieved.
        best_chunk: the row of an article's own best-matching chunk, for a twin that was not retrieved itself.

    Returns:
        (article id, score, row of its representative chunk), best first.
    """
    best: dict[str, tuple[float, int]] = {}  # doc_id -> (fused score, best chunk row)
    for row, score in fused.items():
        doc_id = doc_of(row)
        if doc_id not in best or score > best[doc_id][0]:
            best[doc_id] = (score, row)
    if prefer is not None:
        for doc_id in list(best):
            twin = twin_of.get(doc_id)
            if twin is None or doc_id not in best or lang_of(doc_id) == prefer:
                continue
            score, row = best.pop(doc_id)
            if twin in best:
                best[twin] = (max(best[twin][0], score), best[twin][1])
            else:  # the twin was not retrieved itself: represent it by its own best-matching chunk
                best[twin] = (score, best_chunk(twin))
    return [(doc_id, score, row) for doc_id, (score, row) in sorted(best.items(), key=lambda item: -item[1][0])]


class KnowledgeBase:
    """A loaded index, ready to search. Load once per process; searching is read-only and thread-safe."""

    def __init__(self, data: IndexData, embedder: Embedder, config: RetrievalConfig) -> None:
        self.data = data
        self.embedder = embedder
        self.config = config
        self.twin_of: dict[str, str] = {}  # both ways: translation_of may be set on one side only
        for doc in data.documents.values():
            twin = data.documents.get(doc.translation_of or "")
            if twin is not None and twin.duplicate_of is None and doc.duplicate_of is None:
                self.twin_of[doc.id] = twin.id
                self.twin_of.setdefault(twin.id, doc.id)
        live = [doc.lang for doc in data.documents.values() if doc.duplicate_of is None]
        self.language_share = {lang: live.count(lang) / len(live) for lang in set(live)} if live else {}
        self.lexicon = load_lexicon(config.lexicon)
        self.bilingual = is_bilingual(data.manifest.get("embedder", config.embedder))
        # USE multilingual vectors: the dense list of Spanish and cross-language queries (not for a bilingual
        # student, whose own dense ranking crosses languages; not for an index written without them).
        use_multilingual = config.multilingual_dense and not self.bilingual and data.multilingual is not None
        self.multilingual: Any = None  # exact FAISS index over the USE vectors, searched on one thread like MiniLM's
        if use_multilingual and data.multilingual is not None:
            import faiss

            self.multilingual = faiss.IndexFlatIP(data.multilingual.shape[1])
            self.multilingual.add(np.ascontiguousarray(data.multilingual, dtype=np.float32))
        self.rows_of: dict[str, list[int]] = {}  # article id -> its chunk rows (a twin's best chunk, without a scan)
        self.row_of_chunk = {chunk_id: row for row, chunk_id in enumerate(data.chunk_ids)}
        for row, doc_id in enumerate(data.chunk_doc_ids):
            self.rows_of.setdefault(doc_id, []).append(row)
        self._titles: tuple[list[str], np.ndarray, np.ndarray | None] | None = None  # see title_vectors
        self._foreign: dict[str, np.ndarray] = {}  # query language -> see foreign_rows
        self._speller: Speller | None = None  # see speller
        self._titles_lock = threading.Lock()

    def sentence_vectors(self, chunk_id: str) -> tuple[str, np.ndarray] | None:
        """The encoder and the stored vectors of a chunk's sentences (:mod:`retrieval.sentences`); None for an
        unknown chunk or an index stored without them."""
        row = self.row_of_chunk.get(chunk_id)
        return None if row is None or self.data.sentences is None else self.data.sentences.of(row)

    def chunk_cosine(self, chunk_a: str, chunk_b: str) -> float | None:
        """How near two chunks' meanings are, across languages: the cosine of their stored USE multilingual vectors;
        None for an unknown chunk or an index stored without them."""
        a, b = self.row_of_chunk.get(chunk_a), self.row_of_chunk.get(chunk_b)
        if a is None or b is None or self.data.multilingual is None:
            return None
        return float(self.data.multilingual[a] @ self.data.multilingual[b])

    def title_vectors(self) -> tuple[list[str], np.ndarray, np.ndarray | None]:
        """(article ids, their titles' vectors by the index's embedder, and by USE multilingual when the index
        searches with it) of every kept, titled article: encoded on first use, by the embedder the chunks were
        (so a distilled student's index gets its own), not stored in the index."""
        with self._titles_lock:
            if self._titles is None:
                docs = [d for d in self.data.documents.values()
                        if d.duplicate_of is None and (d.title or "").strip() and d.id in self.rows_of]  # fmt: skip
                titles = [d.title for d in docs]
                main = self.embedder.encode(titles) if titles else np.zeros((0, 1), np.float32)
                use = encode_multilingual(titles) if titles and self.multilingual is not None else None
                self._titles = ([d.id for d in docs], main, use)
            return self._titles

    def speller(self) -> Speller | None:
        """The index's words for misspelt query words (:mod:`retrieval.spelling`), built on first use; None when
        ``RetrievalConfig.spelling`` is off."""
        if not self.config.spelling:
            return None
        if self._speller is None:  # a benign race: two threads build the same speller
            documents = self.data.documents
            titles = ((d.title or "", d.lang or "") for d in documents.values() if d.duplicate_of is None)
            chunks = ((text, documents[doc_id].lang or "") for text, doc_id in
                      zip(self.data.chunk_texts, self.data.chunk_doc_ids, strict=True))  # fmt: skip
            known: dict[str, set[str]] = {}
            if self.lexicon is not None:  # the lexicon's stems are real words of each language (stsb, the KB)
                for lang, rows in self.lexicon.table.items():
                    known.setdefault(lang, set()).update(rows)
                    known.setdefault(OTHER[lang], set()).update(t for targets in rows.values() for t, _ in targets)
            if self.data.lexical is not None:  # the index's own stems: another form of a word it has
                for lang in OTHER:
                    known.setdefault(lang, set()).update(self.data.lexical.vocab)
            self._speller = Speller([*chunks, *titles], known)
        return self._speller

    def holds_words(self, query: str, lang: str, least: int = 2) -> bool:
        """Whether one chunk of the index uses every content word of ``query`` (at least ``least`` of them, numbers
        aside; stemmed, accents folded): "¿Qué incluye la revisión completa?" against "Una revisión completa cuesta 80
        euros e incluye...". The candidates are the query's best BM25 chunks."""
        wanted = set(_folded_stems(query, lang))
        wanted = {w for w in wanted if not w.isdigit()}
        lexical = self.data.lexical
        if len(wanted) < least or lexical is None:
            return False
        rows, _ = lexical.search(query, lang, k=5)
        return any(wanted <= _folded_stems(self.data.chunk_texts[int(row)], lang) for row in rows)

    def lexical_query(self, query: str, qlang: str | None) -> str:
        """``query`` with, after it, the index's nearest word to each of its words the index does not have (a typo,
        a missing accent the stemmer keeps: "debolucion gratis" -> "debolucion gratis devolucion"): BM25's text."""
        speller = self.speller()
        fixes = speller.corrections(query, qlang) if speller is not None else []
        return f"{query} {' '.join(fixes)}" if fixes else query

    def translations(self, query: str, qlang: str | None) -> list[str]:
        """BM25 terms in the other language for ``query``: broad when few articles are in the query's language."""
        if self.lexicon is None or qlang not in OTHER:
            return []
        config = self.config
        if self.language_share.get(qlang, 0.0) < 0.5:  # mostly the other language: translation carries the search
            top, min_prob = config.cross_expand_top, config.cross_expand_min_prob
        else:
            top, min_prob = config.expand_top, config.expand_min_prob
        return self.lexicon.translate(content_terms(query, qlang), qlang, top, min_prob)

    @classmethod
    def open(
        cls, index_dir: Path, cache_dir: Path | None = None, config: RetrievalConfig | None = None
    ) -> KnowledgeBase:
        """Load the live version of ``index_dir`` with the embedder that built it."""
        data = read_version(index_dir)
        stored = RetrievalConfig.from_stored(data.manifest.get("config", {}))
        if config is not None:  # search-time knobs may be overridden; the embedder never is
            stored = RetrievalConfig(**{**asdict(config), "embedder": stored.embedder})
        backend = config.embedder_backend if config is not None else data.manifest.get("embedder_backend", "auto")
        embedder = load_embedder(data.manifest["embedder"], backend, cache_dir)
        return cls(data, embedder, stored)

    @property
    def size(self) -> int:
        """Number of indexed chunks."""
        return len(self.data.chunk_ids)

    def search(
        self,
        query: str,
        k: int = 5,
        lang: str | None = None,
        tags: list[str] | None = None,
        query_lang: str | None = None,
    ) -> list[SearchResult]:
        """The ``k`` best articles for ``query``, optionally only in ``lang`` and carrying one of ``tags``; none for a
        query without a letter or a digit (only spaces or punctuation, such as '¿?¡!': it got arbitrary articles)."""
        query = query.strip()
        if not has_words(query) or self.size == 0:
            return []
        vector = self.embedder.encode([query])
        return self.search_vector(query, vector[0], k, lang, tags, query_lang)

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
        """:meth:`search` with the query already embedded (batch callers embed many queries at once). ``prefer``: the
        language whose version of an article is shown (default: the query's), for a customer who writes in one
        language and asked to be answered in the other."""
        config = self.config
        filtered = lang is not None or bool(tags)
        signals = self.signals(query, vector, config.candidates * (4 if filtered else 1), query_lang)
        qlang = signals.qlang
        fused = config.fuse(signals)
        dense_scores = {}  # dense_score is the index embedder's cosine (the rails' thresholds read that scale)
        if not signals.multilingual:
            dense_scores = dict(zip(signals.dense_rows.tolist(), signals.dense_scores.tolist(), strict=True))

        ranked = self.articles(fused, vector, lang or prefer or qlang)  # an explicit language filter is the one wanted
        results = []
        for doc_id, score, row in ranked:
            doc = self.data.documents[doc_id]
            if lang is not None and doc.lang != lang:
                continue
            if tags and not set(tags) & set(doc.tags):
                continue
            dense = dense_scores.get(row)
            results.append(
                SearchResult(
                    doc_id=doc_id,
                    chunk_id=self.data.chunk_ids[row],
                    score=round(score, 6),
                    lang=doc.lang,
                    title=doc.title,
                    text=self.data.chunk_texts[row],
                    url=doc.url,
                    tags=doc.tags,
                    dense_score=round(dense if dense is not None else float(self.data.vectors[row] @ vector), 6),
                )
            )
            if len(results) == k:
                break
        return results

    def articles(self, fused: dict[int, float], vector: np.ndarray, prefer: str | None) -> list[tuple[str, float, int]]:
        """Fused chunk scores -> (article id, score, chunk row), best first, twins folded into ``prefer``."""
        return rank_articles(
            fused,
            doc_of=self.data.chunk_doc_ids.__getitem__,
            lang_of=lambda doc_id: self.data.documents[doc_id].lang,
            twin_of=self.twin_of,
            prefer=prefer if self.config.prefer_query_language else None,
            best_chunk=lambda twin: self._best_chunk(twin, vector),
        )

    def uses_multilingual(self, qlang: str | None, cross: bool) -> bool:
        """Whether a query in ``qlang`` takes its dense list from the USE multilingual vectors: one detected as
        Spanish, or in a language rare in the index. A query with no detectable language (a phone number, a name)
        keeps the index embedder's list."""
        return self.multilingual is not None and qlang is not None and (cross or qlang == "es")

    def signals(self, query: str, vector: np.ndarray, candidates: int, query_lang: str | None = None) -> Signals:
        """The dense and BM25 candidate chunks for ``query`` (``vector`` is its embedding), before fusion.

        A Spanish or cross-language query's dense list comes from the USE multilingual vectors when the index has
        them (the query is encoded with USE here); every other query's from the index's embedder (FAISS).
        """
        candidates = min(self.size, candidates)
        qlang = query_lang or detect_language(query)
        cross = self.language_share.get(qlang or "", 0.0) < CROSS_SHARE
        multilingual = self.uses_multilingual(qlang, cross)
        speller = self.speller() if multilingual else None
        # USE reads "debolucion" poorly too: its list (and its titles') are of the query with the fixes in place
        use_text = speller.corrected(query, qlang) if speller is not None else query
        if multilingual:
            scores, rows = _search_one(self.multilingual, encode_multilingual([use_text])[0], candidates)
        else:
            scores, rows = _search_one(self.data.faiss_index, vector, candidates)
        keep = rows[0] >= 0
        dense_rows, dense_scores = rows[0][keep].astype(np.int64), scores[0][keep]
        assert self.data.lexical is not None
        lexical = self.lexical_query(query, qlang)
        lexical_rows, lexical_scores = self.data.lexical.search(
            lexical, qlang, candidates, self.translations(lexical, qlang)
        )
        signals = Signals(
            dense_rows, dense_scores, lexical_rows, lexical_scores, qlang, cross, self.bilingual, multilingual
        )
        if self.config.fusion_title_weight > 0:
            signals.title_rows, signals.title_scores = self._title_list(use_text, vector, multilingual, candidates)
        foreign = self.foreign_rows(qlang) if not multilingual and self.config.fusion_foreign_weight > 0 else None
        if foreign is not None:
            scores, rows = _search_one(self.multilingual, encode_multilingual([query])[0], candidates)
            keep = rows[0] >= 0
            signals.foreign_rows, signals.foreign_scores = rows[0][keep].astype(np.int64), scores[0][keep]
            signals.foreign_keep = foreign[signals.foreign_rows]
            if self.config.fusion_title_weight > 0:
                rows, scores = self._title_list(query, vector, True, candidates)
                signals.foreign_title_rows, signals.foreign_title_scores = rows, scores
                signals.foreign_title_keep = foreign[rows]
        return signals

    def foreign_rows(self, qlang: str | None) -> np.ndarray | None:
        """Which chunk rows belong to articles with no version in ``qlang`` (in another language, no twin in
        ``qlang``): what a query in ``qlang`` cannot find by the English embedder's dense list. None when there are
        none, or the index has no USE multilingual vectors to find them by."""
        if self.multilingual is None or qlang is None:
            return None
        if qlang not in self._foreign:  # a benign race: two threads compute the same mask
            documents = self.data.documents
            twin_of = self.twin_of
            reachable = {
                doc_id: doc.lang == qlang or (doc_id in twin_of and documents[twin_of[doc_id]].lang == qlang)
                for doc_id, doc in documents.items()
            }
            self._foreign[qlang] = np.array([not reachable[d] for d in self.data.chunk_doc_ids], bool)
        mask = self._foreign[qlang]
        return mask if mask.any() else None

    def _title_list(
        self, query: str, vector: np.ndarray, multilingual: bool, candidates: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``candidates`` articles whose titles are nearest the query (rows of their best chunks, cosines), by
        the embedder of the dense list."""
        docs, main, use = self.title_vectors()
        if not docs:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        # a Spanish or cross-language query: USE, whose encoding of the query the dense list left in its cache
        scores = use @ encode_multilingual([query])[0] if multilingual and use is not None else main @ vector
        top = np.argsort(-scores, kind="stable")[:candidates]
        rows = np.array([self._best_chunk(docs[i], vector) for i in top], np.int64)
        return rows, scores[top].astype(np.float32)

    def _best_chunk(self, doc_id: str, vector: np.ndarray) -> int:
        return max(self.rows_of[doc_id], key=lambda i: float(self.data.vectors[i] @ vector))

    def search_batch(self, queries: list[str], k: int = 5) -> list[list[SearchResult]]:
        """Search many queries, embedding them in batches."""
        vectors = self.embedder.encode(queries) if queries else np.zeros((0, 1), np.float32)
        return [self.search_vector(q, v, k) if has_words(q) else [] for q, v in zip(queries, vectors, strict=True)]

    def article_chunks(self, doc_id: str) -> list[tuple[str, str]]:
        """(chunk id, text) of every chunk of an article, in the article's order ([] when unknown)."""
        rows = sorted(self.rows_of.get(doc_id, []), key=lambda row: chunk_position(self.data.chunk_ids[row], row))
        return [(self.data.chunk_ids[row], self.data.chunk_texts[row]) for row in rows]

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """A stored article by id (None when unknown)."""
        doc = self.data.documents.get(doc_id)
        return asdict(doc) if doc is not None else None
