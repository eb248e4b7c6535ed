"""The scope rail's language-neutral model, for a language the knowledge base has no article in.

The main model (:class:`graph.scope.ScopeModel`) reads the index's English-centric embedding and the stem coverage of
the message's own language: for Spanish customers of an English-only FAQ both say little, and it refused 35 % of
them (docs/graph.md). Where the knowledge base lacks en or es, :func:`graph.scope.fit_scope` fits a second logistic
regression, used only for messages in the missing language(s), over features that mean the same in either language:

- the message's USE multilingual vector (es and en share one space);
- its USE cosine to the nearest knowledge-base chunk and the mean of the 3 nearest;
- its USE cosine to the nearest knowledge-base item of the fit (titles and sentences; its own row left out while
  fitting) and the mean of the 3 nearest;
- the share of its content terms (:func:`retrieval.lexicon.content_terms`) the knowledge base covers: used by another
  article in its own language (its own article left out while fitting), or present in the other language's articles
  as the same term or through the es<->en lexicon;
- its USE cosine to the nearest kept out-of-scope example and the mean of the 3 nearest (its own row left out).

Its threshold for each missing language refuses ``NEGATIVE_RECALL`` of that language's out-of-scope examples (from
out-of-fold probabilities), as the main model's does for a language without matched customer turns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from graph.scope_kb import covered_share, logistic, top3
from retrieval.lexicon import OTHER, content_terms, load_lexicon

LANGS = ("en", "es")  # the languages a neutral model can stand in for
LEXICON_TOP = 3  # translations of a term read from the lexicon ...
LEXICON_MIN_PROB = 0.1  # ... and the least probability of one that counts
SCALE = 4.0  # the scalar columns' scale, so the L2 penalty treats them fairly next to the 512 vector columns


@dataclass
class NeutralModel:
    """A fitted language-neutral scope classifier (see the module docstring)."""

    coef: np.ndarray
    intercept: float
    langs: list[str]  # the languages it scores: those the knowledge base has no article in
    item_use: np.ndarray  # USE vectors of the knowledge-base items (titles, sentences) of the fit
    neg_use: np.ndarray  # USE vectors of the kept out-of-scope examples
    terms: dict[str, dict[str, int]]  # lang -> content term -> number of articles using it
    cross: dict[str, frozenset[str]]  # lang -> its content terms the other language's articles cover

    def coverage(self, text: str, lang: str, own: set[str] | None = None) -> float:
        """Share of the content terms of ``text`` the knowledge base covers in ``lang`` (other articles than
        ``own``, its article's terms) or in the other language."""
        return covered_share(
            content_terms(text, lang), self.terms.get(lang, {}), own, self.cross.get(lang, frozenset())
        )

    def features(
        self,
        use: np.ndarray,
        texts: Sequence[str],
        langs: Sequence[str],
        kb_use: np.ndarray,
        own: Sequence[set[str]] | None = None,
        item_self: Sequence[int] | np.ndarray | None = None,
        neg_self: Sequence[int] | np.ndarray | None = None,
    ) -> np.ndarray:
        """The feature rows of ``texts`` (``use``: their USE vectors; ``kb_use``: the chunks' USE vectors).

        ``own``: per row, the content terms of its own article; ``item_self`` / ``neg_self``: per row, its own index
        in ``item_use`` / ``neg_use`` or -1. All three only in fitting.
        """
        near = top3(use, kb_use)
        item = top3(use, self.item_use, item_self)
        neg = top3(use, self.neg_use, neg_self)
        cover = np.array([self.coverage(t, lang, own[i] if own else None)
                          for i, (t, lang) in enumerate(zip(texts, langs, strict=True))], dtype=np.float32)  # fmt: skip
        columns = [near[:, 0], near.mean(axis=1), item[:, 0], item.mean(axis=1), cover, neg[:, 0], neg.mean(axis=1)]
        return np.hstack([use, np.stack(columns, axis=1) * SCALE]).astype(np.float32)

    def probabilities(
        self, use: np.ndarray, texts: Sequence[str], langs: Sequence[str], kb_use: np.ndarray
    ) -> np.ndarray:
        """In-scope probabilities of many texts (``use``: their USE vectors; ``kb_use``: the chunks')."""
        rows = self.features(use, texts, langs, kb_use)
        return logistic(rows, self.coef, self.intercept)

    def arrays(self) -> dict[str, np.ndarray]:
        """Its arrays, named as :meth:`from_saved` reads them from the scope model's ``.npz``."""
        return {"neutral_coef": self.coef, "neutral_item_use": self.item_use, "neutral_neg_use": self.neg_use}

    def fields(self) -> dict[str, Any]:
        """Its other fields, as JSON values."""
        cross = {lang: sorted(terms) for lang, terms in self.cross.items()}
        return {"intercept": self.intercept, "langs": self.langs, "terms": self.terms, "cross": cross}

    @classmethod
    def from_saved(cls, arrays: Mapping[str, np.ndarray], fields: dict[str, Any]) -> NeutralModel:
        """The model written as :meth:`arrays` and :meth:`fields`."""
        cross = {lang: frozenset(terms) for lang, terms in fields["cross"].items()}
        return cls(arrays["neutral_coef"], float(fields["intercept"]), list(fields["langs"]),
                   arrays["neutral_item_use"], arrays["neutral_neg_use"], fields["terms"], cross)  # fmt: skip


def missing_languages(index_data: Any, negative_langs: Sequence[str]) -> list[str]:
    """The languages of :data:`LANGS` with out-of-scope examples (``negative_langs``) but no kept article."""
    present = {d.lang for d in index_data.documents.values() if d.duplicate_of is None}
    return [lang for lang in LANGS if lang not in present and lang in set(negative_langs)]


def article_terms(index_data: Any) -> dict[str, set[str]]:
    """The content terms of each kept article (title and text), by article id."""
    return {doc.id: set(content_terms(doc.title + " " + doc.text, doc.lang))
            for doc in index_data.documents.values() if doc.duplicate_of is None}  # fmt: skip


def untrained(index_data: Any, terms_of: Mapping[str, set[str]], langs: list[str]) -> NeutralModel:
    """A model with the knowledge base's vocabularies and no weights or reference vectors yet (fitting sets them)."""
    terms: dict[str, dict[str, int]] = {}
    for doc in index_data.documents.values():
        if doc.id in terms_of and doc.duplicate_of is None:
            counts = terms.setdefault(doc.lang, {})
            for term in terms_of[doc.id]:
                counts[term] = counts.get(term, 0) + 1
    have = {lang: set(terms.get(lang, {})) for lang in LANGS}  # each language's article terms
    empty = np.zeros((0, 1), np.float32)
    return NeutralModel(np.zeros(0, np.float32), 0.0, langs, empty, empty, terms, _cross_terms(have))


def _cross_terms(have: dict[str, set[str]]) -> dict[str, frozenset[str]]:
    """Per language, the terms the other language's articles cover (``have``: lang -> its articles' terms): the
    same term ("wifi", "spa") or one whose lexicon translations include one of theirs."""
    lexicon = load_lexicon("bundled")
    out = {}
    for lang, other in OTHER.items():
        known = set(have[other])
        if lexicon is not None:
            found = (t for t in lexicon.table.get(lang, {}) if have[other].intersection(
                lexicon.translate([t], lang, LEXICON_TOP, LEXICON_MIN_PROB)))  # fmt: skip
            known.update(found)
        out[lang] = frozenset(known)
    return out
