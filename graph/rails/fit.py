"""Fit the learned input rails (``graph.rails.classifier``) and load the material they are fitted and judged on.

``python -m graph.rails.fit [--shared ../shared/datasets] [--encoder use|minilm] [--out data/rails/input_rails.npz]``

Fitted on: ``data/rails/train.jsonl`` (attacks in eight languages, abuse, discriminatory requests, hard negatives,
written for this project), ``data/rails/train_attacks2.jsonl`` (a second batch of attacks by another author) and
``data/rails/train_customers.jsonl`` (ordinary customers of eight kinds of business, es and en, many using the words
attacks use: "ignoren la dirección anterior", "admin", "reglas"; written by a third author),
``data/rails/train_mentions.jsonl`` (customers who name a group: complaints quoting a remark, their own age, faith or
disability, accessibility needs; a fourth author), ``data/rails/train_bias2.jsonl`` (polite and coded discriminatory
requests and near-neighbour customers, es, en and four more languages; a fifth author),
``data/rails/train_letters.jsonl`` (customers writing formal letters and e-mails, "Dear Sir or Madam, I am writing
to...", es and en: they were refused as injections) with ``data/rails/train_letters_attacks.jsonl`` (injections and
discriminatory requests dressed as such letters, so formality itself teaches nothing; two more authors, 2026-12-07),
``data/rails/train_details.jsonl`` (customers giving their own personal data, raw and as placeholders, with attempts
to get other customers' data in the same words; dev: ``dev_details.jsonl``, another author), and real customer messages
as negatives: the customer turns of ``data/conversations`` (shipped) and, when ``--shared`` has them, Banking77 train
(even rows), Bitext instructions (even rows), CLINC150 **train** (a sample, out-of-scope queries included), SGD train
user turns and STS-B train sentences (es, en). Never
fitted on: ``data/rails/dev.jsonl`` (written separately, other wording), Banking77 odd rows, Bitext odd rows,
CLINC150 val, NLU++: ``benchmarks/rails.py`` reports on those. Each rail's threshold is chosen on out-of-fold
probabilities of the fitting data (5 folds): the lowest that refuses at most ``MAX_NEG_REFUSAL`` of the real
messages and at most ``MAX_HARD_REFUSAL`` of the written hard negatives (two budgets, as the issue has two targets).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from graph.rails.classifier import (
    NGRAM_BITS,
    RAILS,
    WEIGHTS,
    Encode,
    InputRailModel,
    char_ngrams,
    clip,
    features,
    use_encode,
)
from retrieval.bundled import bundled_data

DATA = bundled_data()
CLASSES = ("none", *RAILS)
MAX_NEG_REFUSAL = 0.0015  # out-of-fold share of the real fitting messages a threshold may refuse
MAX_HARD_REFUSAL = 0.05  # ... and of the written hard negatives (hard by design: the target is 5 %)
MIN_THRESHOLD = 0.5  # a rail refuses only when it is at least as likely as not
C = 16.0
HARD_NEGATIVE_WEIGHT = 3.0  # a written hard negative ("block my stolen card") counts three times
NGRAM_SCALE = 1.5  # weight of the (unit-length) n-gram block beside the unit-length embedding


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Records of a JSONL file."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def corpus(split: str) -> list[dict[str, Any]]:
    """``data/rails/{split}.jsonl`` and then ``data/rails/{split}_*.jsonl`` (later batches, by name):
    ``{id, label, family, lang, text}`` records."""
    folder = DATA / "rails"
    paths = [folder / f"{split}.jsonl", *sorted(folder.glob(f"{split}_*.jsonl"))]
    return [r for path in paths for r in read_jsonl(path)]


def shipped_customer_turns() -> list[tuple[str, str]]:
    """(text, lang) of the customer turns of the shipped conversations."""
    out = []
    for path in sorted((DATA / "conversations").glob("*.jsonl")):
        for record in read_jsonl(path):
            out += [(m["content"], record.get("lang", "en")) for m in record["messages"] if m["role"] == "user"]
    return out


def csv_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV file (gzipped when its name ends in ``.gz``) of ``../shared/datasets``."""
    from retrieval.documents import csv_rows as rows_of

    raw = path.read_bytes()
    return list(rows_of((gzip.decompress(raw) if path.suffix == ".gz" else raw).decode("utf-8")))


def _sample(rows: list[str], k: int, rng: random.Random, lang: str = "en") -> list[tuple[str, str]]:
    return [(t, lang) for t in rng.sample(rows, min(k, len(rows)))]


def _fit_only(shared: Path, rng: random.Random) -> dict[str, list[tuple[str, str]]]:
    """Sources used for fitting only: the user turns of SGD's train dialogues and STS-B train sentences (es, en:
    plain sentences of every topic, the only Spanish real text at hand)."""
    sets: dict[str, list[tuple[str, str]]] = {}
    sgd = shared / "sgd_banking" / "train"
    if sgd.is_dir():
        turns = []
        for path in sorted(sgd.glob("dialogues_*.json.gz")):
            for dialogue in json.loads(gzip.decompress(path.read_bytes())):
                turns += [t["utterance"] for t in dialogue["turns"] if t["speaker"] == "USER"]
        sets["sgd_train_user"] = _sample(turns, 4000, rng)
    for lang, k in (("es", 3000), ("en", 1000)):
        path = shared / "stsb_multi_mt" / f"stsb-{lang}-train.csv"
        if path.exists():
            with path.open(encoding="utf-8") as handle:
                sentences = sorted({s for row in csv.reader(handle) for s in row[:2]})
            sets[f"stsb_{lang}_train"] = _sample(sentences, k, rng, lang)
    return sets


def real_messages(shared: Path | None, part: str, seed: int = 7) -> dict[str, list[tuple[str, str]]]:
    """Real customer messages from ``../shared/datasets`` by source: ``part="fit"`` or ``"report"`` (disjoint).

    Fit: Banking77 train even rows, CLINC150 train (in and out of scope, a sample), Bitext even rows, SGD train
    user turns, STS-B train sentences. Report: Banking77 train odd rows, CLINC150 val in-scope, Bitext odd rows
    (less any the shipped conversations hold), NLU++ banking and hotels.
    """
    if shared is None or not shared.is_dir():
        return {}
    rng = random.Random(seed)
    fitting = part == "fit"
    sets: dict[str, list[tuple[str, str]]] = {}
    banking = shared / "banking77" / "train.csv"
    if banking.exists():
        texts = [r["text"] for i, r in enumerate(csv_rows(banking)) if i % 2 == (0 if fitting else 1)]
        sets["banking77"] = [(t, "en") for t in texts]
    clinc = shared / "clinc150" / "clinc150_train_val.json.gz"
    if clinc.exists():
        data = json.loads(gzip.decompress(clinc.read_bytes()))
        if fitting:
            sets["clinc150_train"] = _sample([t for t, _ in data["train"] + data["oos_train"]], 6000, rng)
        else:
            sets["clinc150_val"] = [(t, "en") for t, _ in data["val"]]
    bitext = shared / "bitext_cs" / "Bitext_Sample_Customer_Support_Training_Dataset.csv.gz"
    if bitext.exists():
        shipped = {t for t, _ in shipped_customer_turns()}
        rows = [r["instruction"] for i, r in enumerate(csv_rows(bitext)) if i % 2 == (0 if fitting else 1)]
        sets["bitext"] = [(t, "en") for t in rows if fitting or t not in shipped]
    nlupp = shared / "nlupp" / "data"
    if nlupp.is_dir() and not fitting:
        for domain in ("banking", "hotels"):
            texts = []
            for path in sorted((nlupp / domain).glob("fold*.json")):
                texts += [r["text"] for r in json.loads(path.read_text(encoding="utf-8")) if r.get("text")]
            sets[f"nlupp_{domain}"] = [(t, "en") for t in texts]
    return sets | (_fit_only(shared, rng) if fitting else {})


def cached_encode(encode: Encode, name: str, cache: Path | None) -> Encode:
    """``encode`` with its results kept under ``cache`` (keyed on the encoder and the texts)."""

    def chunk(texts: list[str]) -> np.ndarray:
        digest = hashlib.sha256("\x00".join([name, *texts]).encode()).hexdigest()[:20]
        path = cache / f"{name}-{digest}.npy"  # type: ignore[operator]
        if path.exists():
            return np.load(path, allow_pickle=False)
        vectors = np.asarray(encode(texts), dtype=np.float32)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp.npy")
        np.save(tmp, vectors)
        tmp.replace(path)
        return vectors

    def run(texts: list[str]) -> np.ndarray:
        if cache is None or not texts:
            return encode(texts)
        # In chunks, so a few new lines at the end of a list re-embed one chunk, not the list.
        return np.vstack([chunk(texts[i : i + 2000]) for i in range(0, len(texts), 2000)])

    return run


def encoder(name: str, home: Path) -> Encode:
    """The encoder a model is fitted on: ``use`` (the shipped choice) or ``minilm`` (the index's bundled model)."""
    if name == "use":
        return use_encode
    from retrieval.embeddings import BUNDLED, load_embedder

    embedder = load_embedder(BUNDLED, "auto", home)
    return lambda texts: embedder.encode([clip(t) for t in texts])


def fitting_data(shared: Path | None) -> tuple[list[str], np.ndarray, list[str]]:
    """(texts, labels as class indices, source of each row) the rails are fitted on."""
    texts, labels, source = [], [], []
    real = {"shipped_turns": shipped_customer_turns(), **real_messages(shared, "fit")}
    for name, rows in real.items():
        texts += [t for t, _ in rows]
        labels += [0] * len(rows)
        source += [name] * len(rows)
    for r in corpus("train"):  # last: new corpus lines change the last embedding chunk only
        texts.append(r["text"])
        labels.append(CLASSES.index(r["label"]))
        source.append("corpus")
    return texts, np.array(labels), source


def _weights(labels: np.ndarray, source: list[str]) -> np.ndarray:
    """Sample weights: each class weighs as much in total as the attack corpus' negatives do twice over, so the
    thousands of real messages do not drown the few hundred written examples."""
    weights = np.ones(len(labels), dtype=np.float64)
    real = np.array([s != "corpus" for s in source])
    corpus_rows = (~real).sum()
    if real.any():
        weights[real] = corpus_rows / real.sum()  # all real messages together weigh as much as the corpus
    weights[~real & (labels == 0)] *= HARD_NEGATIVE_WEIGHT
    for k in range(1, len(CLASSES)):
        mine = labels == k
        if mine.any():
            weights[mine] *= corpus_rows / (len(CLASSES) * mine.sum()) * 1.5
    return weights


def ngram_matrix(texts: list[str], bits: int = NGRAM_BITS) -> Any:
    """The hashed character n-grams of ``texts`` as a sparse matrix (rows of :func:`char_ngrams`)."""
    from scipy.sparse import csr_matrix

    grams = [char_ngrams(t, bits) for t in texts]
    indptr = np.cumsum([0] + [len(index) for index, _ in grams])
    index = np.concatenate([g[0] for g in grams]) if grams else np.zeros(0, np.int64)
    values = np.concatenate([g[1] for g in grams]) if grams else np.zeros(0, np.float32)
    return csr_matrix((values, index, indptr), shape=(len(texts), 1 << bits), dtype=np.float32)


def out_of_fold(X: Any, labels: np.ndarray, weights: np.ndarray, classifier: Callable[[], Any], seed: int
                ) -> np.ndarray:  # fmt: skip
    """Class probabilities of every row from a ``classifier()`` fitted on the other four of five stratified folds."""
    from sklearn.model_selection import StratifiedKFold

    oof = np.zeros((len(labels), int(labels.max()) + 1))
    for train, held in StratifiedKFold(5, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels):
        found = classifier().fit(X[train], labels[train], sample_weight=weights[train])
        oof[np.ix_(held, found.classes_)] = found.predict_proba(X[held])
    return oof


def threshold_within(scores: np.ndarray, budgets: list[tuple[np.ndarray, float]], floor: float) -> float:
    """The lowest threshold on ``scores`` that takes at most ``share`` of the rows of each (rows mask, share) budget,
    and at least ``floor``."""
    cut = max((float(np.quantile(scores[rows], 1 - share)) for rows, share in budgets if rows.any()), default=0.0)
    return round(max(floor, cut + 1e-4), 4)


def fit(
    texts: list[str],
    labels: np.ndarray,
    source: list[str],
    encode: Encode,
    encoder_name: str = "use",
    seed: int = 13,
    progress: Callable[[str], None] = print,
) -> InputRailModel:
    """Fit the classifier and choose each rail's threshold on out-of-fold probabilities."""
    from scipy.sparse import csr_matrix, hstack

    progress(f"embedding {len(texts)} texts")
    X = hstack([csr_matrix(features(encode(texts), texts)), NGRAM_SCALE * ngram_matrix(texts)]).tocsr()
    weights = _weights(labels, source)

    written = np.array([s == "corpus" for s in source])
    budgets = [((labels == 0) & ~written, MAX_NEG_REFUSAL), ((labels == 0) & written, MAX_HARD_REFUSAL)]
    meta = {"encoder": encoder_name, "rows": {s: source.count(s) for s in sorted(set(source))},
            "max_neg_refusal": MAX_NEG_REFUSAL, "max_hard_refusal": MAX_HARD_REFUSAL}  # fmt: skip
    return fitted_model(X, labels, weights, CLASSES, budgets, seed, meta, progress)


def fitted_model(X: Any, labels: np.ndarray, weights: np.ndarray, classes: Sequence[str],
                 budgets: list[tuple[np.ndarray, float]], seed: int, meta: dict[str, Any],
                 progress: Callable[[str], None] = print,
                 acted: Mapping[str, np.ndarray] | None = None) -> InputRailModel:  # fmt: skip
    """A logistic regression over ``X`` fitted on every row, each class but the first (``none``) with the lowest
    threshold its out-of-fold probabilities allow within ``budgets`` (:func:`threshold_within`); ``meta`` gains the
    classes, the out-of-fold recall at those thresholds and the fit's settings. ``acted``: per class, the rows on
    which its verdict would be acted on at all (the budgets count only those; a row outside them is never taken for
    that class, and counts as missed in the recall). The one fit of the input rails and of the conversational acts
    (:mod:`graph.rails.fit_acts`)."""
    from sklearn.linear_model import LogisticRegression

    def classifier() -> Any:
        return LogisticRegression(C=C, max_iter=3000)

    def rows(name: str) -> np.ndarray:
        return np.ones(len(labels), bool) if acted is None or name not in acted else acted[name]

    progress("5-fold out-of-fold probabilities")
    oof = out_of_fold(X, labels, weights, classifier, seed)
    thresholds = {name: threshold_within(oof[:, k], [(mask & rows(name), share) for mask, share in budgets],
                                         MIN_THRESHOLD) for k, name in enumerate(classes) if k}  # fmt: skip
    final = classifier().fit(X, labels, sample_weight=weights)
    recall = {name: float(((oof[:, k] >= thresholds[name]) & rows(name))[labels == k].mean())
              for k, name in enumerate(classes) if k}  # fmt: skip
    meta = {**meta, "classes": list(classes), "oof_recall": {n: round(v, 4) for n, v in recall.items()}, "C": C,
            "ngram_bits": NGRAM_BITS, "ngram_scale": NGRAM_SCALE}  # fmt: skip
    return InputRailModel(final.coef_.astype(np.float32), final.intercept_.astype(np.float32), thresholds, meta)


def main() -> None:
    """Command-line entry point (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=DATA.parent.parent / "shared" / "datasets")
    parser.add_argument("--encoder", choices=["use", "minilm"], default="use")
    parser.add_argument("--out", type=Path, default=WEIGHTS)
    parser.add_argument("--cache-dir", type=Path, default=Path(".supportbot"))
    args = parser.parse_args()
    texts, labels, source = fitting_data(args.shared)
    encode = cached_encode(encoder(args.encoder, args.cache_dir), args.encoder, args.cache_dir / "rails")
    model = fit(texts, labels, source, encode, args.encoder)
    model.save(args.out)
    print(json.dumps({"out": str(args.out), "thresholds": model.thresholds, **model.meta}, indent=2))


if __name__ == "__main__":
    main()
