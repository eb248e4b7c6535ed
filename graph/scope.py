"""The scope rail: does a message belong to the domain of the knowledge base it is served from?

Fitted per knowledge base, from that knowledge base (``graph/scope_questions.py``):

- in scope: the articles' titles and sentences, customer-style questions generated from every article in both
  languages, and the customer turns of the bundled conversations (``data/conversations``) only where they match
  this knowledge base's domain (a turn nearer the articles than most out-of-scope examples);
- out of scope: ``data/scope/clinc150_ood_sample.jsonl`` (CLINC150 train, other-domain intents and ``oos``) and
  ``data/scope/ood_written.jsonl`` (written for this project, es and en), less those nearer the articles than the
  generated questions usually are (a banking knowledge base does not learn CLINC150's banking intents as outside).

Features of a message, in two spaces: the multilingual USE v3 encoder (so Spanish does not rest on the index's
English-centric embedder) and the index's own embedder (the retrieval vector, computed anyway): the cosines to the
nearest knowledge-base sentences and to the nearest out-of-scope examples, plus the share of its content stems the
articles use, and its USE embedding. A balanced logistic regression decides. Per-language thresholds are calibrated
on held-out generated questions (5 folds grouped by article: a fold's articles are unseen by the model that scores
them): the largest threshold that keeps ``TARGET_RECALL`` of them. The model is cached per knowledge-base content,
embedder and shipped data, so an ingest (or a new knowledge base, on either search backend) refits it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from graph.scope_questions import Article, generate_questions, kb_sentences
from retrieval.text import content_stems

DATA = Path(__file__).resolve().parent.parent / "data"
FORMAT = 7
MAX_KB_SENTENCES = 2500
MAX_QUESTIONS = 2400  # per language, over all articles
NEGATIVE_CUT_PERCENTILE = 5  # negatives nearer the KB than 95 % of the generated questions are dropped
TURN_MATCH_PERCENTILE = 90  # a bundled customer turn matches the KB when nearer it than this share of negatives
RAW_USE = True  # the message's USE embedding is a feature too (not only its cosines)
TARGET_RECALL = 0.99  # share of held-out generated questions each threshold keeps (see docs/graph.md)
Encode = Callable[[list[str]], np.ndarray]


class ScopeError(ValueError):
    """The scope rail cannot be fitted or loaded (names the file or the index)."""


def _empty() -> np.ndarray:
    return np.zeros((0, 1), np.float32)


@dataclass
class ScopeModel:
    """A fitted scope classifier (see the module docstring)."""

    coef: np.ndarray
    intercept: float
    vocab: dict[str, dict[str, int]]  # lang -> stem -> number of articles using it
    thresholds: dict[str, float]
    meta: dict[str, Any]
    kb_idx: np.ndarray = field(default_factory=_empty)  # KB titles and sentences, index embedder
    kb_use: np.ndarray = field(default_factory=_empty)  # the same rows, USE
    neg_idx: np.ndarray = field(default_factory=_empty)  # kept out-of-scope examples, index embedder
    neg_use: np.ndarray = field(default_factory=_empty)

    def coverage(self, text: str, lang: str) -> float:
        """Share of the content stems of ``text`` that the articles in ``lang`` use."""
        stems = content_stems(text, lang)
        if not stems:
            return 0.0
        vocab = self.vocab.get(lang, {})
        return sum(1 for s in stems if s in vocab) / len(stems)

    def features(
        self,
        idx: np.ndarray,
        use: np.ndarray,
        texts: Sequence[str],
        langs: Sequence[str],
        kb_self: Sequence[int] | np.ndarray | None = None,
        neg_self: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Feature rows of ``texts`` (``idx``/``use``: their index-embedder and USE vectors).

        ``kb_self``/``neg_self``: per row, a KB or negative reference row to leave out (its own, or the sentence a
        question was made from), -1 for none. Only used when fitting.
        """
        parts = [
            _top3(idx, self.kb_idx, kb_self),
            _top3(use, self.kb_use, kb_self),
            _top3(idx, self.neg_idx, neg_self),
            _top3(use, self.neg_use, neg_self),
        ]
        cover = np.array([self.coverage(t, lang) for t, lang in zip(texts, langs, strict=True)], np.float32)
        is_es = np.array([1.0 if lang == "es" else 0.0 for lang in langs], np.float32)
        near = [np.stack([p[:, 0], p.mean(axis=1)], axis=1) for p in parts]
        margins = np.stack([parts[0][:, 0] - parts[2][:, 0], parts[1][:, 0] - parts[3][:, 0]], axis=1)
        extra = np.hstack([*near, margins, np.stack([cover, cover * is_es, is_es], axis=1)])
        rows = [use, extra * 4.0] if self.meta.get("raw_use", True) else [extra * 4.0]
        return np.hstack(rows).astype(np.float32)  # extras scaled so the L2 penalty treats them fairly

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        """In-scope probabilities of feature rows."""
        return np.asarray(1.0 / (1.0 + np.exp(-(rows @ self.coef + self.intercept))))

    def score(self, vector: np.ndarray, text: str, lang: str, use_vector: np.ndarray | None = None) -> float:
        """Probability in [0, 1] that ``text`` is in scope (``vector``: its index-embedder vector)."""
        if use_vector is None:
            from graph.rails.classifier import use_encode

            use_vector = use_encode([text])[0]
        row = self.features(vector[None, :], use_vector[None, :], [text], [lang])
        return float(self.probabilities(row)[0])

    def threshold(self, lang: str) -> float:
        """The fitted threshold for ``lang`` (the English one for other languages)."""
        return self.thresholds.get(lang, self.thresholds.get("en", 0.5))

    def save(self, path: Path) -> None:
        """Write the model as one ``.npz`` (no pickle), atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npz")
        blob = json.dumps({"vocab": self.vocab, "thresholds": self.thresholds, "meta": self.meta}, ensure_ascii=False)
        np.savez(tmp, coef=self.coef, intercept=np.array([self.intercept]), kb_idx=self.kb_idx, kb_use=self.kb_use,
                 neg_idx=self.neg_idx, neg_use=self.neg_use, blob=np.array(blob))  # fmt: skip
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> ScopeModel:
        """Read a model written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            blob = json.loads(str(data["blob"]))
            if blob["meta"].get("format") != FORMAT:
                raise ValueError(f"{path}: scope model format {blob['meta'].get('format')}, expected {FORMAT}")
            return cls(data["coef"], float(data["intercept"][0]), blob["vocab"], blob["thresholds"], blob["meta"],
                       data["kb_idx"], data["kb_use"], data["neg_idx"], data["neg_use"])  # fmt: skip


def _top3(
    vectors: np.ndarray, reference: np.ndarray, self_index: Sequence[int] | np.ndarray | None = None
) -> np.ndarray:
    """The three highest cosines of each row of ``vectors`` to ``reference`` (0 where there is no reference)."""
    if not len(reference) or not len(vectors):
        return np.zeros((len(vectors), 3), np.float32)
    sims = vectors @ reference.T
    if self_index is not None:
        rows = np.array([i for i, j in enumerate(self_index) if j >= 0], dtype=int)
        sims[rows, np.asarray(self_index)[rows]] = -1.0
    top = -np.sort(-(np.partition(sims, -3, axis=1)[:, -3:] if sims.shape[1] > 3 else sims), axis=1)
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
    """(customer turns of every bundled conversation, out-of-scope examples) as (text, lang) pairs."""
    inside: list[tuple[str, str]] = []
    for path in sorted((data_dir / "conversations").glob("*.jsonl")):
        for record in _read_jsonl(path):
            inside += [(m["content"], record["lang"]) for m in record["messages"] if m["role"] == "user"]
    outside = [(r["text"], "en") for r in _read_jsonl(data_dir / "scope" / "clinc150_ood_sample.jsonl")]
    outside += [(r["text"], r["lang"]) for r in _read_jsonl(data_dir / "scope" / "ood_written.jsonl")]
    return inside, outside


def articles_of(index_data: Any) -> list[Article]:
    """The kept (non-duplicate) articles of a local index (:class:`retrieval.store.IndexData`)."""
    docs = sorted(index_data.documents.values(), key=lambda d: d.id)
    return [Article(d.id, d.title or "", d.text, d.lang or "en") for d in docs if d.duplicate_of is None]


def _vocab(articles: list[Article]) -> dict[str, dict[str, int]]:
    vocab: dict[str, dict[str, int]] = {}
    for article in articles:
        lang_vocab = vocab.setdefault(article.lang, {})
        for stem in set(content_stems(article.title + " " + article.text, article.lang)):
            lang_vocab[stem] = lang_vocab.get(stem, 0) + 1
    return vocab


def _thresholds(probs: np.ndarray, langs: list[str], target_recall: float) -> dict[str, float]:
    out = {}
    for lang in sorted(set(langs)):
        values = np.sort(probs[[i for i, x in enumerate(langs) if x == lang]])
        out[lang] = float(values[int(np.floor((1 - target_recall) * len(values)))]) if len(values) else 0.5
    return out


def encode_cached(texts: list[str], encode: Encode, cache: Path | None, name: str) -> np.ndarray:
    """Embed the shipped examples, reusing a cached copy (they are the same for every knowledge base)."""
    if not texts:
        return np.zeros((0, 1), np.float32)
    digest = hashlib.sha256("\n".join([name, *texts]).encode()).hexdigest()[:16]
    path = cache / f"examples-{digest}.npy" if cache is not None else None
    if path is not None and path.exists():
        try:
            vectors = np.load(path, allow_pickle=False)
            if vectors.shape[0] == len(texts):
                return vectors
        except (OSError, ValueError):
            pass
    vectors = np.asarray(encode(texts), np.float32)
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
    articles: list[Article],
    encode: Encode,
    data_dir: Path = DATA,
    target_recall: float = TARGET_RECALL,
    seed: int = 13,
    cache: Path | None = None,
    use: Encode | None = None,
    conversations: bool = True,
) -> ScopeModel:
    """Fit the scope rail for a knowledge base.

    Args:
        articles: its kept articles (:func:`articles_of`, or read from Elasticsearch).
        encode: the index's embedder (texts -> unit vectors).
        data_dir: the shipped data folder (conversations and scope examples).
        target_recall: share of held-out generated questions each language's threshold keeps.
        seed: sampling and fold seed.
        cache: folder for embeddings (keyed on the texts: the shipped examples are shared by every index).
        use: the multilingual encoder (default: USE v3 of ``graph.rails.classifier``).
        conversations: use the bundled conversations' customer turns that match this knowledge base's domain.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict

    if not articles:
        raise ScopeError("the knowledge base has no articles to fit the scope rail from")
    if use is None:
        from graph.rails.classifier import use_encode

        use = use_encode
    rng = random.Random(seed)
    kb = kb_sentences(articles, MAX_KB_SENTENCES, rng)
    questions = generate_questions(kb, max(2, min(12, math.ceil(MAX_QUESTIONS / len(articles)))), seed=seed)
    turns, negatives = bundled_examples(data_dir)
    turns = turns if conversations else []
    kb_texts, q_texts = [e.text for e in kb], [e.text for e in questions]
    use_name = getattr(use, "__name__", "use")
    model = ScopeModel(np.zeros(0), 0.0, _vocab(articles), {}, {"raw_use": RAW_USE})
    model.kb_idx, model.kb_use = encode_cached(kb_texts, encode, cache, "idx"), encode_cached(kb_texts, use, cache,
                                                                                              use_name)  # fmt: skip
    q_idx, q_use = encode_cached(q_texts, encode, cache, "idx"), encode_cached(q_texts, use, cache, use_name)
    turn_texts, neg_texts = [t for t, _ in turns], [t for t, _ in negatives]
    t_idx, t_use = encode_cached(turn_texts, encode, cache, "idx"), encode_cached(turn_texts, use, cache, use_name)
    n_idx, n_use = encode_cached(neg_texts, encode, cache, "idx"), encode_cached(neg_texts, use, cache, use_name)
    if not turns:
        t_idx, t_use = np.zeros((0, n_idx.shape[1]), np.float32), np.zeros((0, n_use.shape[1]), np.float32)
    # How near the articles each text is (USE, language-neutral): a question leaves out the sentence it came from.
    q_near = _top3(q_use, model.kb_use, [e.source for e in questions])[:, 0]
    n_near, t_near = _top3(n_use, model.kb_use)[:, 0], _top3(t_use, model.kb_use)[:, 0]
    keep_neg = n_near < np.percentile(q_near, NEGATIVE_CUT_PERCENTILE)
    keep_turn = t_near >= np.percentile(n_near, TURN_MATCH_PERCENTILE) if len(turns) else np.zeros(0, bool)
    kept_turns = [turns[i] for i in np.flatnonzero(keep_turn)]
    rng_typos = random.Random(seed + 1)  # misspelt copies of a third of the matched turns: typos are not "outside"
    typo = [(with_typos(t, rng_typos), lang) for t, lang in kept_turns if rng_typos.random() < 0.33]
    typo_idx = np.asarray(encode([t for t, _ in typo]), np.float32) if typo else np.zeros((0, n_idx.shape[1]))
    typo_use = np.asarray(use([t for t, _ in typo]), np.float32) if typo else np.zeros((0, n_use.shape[1]))
    model.neg_idx, model.neg_use = n_idx[keep_neg], n_use[keep_neg]
    kept_negs = [negatives[i] for i in np.flatnonzero(keep_neg)]

    texts = kb_texts + q_texts + [t for t, _ in kept_turns + typo] + [t for t, _ in kept_negs]
    langs = [e.lang for e in kb] + [e.lang for e in questions] + [lang for _, lang in kept_turns + typo]
    langs += [lang for _, lang in kept_negs]
    idx = np.vstack([model.kb_idx, q_idx, t_idx[keep_turn], typo_idx, model.neg_idx]).astype(np.float32)
    use_rows = np.vstack([model.kb_use, q_use, t_use[keep_turn], typo_use, model.neg_use]).astype(np.float32)
    n_turns, n_neg = len(kept_turns) + len(typo), len(kept_negs)
    kind = np.array([0] * len(kb) + [1] * len(questions) + [2] * n_turns + [3] * n_neg)  # kb, question, turn, neg
    labels = (kind != 3).astype(int)
    kb_self = np.array([e.source for e in kb] + [e.source for e in questions] + [-1] * (n_turns + n_neg))
    neg_self = np.array([-1] * (len(kb) + len(questions) + n_turns) + list(range(n_neg)))
    X = model.features(idx, use_rows, texts, langs, kb_self, neg_self)
    # Folds grouped by article, so a held-out question's article taught its model nothing; the shipped examples
    # spread over the folds at random.
    groups = np.array([e.article for e in kb] + [e.article for e in questions] + [
        len(articles) + rng.randrange(5) for _ in range(n_turns + n_neg)])  # fmt: skip

    def classifier() -> Any:
        return LogisticRegression(C=1.0, class_weight="balanced", max_iter=3000)

    folds = GroupKFold(n_splits=min(5, len(set(groups.tolist()))))
    probs = cross_val_predict(classifier(), X, labels, cv=folds, groups=groups, method="predict_proba")[:, 1]
    held = kind == 1
    held_langs = [x for x, h in zip(langs, held, strict=True) if h]
    model.thresholds = _thresholds(probs[held], held_langs, target_recall)
    sweep = {str(r): _thresholds(probs[held], held_langs, r) for r in (0.95, 0.97, 0.98, 0.985, 0.99)}
    final = classifier().fit(X, labels)
    model.coef, model.intercept = final.coef_[0].astype(np.float32), float(final.intercept_[0])
    model.meta = {
        "format": FORMAT,
        "raw_use": RAW_USE,
        "articles": len(articles),
        "kb_sentences": len(kb),
        "questions": len(questions),
        "conversation_turns": len(kept_turns),
        "conversation_turns_offered": len(turns),
        "negatives": n_neg,
        "negatives_dropped": int((~keep_neg).sum()),
        "target_recall": target_recall,
        "thresholds_at": sweep,  # the threshold each held-out share would give (docs/graph.md's sweep)
    }
    return model


def kb_digest(articles: list[Article]) -> str:
    """A key of the knowledge base's content (what the scope rail is fitted from)."""
    digest = hashlib.sha256()
    for a in articles:
        digest.update("\x1f".join([a.id, a.lang, a.title, a.text]).encode() + b"\x1e")
    return digest.hexdigest()[:16]


def _data_digest(data_dir: Path) -> str:
    digest = hashlib.sha256(str(FORMAT).encode())
    for path in sorted((data_dir / "scope").glob("*.jsonl")) + sorted((data_dir / "conversations").glob("*.jsonl")):
        digest.update(path.name.encode() + str(path.stat().st_size).encode())
    return digest.hexdigest()[:12]


def cached_or_fit(
    articles: list[Article], encode: Encode, embedder_name: str, folders: Sequence[Path], cache_dir: Path,
    data_dir: Path = DATA,
) -> ScopeModel:  # fmt: skip
    """The cached scope model of this knowledge-base content, fitting (and caching in the first writable of
    ``folders``) on a miss; a stale model in those folders is removed."""
    key = hashlib.sha256(f"{kb_digest(articles)}|{embedder_name}|{_data_digest(data_dir)}".encode()).hexdigest()[:16]
    for folder in folders:
        path = folder / f"scope-{key}.npz"
        if path.exists():
            try:
                return ScopeModel.load(path)
            except (OSError, ValueError, KeyError):
                path.unlink(missing_ok=True)
    model = fit_scope(articles, encode, data_dir, cache=cache_dir / "scope" / embedder_name.replace("/", "_"))
    for folder in folders:
        path = folder / f"scope-{key}.npz"
        try:
            model.save(path)
            for old in folder.glob("scope-*.npz"):
                if old != path:
                    old.unlink(missing_ok=True)
            break
        except OSError:
            continue
    return model


def load_or_fit(
    index_dir: Path, index_data: Any, encode: Encode, embedder_name: str, cache_dir: Path, data_dir: Path = DATA
) -> ScopeModel:
    """The scope model of a local index (``index_data``: its loaded version; read from ``index_dir`` when None),
    cached in ``index_dir/.scope/`` (or ``cache_dir/scope/`` when the index folder is read-only)."""
    from retrieval.store import IndexFault, read_version

    if index_data is None:
        try:
            index_data = read_version(Path(index_dir), with_search=False)
        except IndexFault as exc:
            raise ScopeError(str(exc)) from exc
    folders = [Path(index_dir) / ".scope", Path(cache_dir) / "scope"]
    return cached_or_fit(articles_of(index_data), encode, embedder_name, folders, Path(cache_dir), data_dir)


def es_articles(kb: Any) -> list[Article]:
    """The kept articles of an Elasticsearch knowledge base (:class:`retrieval.es_backend.EsKnowledgeBase`)."""
    from elasticsearch import helpers

    from retrieval.es_backend import docs_index, es_errors

    with es_errors(kb.es_url):
        hits = helpers.scan(kb.es, index=docs_index(kb.index_name), _source=["id", "title", "text", "lang",
                                                                               "duplicate_of"])  # fmt: skip
        rows = [hit["_source"] for hit in hits]
    kept = sorted((r for r in rows if r.get("duplicate_of") is None), key=lambda r: str(r.get("id")))
    return [Article(str(r["id"]), r.get("title") or "", r.get("text") or "", r.get("lang") or "en") for r in kept]


def scope_for(kb: Any, index: str | Path, cache_dir: Path, data_dir: Path = DATA) -> ScopeModel:
    """The scope model of an open knowledge base of either search backend, fitted from the articles it serves."""
    if getattr(kb, "data", None) is not None:  # the local FAISS index
        return load_or_fit(Path(index), kb.data, kb.embedder.encode, kb.embedder.name, cache_dir, data_dir)
    if hasattr(kb, "es"):
        folder = Path(cache_dir) / "scope" / "es" / hashlib.sha256(f"{kb.es_url}|{index}".encode()).hexdigest()[:16]
        return cached_or_fit(es_articles(kb), kb.embedder.encode, kb.embedder.name, [folder], Path(cache_dir), data_dir)
    raise ScopeError(f"no scope rail for a knowledge base of type {type(kb).__name__}")
