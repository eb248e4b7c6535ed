"""Questions about the business itself: its phone number, its hours, its address, how to reach a person.

Every support chat gets them, whatever its knowledge base is about, and the scope rail's main model cannot learn them
from the knowledge base: an article that gives the phone number in a long list of channels is far, as a whole, from
"what's your phone number?", and negatives such as "dial someone's phone number" or "what time does Tesco open?" are
near. Measured on ``benchmarks/data/business_basics_val.jsonl`` (written by another author than the training file),
the main model alone refused 43-69 % of them on every knowledge base of ``benchmarks/scope_domains.py``.

So a second, small logistic regression decides only this: the message (its index-embedder and USE multilingual
vectors) against the shipped questions of ``data/scope/business_questions.jsonl`` (es, en) as positives and every
shipped out-of-scope example (which include ``data/scope/business_lookalikes.jsonl``: other places' hours, calling
a relative) as negatives, so it is the same for every knowledge base served with the same embedder. Besides the two
vectors it reads how near the message is to those examples: in each embedding space the cosine to the nearest
business question and to the nearest negative, and the mean of the three nearest of each (a training row's own
copy left out, as a new message has none); a short "¿Hablan inglés?" is one word away from the shipped "¿habláis
inglés?", which a linear model over 896 dimensions fitted on 221 questions did not see. Out of fold, at the same
false-accept budget, recall went 0.566 -> 0.719 (C and the features' scale chosen there; the held-out set's
aggregate was printed beside that sweep, not used to choose). Its threshold lets through at most
:data:`FALSE_ACCEPT` of those negatives out of fold. A message it accepts is in scope whatever the main model says,
unless it names another company (Tesco's hours are Tesco's). Fitted with the main model and saved in the same
``.npz``.

The same kind of detector, fitted the other way round, finds **general tasks** (:func:`fit_tasks`): homework on
VAT, a database schema for an online shop, a parcel a relative sent with another carrier, a text to translate. They
use a store's own words, so the main model, which reads how near a message is to the knowledge base, puts them in
scope. Positives: ``data/scope/general_tasks*.jsonl`` (label ``task``); negatives: their ``support`` messages (many
look like tasks: "calculate my refund"), the business questions and this knowledge base's own rows (article
sentences, template questions, matched customer turns), so a database company's help centre keeps its SQL
questions. Its threshold flags at most :data:`FALSE_FLAG` of the customer-style negatives out of fold. A message it
flags is out of scope unless it asks about the business itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from graph.scope_kb import logistic, top3

FALSE_ACCEPT = 0.005  # share of the out-of-scope examples (out of fold) the business detector may let through
# share of the customer-style in-scope examples (out of fold) the task detector may flag: 0.002 of 0.005, 0.002 and
# 0.001 (benchmarks/scope_domains.py, dev sets: no in-scope dev set more than ~1 point worse, most written
# out-of-scope dev recall)
FALSE_FLAG = 0.002
MAX_TASK_NEGATIVES = 5000  # the task detector's negatives (kept as its reference set): a sample beyond this
# Inverse L2 penalty and the weight of the nearest-example features against the raw vectors: the best out-of-fold
# recall at FALSE_ACCEPT over C in 3, 10, 30 and scales 1, 3, 5, 10, 20 on the training rows (0.719; 0.566 for the
# vectors alone, C 10, chosen the same way before).
C = 3.0
NEAR_SCALE = 3.0
_REFERENCES = ("pos_vectors", "pos_use", "neg_vectors", "neg_use")


def _nearest(
    spaces: tuple[np.ndarray, np.ndarray], references: tuple[np.ndarray, ...], leave_out: str | None = None
) -> np.ndarray:
    """Per message, in each space (index embedder, USE): the cosine to the nearest business question and to the
    nearest negative, and the mean of the three nearest of each. ``leave_out``: "pos" or "neg" when the messages
    are those reference rows themselves, in order: each row's own cosine is left out."""
    columns = []
    for space, (positives, negatives) in enumerate(((references[0], references[2]), (references[1], references[3]))):
        for side, reference in (("pos", positives), ("neg", negatives)):
            own = np.arange(len(spaces[space])) if leave_out == side else None
            top = top3(spaces[space], reference, own)
            columns += [top[:, 0], top.mean(axis=1)]
    return np.stack(columns, axis=1).astype(np.float32)


def _rows(vectors: np.ndarray, use: np.ndarray, near: np.ndarray) -> np.ndarray:
    return np.hstack([vectors, use, NEAR_SCALE * near]).astype(np.float32)


@dataclass
class NearestDetector:
    """A fitted detector (see the module docstring): the positives and the negatives it was fitted on are kept
    (float16) for the nearest-example features; ``prefix`` names its arrays in the scope model's ``.npz``."""

    coef: np.ndarray
    intercept: float
    threshold: float
    references: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # pos_vectors, pos_use, neg_vectors, neg_use
    prefix: str = "business"

    def accepts(self, vectors: np.ndarray, use: np.ndarray) -> np.ndarray:
        """Whether each message (``vectors``: index embedder, ``use``: USE multilingual) is one of the positives'
        kind (asks about the business; a general task)."""
        if not len(vectors):
            return np.zeros(0, dtype=bool)
        vectors, use = vectors.astype(np.float32), use.astype(np.float32)
        rows = _rows(vectors, use, _nearest((vectors, use), self.references))
        return logistic(rows, self.coef, self.intercept) >= self.threshold

    def arrays(self) -> dict[str, np.ndarray]:
        """Its arrays, named as :meth:`from_saved` reads them from the scope model's ``.npz``."""
        kept = zip(_REFERENCES, self.references, strict=True)
        return {f"{self.prefix}_coef": self.coef} | {
            f"{self.prefix}_{name}": array.astype(np.float16) for name, array in kept
        }

    def fields(self) -> dict[str, Any]:
        """Its other fields, as JSON values."""
        return {"intercept": self.intercept, "threshold": self.threshold}

    @classmethod
    def from_saved(
        cls, arrays: Mapping[str, np.ndarray], fields: dict[str, Any], prefix: str = "business"
    ) -> NearestDetector:
        """The detector written as :meth:`arrays` and :meth:`fields`."""
        p_vec, p_use, n_vec, n_use = (arrays[f"{prefix}_{name}"].astype(np.float32) for name in _REFERENCES)
        return cls(
            arrays[f"{prefix}_coef"],
            float(fields["intercept"]),
            float(fields["threshold"]),
            (p_vec, p_use, n_vec, n_use),
            prefix,
        )


def fit_business(
    positives: tuple[np.ndarray, np.ndarray], negatives: tuple[np.ndarray, np.ndarray], seed: int = 13
) -> NearestDetector | None:
    """The business detector fitted on (index-embedder vectors, USE vectors) of the business questions and of the
    out-of-scope examples; None when either side is empty. It lets through at most :data:`FALSE_ACCEPT` of the
    out-of-scope examples out of fold."""
    return _fit(positives, negatives, np.ones(len(negatives[0]), dtype=bool), FALSE_ACCEPT, "business", seed)


def fit_tasks(
    positives: tuple[np.ndarray, np.ndarray],
    negatives: tuple[np.ndarray, np.ndarray],
    customers: np.ndarray,
    seed: int = 13,
) -> NearestDetector | None:
    """The general-task detector fitted on the general tasks and on in-scope rows (``customers``: which of those
    are customer-style messages, the rows whose flags its threshold budgets); at most :data:`MAX_TASK_NEGATIVES`
    negatives, a random sample. None when either side is empty."""
    if len(negatives[0]) > MAX_TASK_NEGATIVES:
        pick = np.sort(np.random.default_rng(seed).permutation(len(customers))[:MAX_TASK_NEGATIVES])
        negatives, customers = (negatives[0][pick], negatives[1][pick]), customers[pick]
    return _fit(positives, negatives, customers, FALSE_FLAG, "task", seed)


def _fit(
    positives: tuple[np.ndarray, np.ndarray],
    negatives: tuple[np.ndarray, np.ndarray],
    budgeted: np.ndarray,
    share: float,
    prefix: str,
    seed: int,
) -> NearestDetector | None:
    """A detector whose threshold lets at most ``share`` of the ``budgeted`` negatives through, out of fold."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    if not len(positives[0]) or not len(negatives[0]) or not budgeted.any():
        return None
    # as the detector will read them: through the float16 copies it keeps
    p_vec, p_use, n_vec, n_use = (np.asarray(a, dtype=np.float16).astype(np.float32) for a in (*positives, *negatives))
    references = (p_vec, p_use, n_vec, n_use)
    near_pos = _nearest((p_vec, p_use), references, "pos")
    near_neg = _nearest((n_vec, n_use), references, "neg")
    rows = np.vstack([_rows(p_vec, p_use, near_pos), _rows(n_vec, n_use, near_neg)])
    labels = np.array([1] * len(positives[0]) + [0] * len(negatives[0]))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)

    def classifier() -> Any:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)

    with threadpool_limits(limits=1):  # small fit: see graph.scope.fit_scope
        oof = cross_val_predict(classifier(), rows, labels, cv=folds, method="predict_proba")[:, 1]
        final = classifier().fit(rows, labels)
    threshold = float(np.quantile(oof[len(positives[0]) :][budgeted], 1 - share))
    return NearestDetector(final.coef_[0].astype(np.float32), float(final.intercept_[0]), threshold, references, prefix)
