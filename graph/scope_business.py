"""Questions about the business itself: its phone number, its hours, its address, how to reach a person.

Every support chat gets them, whatever its knowledge base is about, and the scope rail's main model cannot learn them
from the knowledge base: an article that gives the phone number in a long list of channels is far, as a whole, from
"what's your phone number?", and negatives such as "dial someone's phone number" or "what time does Tesco open?" are
near. Measured on ``benchmarks/data/business_basics_val.jsonl`` (written by another author than the training file),
the main model alone refused 43-69 % of them on every knowledge base of ``benchmarks/scope_domains.py``.

So a second, small logistic regression decides only this: the message (its index-embedder and USE multilingual
vectors) against the shipped questions of ``data/scope/business_questions.jsonl`` (es, en) as positives and every
shipped out-of-scope example (which include ``data/scope/business_lookalikes.jsonl``: other places' hours, calling
a relative) as negatives, so it is the same for every knowledge base served with the same embedder. Its threshold
lets through at most :data:`FALSE_ACCEPT` of those negatives out of fold. A message it accepts is in scope whatever
the main model says, unless it names another company (Tesco's hours are Tesco's). Fitted with the main model and
saved in the same ``.npz``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from graph.scope_kb import logistic

FALSE_ACCEPT = 0.005  # share of the out-of-scope examples (out of fold) the detector may let through
C = 10.0  # inverse L2 penalty: the best out-of-fold recall at FALSE_ACCEPT of 0.3, 1, 3, 10, 30 on the training rows


@dataclass
class BusinessModel:
    """The fitted detector (see the module docstring)."""

    coef: np.ndarray
    intercept: float
    threshold: float

    def accepts(self, vectors: np.ndarray, use: np.ndarray) -> np.ndarray:
        """Whether each message (``vectors``: index embedder, ``use``: USE multilingual) asks about the business."""
        if not len(vectors):
            return np.zeros(0, dtype=bool)
        return logistic(np.hstack([vectors, use]).astype(np.float32), self.coef, self.intercept) >= self.threshold

    def arrays(self) -> dict[str, np.ndarray]:
        """Its arrays, named as :meth:`from_saved` reads them from the scope model's ``.npz``."""
        return {"business_coef": self.coef}

    def fields(self) -> dict[str, Any]:
        """Its other fields, as JSON values."""
        return {"intercept": self.intercept, "threshold": self.threshold}

    @classmethod
    def from_saved(cls, arrays: Mapping[str, np.ndarray], fields: dict[str, Any]) -> BusinessModel:
        """The model written as :meth:`arrays` and :meth:`fields`."""
        return cls(arrays["business_coef"], float(fields["intercept"]), float(fields["threshold"]))


def fit_business(
    positives: tuple[np.ndarray, np.ndarray], negatives: tuple[np.ndarray, np.ndarray], seed: int = 13
) -> BusinessModel | None:
    """The detector fitted on (index-embedder vectors, USE vectors) of the business questions and of the
    out-of-scope examples; None when either side is empty."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    if not len(positives[0]) or not len(negatives[0]):
        return None
    rows = np.vstack([np.hstack(positives), np.hstack(negatives)]).astype(np.float32)
    labels = np.array([1] * len(positives[0]) + [0] * len(negatives[0]))
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)

    def classifier() -> Any:
        return LogisticRegression(C=C, class_weight="balanced", max_iter=5000)

    with threadpool_limits(limits=1):  # small fit: see graph.scope.fit_scope
        oof = cross_val_predict(classifier(), rows, labels, cv=folds, method="predict_proba")[:, 1]
        final = classifier().fit(rows, labels)
    threshold = float(np.quantile(oof[labels == 0], 1 - FALSE_ACCEPT))
    return BusinessModel(final.coef_[0].astype(np.float32), float(final.intercept_[0]), threshold)
