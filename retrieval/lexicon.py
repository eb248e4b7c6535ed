"""A bilingual es<->en term lexicon for cross-language BM25: a query's terms bring their translations along.

The bundled embedder is English-only, so a Spanish question against English articles (or the reverse) finds
little through the dense ranking, and BM25 cannot match across languages at all. A word-translation table
learned from parallel text with IBM Model 1 (nltk's implementation, over Snowball stems with stopwords removed)
adds, to each query term, its most probable translations in the other language. The shipped table is learned
from stsb_multi_mt train/dev (CC BY-SA 4.0) and the bundled knowledge base's article pairs
(`scripts/build_lexicon.py`); any other table in the same format can be configured.

Format: gzipped TSV, one row per (source language, source stem, target stem, probability).
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

from retrieval.language import strip_accents
from retrieval.text import WORD, bm25_stopwords, stem_words

BUNDLED_LEXICON = Path(__file__).with_name("resources") / "lexicon.es-en.tsv.gz"
OTHER = {"es": "en", "en": "es"}


class LexiconError(ValueError):
    """A lexicon file cannot be read; the message names the file and line."""


@lru_cache(maxsize=2)
def _content_stopwords(lang: str) -> frozenset[str]:
    """bm25s's stopwords plus spaCy's longer list: function words make noisy translations."""
    if lang == "en":
        from spacy.lang.en.stop_words import STOP_WORDS
    else:
        from spacy.lang.es.stop_words import STOP_WORDS
    return bm25_stopwords(lang) | frozenset(strip_accents(w.lower()) for w in STOP_WORDS)


def content_terms(text: str, lang: str) -> list[str]:
    """Accent-free Snowball stems of the content words of ``text`` (the unit the lexicon translates)."""
    stop = _content_stopwords(lang)
    words = [w for w in WORD.findall(text.lower()) if len(w) > 1 and not w.isdigit() and strip_accents(w) not in stop]
    return stem_words(words, lang)


class Lexicon:
    """Translation probabilities P(target stem | source stem) for es->en and en->es."""

    def __init__(self, table: dict[str, dict[str, list[tuple[str, float]]]]) -> None:
        self.table = table

    def translate(self, terms: Iterable[str], lang: str, top: int, min_prob: float) -> list[str]:
        """The other language's stems for ``terms`` (in ``lang``): up to ``top`` each, with P >= ``min_prob``."""
        rows = self.table.get(lang, {})
        found: list[str] = []
        for term in terms:
            for target, prob in rows.get(term, [])[:top]:
                if prob >= min_prob and target not in found:
                    found.append(target)
        return found

    def save(self, path: Path) -> None:
        """Write the table atomically as gzipped TSV."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".lexicon-", suffix=".tmp")
        os.close(fd)
        try:
            with gzip.open(tmp, "wt", encoding="utf-8", compresslevel=9) as handle:
                handle.write("# src_lang\tsrc_stem\ttgt_stem\tprob\n")
                for lang in sorted(self.table):
                    for source in sorted(self.table[lang]):
                        for target, prob in self.table[lang][source]:
                            handle.write(f"{lang}\t{source}\t{target}\t{prob:.4f}\n")
            os.chmod(tmp, 0o644)  # mkstemp creates 0600; the table is a shipped, readable resource
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @classmethod
    def load(cls, path: Path) -> Lexicon:
        """Read a table written by :meth:`save`."""
        table: dict[str, dict[str, list[tuple[str, float]]]] = {"es": defaultdict(list), "en": defaultdict(list)}
        try:
            with gzip.open(path, "rt", encoding="utf-8") as handle:
                for number, line in enumerate(handle, start=1):
                    if line.startswith("#") or not line.strip():
                        continue
                    parts = line.rstrip("\n").split("\t")
                    if len(parts) != 4 or parts[0] not in OTHER:
                        raise LexiconError(f"{path}:{number}: expected src_lang (es|en), src, tgt, prob")
                    table[parts[0]][parts[1]].append((parts[2], float(parts[3])))
        except (OSError, ValueError, EOFError) as exc:
            if isinstance(exc, LexiconError):
                raise
            raise LexiconError(f"{path}: cannot read lexicon: {exc}") from exc
        return cls({lang: dict(rows) for lang, rows in table.items()})


@lru_cache(maxsize=4)
def load_lexicon(name: str) -> Lexicon | None:
    """``"bundled"``: the shipped table; ``""``: none (no cross-language expansion); else a file path."""
    if not name:
        return None
    return Lexicon.load(BUNDLED_LEXICON if name == "bundled" else Path(name))


def build_lexicon(
    pairs: Iterable[tuple[str, str]],
    iterations: int = 6,
    min_prob: float = 0.05,
    top: int = 4,
    max_terms: int = 80,
    long_pairs: Iterable[tuple[str, str]] = (),
) -> Lexicon:
    """Learn P(target | source) in both directions with IBM Model 1 from (English, Spanish) text pairs.

    Args:
        pairs: sentence-level (en, es) translations; pairs with more than ``max_terms`` content terms are skipped.
        iterations: EM iterations of IBM Model 1.
        min_prob: translations below this probability are not kept.
        top: translations kept per source term.
        max_terms: longest sentence kept from ``pairs`` (long ones mostly add noise and time).
        long_pairs: (en, es) documents kept whatever their length (the knowledge base's article pairs: in-domain
            vocabulary that short sentences from elsewhere rarely cover).
    """
    from nltk.translate import AlignedSent, IBMModel1

    analysed = [(content_terms(en, "en"), content_terms(es, "es")) for en, es in pairs]
    analysed = [(en, es) for en, es in analysed if 0 < len(en) <= max_terms and 0 < len(es) <= max_terms]
    analysed += [(content_terms(en, "en"), content_terms(es, "es")) for en, es in long_pairs]
    table: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for source in ("es", "en"):
        # AlignedSent(words, mots): IBM1 learns P(word | mot), i.e. target given source.
        bitext = [AlignedSent(en, es) if source == "es" else AlignedSent(es, en) for en, es in analysed if en and es]
        model = IBMModel1(bitext, iterations)
        rows: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for target, by_source in model.translation_table.items():
            for term, prob in by_source.items():
                if term is not None and target is not None and prob >= min_prob:
                    rows[term].append((target, round(float(prob), 4)))
        table[source] = {term: sorted(found, key=lambda x: (-x[1], x[0]))[:top] for term, found in rows.items()}
    return Lexicon(table)
