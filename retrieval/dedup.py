"""Duplicate detection: exact (normalized hash), near (MinHash-LSH over word shingles, verified Jaccard) and
semantic (SBERT cosine through a FAISS kNN self-join).

Duplicates are looked for within one language only: an article and its translation are linked as translations,
never dropped. Each cluster of duplicates keeps one representative: the newest (``updated``), then the most
complete (longest text), then one in a translation link, then the smallest id. The same code deduplicates
conversations in finetune/.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from retrieval.documents import updated_order
from retrieval.language import strip_accents
from retrieval.text import WORD


@dataclass(frozen=True)
class DedupItem:
    """What dedup needs to know about a document (or a conversation)."""

    id: str
    text: str
    lang: str | None = None
    updated: str | None = None
    translation_of: str | None = None


@dataclass
class DuplicatePair:
    """Two items judged duplicates, with both similarity scores (cosine is None without vectors)."""

    a: str
    b: str
    kind: str  # exact | near | semantic
    jaccard: float
    cosine: float | None


@dataclass
class DedupReport:
    """Every duplicate pair, the clusters they form, and which item each dropped item was folded into."""

    pairs: list[DuplicatePair] = field(default_factory=list)
    clusters: list[dict[str, Any]] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    review: list[dict[str, Any]] = field(default_factory=list)
    translations: list[dict[str, Any]] = field(default_factory=list)
    thresholds: dict[str, float] = field(default_factory=dict)
    # translation_of links that link nothing: to no article, or to one of the article's own language
    broken_links: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "thresholds": self.thresholds,
            "pairs": [asdict(p) for p in self.pairs],
            "clusters": self.clusters,
            "dropped": self.dropped,
            "review": self.review,
            "translations": self.translations,
            "broken_links": self.broken_links,
        }


def normalize(text: str) -> str:
    """Lower-case, accents and punctuation removed, whitespace collapsed: equal after this means exact dup."""
    return " ".join(WORD.findall(strip_accents(text.lower())))


def normalized_hash(text: str) -> str:
    """SHA-256 of :func:`normalize`."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()


def shingles(text: str, size: int = 3) -> set[str]:
    """Word ``size``-grams of the normalized text (the whole text when it is shorter)."""
    words = normalize(text).split()
    if len(words) <= size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """Jaccard similarity of two sets (0 for two empty sets)."""
    return len(a & b) / len(a | b) if a or b else 0.0


def _representative(members: Sequence[DedupItem], linked: set[str]) -> DedupItem:
    # max() keeps the first of equal keys, so among ties the smallest id wins
    # the newest by the moment ``updated`` names, not its text ("2025-03-01T09:00+02:00" is before "2025-03-01T08:00Z");
    # then one in a translation link (``linked``): a copy saved under a new id was kept, its id sorting first, and
    # the article the other language names as its original dropped, the pair no longer folded in search
    return max(
        sorted(members, key=lambda m: m.id), key=lambda m: (updated_order(m.updated), len(m.text), m.id in linked)
    )


def _linked(a: DedupItem, b: DedupItem) -> bool:
    return a.translation_of == b.id or b.translation_of == a.id


def _broken_links(items: Sequence[DedupItem]) -> list[dict[str, str]]:
    """The ``translation_of`` links that name no article of ``items``, or one in the article's own language (a
    misspelt id did nothing; a same-language "twin" hid the article behind the other for questions in the other
    language, and kept the pair from deduplication)."""
    lang_of = {item.id: item.lang for item in items}
    broken = []
    for item in sorted(items, key=lambda i: i.id):
        target = item.translation_of
        if not target or target == item.id:
            continue
        if target not in lang_of:
            broken.append({"id": item.id, "translation_of": target, "problem": "names no article"})
        elif lang_of[target] == item.lang:
            problem = f"is in the same language ({item.lang})"
            broken.append({"id": item.id, "translation_of": target, "problem": problem})
    return broken


def _semantic_candidates(vectors: np.ndarray, threshold: float, neighbours: int) -> list[tuple[int, int, float]]:
    import faiss

    n, dim = vectors.shape
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if n > 20_000:
        index: Any = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 64
    else:
        index = faiss.IndexFlatIP(dim)
    index.add(vectors)
    scores, rows = index.search(vectors, min(neighbours + 1, n))
    found = []
    for i in range(n):
        for score, j in zip(scores[i], rows[i], strict=True):
            if j > i and score >= threshold:
                found.append((i, int(j), float(score)))
    return found


def _near_pairs(shingle_sets: list[set[str]], threshold: float, num_perm: int) -> Iterator[tuple[int, int]]:
    """Pairs ``(j, i)``, ``j < i``, whose shingle sets have a Jaccard of at least ``threshold`` (MinHash LSH)."""
    from datasketch import LeanMinHash, MinHash, MinHashLSH

    # LSH is probabilistic: query it below the threshold, then keep only pairs whose exact Jaccard reaches it.
    lsh = MinHashLSH(threshold=max(0.1, threshold - 0.15), num_perm=num_perm)
    encoded = [[s.encode("utf-8") for s in sorted(members)] for members in shingle_sets]
    hashes = MinHash.bulk(encoded, num_perm=num_perm)
    for i, minhash in enumerate(hashes):
        lean = LeanMinHash(minhash)
        for j in lsh.query(lean):
            if jaccard(shingle_sets[i], shingle_sets[j]) >= threshold:
                yield j, i
        lsh.insert(i, lean)


def _connected(pairs: Iterable[tuple[int, int]], n: int) -> list[list[int]]:
    """The groups of items ``0..n-1`` linked by ``pairs`` (union-find), each in first-seen order."""
    pairs = list(pairs)
    parent = list(range(n))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j in pairs:
        parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i, j in pairs:
        for k in (i, j):
            groups.setdefault(root(k), [])
            if k not in groups[root(k)]:
                groups[root(k)].append(k)
    return list(groups.values())


def find_duplicates(
    items: Sequence[DedupItem],
    vectors: np.ndarray | None = None,
    jaccard_threshold: float = 0.6,
    cosine_threshold: float = 0.93,
    num_perm: int = 128,
    neighbours: int = 10,
    review_cosine: float | None = None,
) -> DedupReport:
    """Find exact, near and semantic duplicates among ``items`` (``vectors[i]`` embeds ``items[i]``, unit norm).

    Pairs of one language with a cosine in [``review_cosine``, ``cosine_threshold``) that are not duplicates
    otherwise are listed in ``report.review`` for a person to judge; they are never dropped.
    """
    report = DedupReport(
        thresholds={"jaccard": jaccard_threshold, "cosine": cosine_threshold, "review_cosine": review_cosine or 0.0}
    )
    report.broken_links = _broken_links(items)
    n = len(items)
    if n < 2:
        return report
    shingle_sets = [shingles(item.text) for item in items]
    cosine = (lambda i, j: float(vectors[i] @ vectors[j])) if vectors is not None else (lambda i, j: None)
    found: dict[tuple[int, int], DuplicatePair] = {}

    def consider(i: int, j: int, kind: str) -> None:
        i, j = min(i, j), max(i, j)
        a, b = items[i], items[j]
        if (i, j) in found or a.lang != b.lang or _linked(a, b):
            return
        first, second = sorted((a.id, b.id))
        found[(i, j)] = DuplicatePair(
            first, second, kind, round(jaccard(shingle_sets[i], shingle_sets[j]), 4), cosine(i, j)
        )

    by_hash: dict[str, int] = {}
    for i, item in enumerate(items):
        key = normalized_hash(item.text)
        if key in by_hash:
            consider(by_hash[key], i, "exact")
        else:
            by_hash[key] = i

    for earlier, later in _near_pairs(shingle_sets, jaccard_threshold, num_perm):
        consider(earlier, later, "near")

    if vectors is not None:
        review_from = min(review_cosine or cosine_threshold, cosine_threshold)
        for i, j, score in _semantic_candidates(vectors, review_from, neighbours):
            if score >= cosine_threshold:
                consider(i, j, "semantic")
            elif (i, j) not in found and items[i].lang == items[j].lang and not _linked(items[i], items[j]):
                a, b = sorted((items[i].id, items[j].id))
                report.review.append({"a": a, "b": b, "cosine": round(score, 4),
                                      "jaccard": round(jaccard(shingle_sets[i], shingle_sets[j]), 4)})  # fmt: skip

    # Translations: linked pairs are reported (never dropped), with their cosine when vectors are given; once
    # each, whichever side links (one side or both) and in whichever order the two come.
    position = {item.id: i for i, item in enumerate(items)}
    linked: set[tuple[str, str]] = set()
    for item in items:
        if item.translation_of in position and item.translation_of != item.id:
            linked.add((min(item.id, item.translation_of), max(item.id, item.translation_of)))
    for a, b in sorted(linked):
        report.translations.append({"a": a, "b": b, "cosine": cosine(position[a], position[b])})

    in_links = {doc_id for pair in linked for doc_id in pair}
    for members in _connected(found, n):
        keep = _representative([items[k] for k in members], in_links)
        others = sorted(items[k].id for k in members if items[k].id != keep.id)
        rule = "newest, then longest, then linked"
        report.clusters.append({"representative": keep.id, "duplicates": others, "rule": rule})
        report.dropped.update(dict.fromkeys(others, keep.id))
    report.pairs = sorted(found.values(), key=lambda p: (p.a, p.b))
    report.clusters.sort(key=lambda c: c["representative"])
    report.review.sort(key=lambda r: -r["cosine"])
    return report
