"""The scope rail: does a message belong to the knowledge base's domain?

Features of a message: its sentence embedding, its cosine to the nearest knowledge-base chunks, its cosine to the
nearest out-of-scope examples, and how much of its vocabulary (stemmed, per language) the knowledge base uses; the
English-centric embedder says little about Spanish, the vocabulary says a lot. A logistic regression on those
features is fitted from what ships and from the index:

- in-scope: sentences and titles of the indexed articles, and the customer turns of the bundled support
  conversations (``data/conversations``: Bitext en, Nimbus es);
- out-of-scope: ``data/scope/clinc150_ood_sample.jsonl`` (CLINC150 train, CC BY 3.0, other-domain intents and
  ``oos``) and ``data/scope/ood_written.jsonl`` (written for this project, es and en). Out-of-scope examples
  closer to this knowledge base than 90 % of the in-scope customer turns are dropped, so a new knowledge base in,
  say, banking does not learn its own domain as out of scope.

Per-language thresholds are chosen on out-of-fold probabilities of the in-scope customer turns (5-fold; the largest
threshold that keeps ``target_recall`` of them); the model itself is fitted on everything. The fitted model is
cached beside the index, keyed on the index version, so a new or re-ingested knowledge base re-fits on first use
with no code change.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graph.scope_kb import MAX_KB_VECTORS, Encode
from retrieval.bundled import bundled_data
from retrieval.text import content_stems, sentences

DATA = bundled_data()
FORMAT = 6
MAX_KB_SENTENCES = 1500
NEGATIVE_CUT_PERCENTILE = 90
TARGET_RECALL = 0.985  # share of in-scope customer turns (out-of-fold) each threshold keeps (see docs/graph.md)


class ScopeError(RuntimeError):
    """The scope rail cannot be fitted or loaded (names the file or the index)."""


@dataclass
class ScopeModel:
    """A fitted scope classifier (see the module docstring)."""

    coef: np.ndarray
    intercept: float
    kb_vectors: np.ndarray
    vocab: dict[str, dict[str, int]]  # lang -> stem -> number of articles using it
    thresholds: dict[str, float]
    meta: dict[str, Any]
    neg_vectors: np.ndarray = field(default_factory=lambda: np.zeros((0, 1), np.float32))  # the kept negatives

    def coverage(self, text: str, lang: str, own: set[str] | None = None) -> float:
        """Share of the content stems of ``text`` that other articles in ``lang`` use (``own``: its article's)."""
        stems = content_stems(text, lang)
        if not stems:
            return 0.0
        vocab = self.vocab.get(lang, {})
        hits = sum(1 for s in stems if vocab.get(s, 0) - (1 if own and s in own else 0) > 0)
        return hits / len(stems)

    def features(
        self,
        vectors: np.ndarray,
        texts: Sequence[str],
        langs: Sequence[str],
        own: Sequence[set[str]] | None = None,
        neg_self: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """The feature rows of ``texts`` (``vectors``: their embeddings).

        ``own``: per row, the stems of its own article (left out of the coverage feature); ``neg_self``: per row,
        its own index in ``neg_vectors`` or -1 (a negative is not its own nearest negative). Both only in fitting.
        """
        top = _top3(vectors, self.kb_vectors)
        neg = _top3(vectors, self.neg_vectors, neg_self)
        cover = np.array(
            [
                self.coverage(t, lang, own[i] if own else None)
                for i, (t, lang) in enumerate(zip(texts, langs, strict=True))
            ],
            dtype=np.float32,
        )
        is_es = np.array([1.0 if lang == "es" else 0.0 for lang in langs], dtype=np.float32)
        extra = np.stack(
            [top[:, 0], top.mean(axis=1), cover, cover * is_es, is_es, neg[:, 0], neg.mean(axis=1)], axis=1
        )
        return np.hstack([vectors, extra * 4.0]).astype(np.float32)  # scaled so the L2 penalty treats them fairly

    def probabilities(self, vectors: np.ndarray, texts: Sequence[str], langs: Sequence[str]) -> np.ndarray:
        """In-scope probabilities of many texts (``vectors``: their embeddings)."""
        rows = self.features(vectors, texts, langs)
        return np.asarray(1.0 / (1.0 + np.exp(-(rows @ self.coef + self.intercept))), dtype=np.float32)

    def score(self, vector: np.ndarray, text: str, lang: str) -> float:
        """Probability in [0, 1] that ``text`` is in scope."""
        return float(self.probabilities(vector[None, :], [text], [lang])[0])

    def threshold(self, lang: str) -> float:
        """The fitted threshold for ``lang`` (the English one for other languages)."""
        return self.thresholds.get(lang, self.thresholds.get("en", 0.5))

    def save(self, path: Path) -> None:
        """Write the model as one ``.npz`` (no pickle), atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        blob = json.dumps({"vocab": self.vocab, "thresholds": self.thresholds, "meta": self.meta}, ensure_ascii=False)
        np.savez(
            tmp,
            coef=self.coef,
            intercept=np.array([self.intercept]),
            kb_vectors=self.kb_vectors,
            neg_vectors=self.neg_vectors,
            blob=np.array(blob),
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ScopeModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            blob = json.loads(str(data["blob"]))
            return cls(data["coef"], float(data["intercept"][0]), data["kb_vectors"], blob["vocab"],
                       blob["thresholds"], blob["meta"], data["neg_vectors"])  # fmt: skip


def _top3(
    vectors: np.ndarray, reference: np.ndarray, self_index: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """The three highest cosines of each row of ``vectors`` to ``reference`` (0 where there is no reference)."""
    if not len(reference):
        return np.zeros((len(vectors), 3), np.float32)
    sims = vectors @ reference.T
    if self_index is not None:
        rows = np.array([i for i, j in enumerate(self_index) if j >= 0], dtype=int)
        sims[rows, np.asarray(self_index)[rows]] = -1.0
    top = -np.sort(-sims, axis=1)[:, :3]
    return np.pad(top, ((0, 0), (0, 3 - top.shape[1])), mode="edge") if top.shape[1] < 3 else top


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, json.JSONDecodeError) as exc:
        raise ScopeError(f"{path}: cannot read the scope training data: {exc}") from exc


def with_typos(text: str, rng: random.Random) -> str:
    """A misspelt copy of ``text`` (dropped vowels, swapped or doubled letters), as customers type on phones."""
    out = []
    for word in text.split():
        if len(word) > 3 and word.isalpha() and rng.random() < 0.5:
            i = rng.randrange(1, len(word) - 1)
            match rng.randrange(3):
                case 0:
                    word = word[:i] + word[i + 1 :]
                case 1:
                    word = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
                case _:
                    word = word[:i] + word[i] + word[i:]
        out.append(word)
    return " ".join(out)


def bundled_examples(data_dir: Path = DATA) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(in-scope customer turns, out-of-scope examples) as (text, lang) pairs from the shipped data."""
    inside: list[tuple[str, str]] = []
    for path in sorted((data_dir / "conversations").glob("*.jsonl")):
        if path.name.startswith(("bitext", "nimbus")):
            for record in _read_jsonl(path):
                inside += [(m["content"], record["lang"]) for m in record["messages"] if m["role"] == "user"]
    rng = random.Random(29)  # plus a misspelt copy of a third of them, so typos do not read as "outside"
    inside += [(with_typos(t, rng), lang) for t, lang in inside if rng.random() < 0.33]
    outside = [(r["text"], "en") for r in _read_jsonl(data_dir / "scope" / "clinc150_ood_sample.jsonl")]
    outside += [(r["text"], r["lang"]) for r in _read_jsonl(data_dir / "scope" / "ood_written.jsonl")]
    return inside, outside


def _kb_material(index_data: Any, rng: random.Random) -> tuple[list[tuple[str, str, set[str]]], np.ndarray]:
    """KB sentences and titles as (text, lang, stems of its article), and the chunk vectors."""
    docs = [d for d in index_data.documents.values() if d.duplicate_of is None]
    items: list[tuple[str, str, set[str]]] = []
    for doc in docs:
        own = set(content_stems(doc.title + " " + doc.text, doc.lang))
        items.append((doc.title, doc.lang, own))
        items += [(s, doc.lang, own) for s in sentences(doc.text) if 4 <= len(s.split()) <= 40]
    titles, rest = items[: len(docs)], items[len(docs) :]
    rest = rng.sample(rest, min(len(rest), MAX_KB_SENTENCES))
    vectors = np.asarray(index_data.vectors, dtype=np.float32)
    if len(vectors) > MAX_KB_VECTORS:
        vectors = vectors[sorted(rng.sample(range(len(vectors)), MAX_KB_VECTORS))]
    return titles + rest, vectors


def _vocab(index_data: Any) -> dict[str, dict[str, int]]:
    vocab: dict[str, dict[str, int]] = {}
    for doc in index_data.documents.values():
        if doc.duplicate_of is None:
            lang_vocab = vocab.setdefault(doc.lang, {})
            for stem in set(content_stems(doc.title + " " + doc.text, doc.lang)):
                lang_vocab[stem] = lang_vocab.get(stem, 0) + 1
    return vocab


def _thresholds(probs: np.ndarray, langs: list[str], target_recall: float) -> dict[str, float]:
    out = {}
    for lang in sorted(set(langs)):
        values = np.sort(probs[[i for i, x in enumerate(langs) if x == lang]])
        out[lang] = float(values[int(np.floor((1 - target_recall) * len(values)))]) if len(values) else 0.5
    return out


def _encode_examples(texts: list[str], encode: Encode, cache: Path | None) -> np.ndarray:
    """Embed the shipped examples, reusing a cached copy (they are the same for every knowledge base)."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"examples-{digest}.npy" if cache is not None else None
    if path is not None and path.exists():
        try:
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape[0] == len(texts):
                return vectors
        except (OSError, ValueError):
            pass
    vectors = encode(texts)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp.npy")
            np.save(tmp, vectors)
            tmp.replace(path)
        except OSError:
            pass
    return vectors


def fit_scope(
    index_data: Any,
    encode: Encode,
    data_dir: Path = DATA,
    target_recall: float = TARGET_RECALL,
    seed: int = 13,
    cache: Path | None = None,
) -> ScopeModel:
    """Fit the scope rail for a knowledge base (``index_data``: :class:`retrieval.store.IndexData`, or the
    :class:`graph.scope_kb.KbMaterial` read from Elasticsearch).

    Args:
        index_data: the loaded index or material (documents and chunk vectors).
        encode: the index's embedder (texts -> unit vectors).
        data_dir: the shipped data folder (conversations and scope examples).
        target_recall: share of held-out in-scope customer turns each language's threshold keeps.
        seed: sampling and split seed.
        cache: folder for the embeddings of the shipped examples (keyed on their text, shared by every index).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    rng = random.Random(seed)
    kb_items, kb_vectors = _kb_material(index_data, rng)
    model = ScopeModel(np.zeros(0), 0.0, kb_vectors, _vocab(index_data), {}, {})
    queries, negatives = bundled_examples(data_dir)
    texts = [t for t, _, _ in kb_items] + [t for t, _ in queries] + [t for t, _ in negatives]
    langs = [lang for _, lang, _ in kb_items] + [lang for _, lang in queries] + [lang for _, lang in negatives]
    own = [o for _, _, o in kb_items] + [set()] * (len(queries) + len(negatives))
    labels = np.array([1] * (len(kb_items) + len(queries)) + [0] * len(negatives))
    kind = np.array([0] * len(kb_items) + [1] * len(queries) + [2] * len(negatives))  # kb, query, negative
    examples = len(kb_items)
    vectors = np.vstack([encode(texts[:examples]), _encode_examples(texts[examples:], encode, cache)])
    # A negative nearer the KB than 90 % of the in-scope customer turns of its language says more about this KB
    # (a banking KB and CLINC150's banking intents) than about "outside": drop it. Per language, because the
    # English-centric embedder puts any Spanish text near the Spanish articles.
    nearest = _top3(vectors, kb_vectors)[:, 0]
    keep = np.ones(len(texts), dtype=bool)
    for lang in sorted(set(langs)):
        mine = np.array([x == lang for x in langs])
        if (mine & (kind == 1)).any():
            cut = float(np.percentile(nearest[mine & (kind == 1)], NEGATIVE_CUT_PERCENTILE))
            keep &= ~((kind == 2) & mine & (nearest >= cut))
    vectors, labels, kind = vectors[keep], labels[keep], kind[keep]
    texts = [x for x, k in zip(texts, keep, strict=True) if k]
    langs = [x for x, k in zip(langs, keep, strict=True) if k]
    own = [x for x, k in zip(own, keep, strict=True) if k]
    # The kept negatives are also a reference set: how near a message is to known out-of-scope examples (each
    # negative's own row left out, so the feature means the same in fitting as at run time).
    model.neg_vectors = vectors[kind == 2]
    neg_self = np.where(kind == 2, np.cumsum(kind == 2) - 1, -1)
    X = model.features(vectors, texts, langs, own, neg_self)

    def classifier() -> Any:
        return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000)

    # Thresholds from out-of-fold probabilities of every in-scope customer turn (5 folds): a fifth held out once
    # gave thresholds that moved with the split (the 1 % quantile of ~430 turns is its 4th-lowest value).
    # One BLAS thread: a few thousand rows by ~400 features is too small to share, and threads waiting on a busy or
    # real-time-scheduled core made these six fits 5-100x slower (12-103 s per refit on 2 cores, 8 s with one
    # thread). It also makes the fit the same whatever the machine's core count (lbfgs's path depends on it).
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    with threadpool_limits(limits=1):
        probs = cross_val_predict(classifier(), X, labels, cv=folds, method="predict_proba")[:, 1]
        final = classifier().fit(X, labels)
    turns = kind == 1
    thresholds = _thresholds(probs[turns], [x for x, t in zip(langs, turns, strict=True) if t], target_recall)
    model.coef, model.intercept = final.coef_[0].astype(np.float32), float(final.intercept_[0])
    model.thresholds = thresholds
    model.meta = {
        "format": FORMAT,
        "kb_examples": int((kind == 0).sum()),
        "query_examples": int((kind == 1).sum()),
        "negatives": int((kind == 2).sum()),
        "negatives_dropped": int((~keep).sum()),
        "target_recall": target_recall,
    }
    return model


def _data_digest(data_dir: Path) -> str:
    digest = hashlib.sha256(str(FORMAT).encode())
    for path in sorted((data_dir / "scope").glob("*.jsonl")) + sorted((data_dir / "conversations").glob("*.jsonl")):
        digest.update(path.name.encode() + str(path.stat().st_size).encode())
    return digest.hexdigest()[:12]


def _cached_fit(candidates: list[Path], fit: Callable[[], ScopeModel]) -> ScopeModel:
    """The model saved at the first readable candidate path, else ``fit()`` saved at the first writable one (older
    models beside it removed)."""
    for path in candidates:
        if path.exists():
            try:
                return ScopeModel.load(path)
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
    model = fit()
    for path in candidates:
        try:
            model.save(path)
            for old in path.parent.glob("scope-*.npz"):
                if old != path:
                    old.unlink(missing_ok=True)
            break
        except OSError:
            continue
    return model


def _key(*parts: str, data_dir: Path = DATA) -> str:
    return hashlib.sha256("|".join([*parts, _data_digest(data_dir)]).encode()).hexdigest()[:16]


def load_or_fit(
    index_dir: Path, index_data: Any, encode: Encode, embedder_name: str, cache_dir: Path, data_dir: Path = DATA
) -> ScopeModel:
    """The cached scope model of this index version, fitting (and caching) it on first use.

    The cache lives in ``index_dir/.scope/`` (or ``cache_dir/scope/`` when the index folder is read-only) and is
    keyed on the index version, the embedder and the shipped training data.
    """
    from retrieval.store import live_version

    version = live_version(index_dir)
    if version is None:
        raise ScopeError(f"{index_dir}: not an index; build one with `supportbot kb ingest`")
    key = _key(version.name, embedder_name, data_dir=data_dir)
    candidates = [index_dir / ".scope" / f"scope-{key}.npz", cache_dir / "scope" / f"scope-{key}.npz"]
    cache = cache_dir / "scope" / embedder_name.replace("/", "_")
    return _cached_fit(candidates, lambda: fit_scope(index_data, encode, data_dir, cache=cache))


def load_or_fit_es(kb: Any, cache_dir: Path, data_dir: Path = DATA) -> ScopeModel:
    """The scope model of an Elasticsearch knowledge base (``retrieval.es_backend.EsKnowledgeBase``), fitted from
    its articles and chunks read from the server (``graph.scope_kb``) and cached in ``cache_dir/scope/es/INDEX/``,
    keyed on the server, the index name, its articles' content hashes, the embedder and the shipped data: an ingest
    that changes the articles refits it on the next start."""
    from graph.scope_kb import es_content_key, fetch_es_material

    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in kb.index_name)
    key = _key(kb.es_url, kb.index_name, es_content_key(kb), kb.embedder.name, data_dir=data_dir)
    cache = cache_dir / "scope" / kb.embedder.name.replace("/", "_")
    return _cached_fit([cache_dir / "scope" / "es" / name / f"scope-{key}.npz"],
                       lambda: fit_scope(fetch_es_material(kb), kb.embedder.encode, data_dir, cache=cache))  # fmt: skip
