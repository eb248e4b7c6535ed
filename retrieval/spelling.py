"""Misspelt and accent-less query words, matched to the words of the index: "debolucion" -> "devolucion", "kiero"
-> "quiero", "rembolso" -> "reembolso", "pasword" -> "password".

BM25 only matches words it has seen, so a typo drops its word from the lexical search (the dense encoders read
typos poorly too). A query word the index does not contain (after lower-casing and accent folding, which BM25
already does) is looked up among the index's own words, and the nearest one is searched besides it:

- by how it sounds in Spanish (:func:`sound_key`: b/v, c/k/qu, c/s/z, g/j, ll/y, a silent h, doubled letters), the
  way Spanish speakers misspell ("kiero", "debolucion", "enbio", "ablar", "yega", "rechasado");
- else by edit distance (rapidfuzz's optimal string alignment: a swap of two neighbouring letters counts one,
  "retrun"): 1 edit for words of 5 to 7 letters, 2 from 8 ("newleter" -> "newsletter").

Only the words of the query's language are candidates (all when its language is unknown); the most frequent
of the nearest words wins. Words shorter than 4 letters, numbers, stopwords and words the index has are never
changed, and neither are real words: a word whose stem the es<->en lexicon or the index's BM25 knows ("blanca" is
not "banca", "guardado" not "guardalo"). Measured in docs/retrieval.md ("Misspelt queries").
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from functools import lru_cache

from retrieval.language import strip_accents
from retrieval.text import STOPWORDS, WORD, bm25_stopwords, stem_words

_DIPHTHONG = re.compile(r"(?<![qg])ue|ie")  # a stem-changing verb's stressed vowel: devuelvo / devolver
MIN_LETTERS = 4  # shorter words are too often another real word one edit away ("ago", "gia")
MIN_EDIT_LETTERS = 5  # words this long or more may be matched by edit distance
TWO_EDITS_FROM = 8  # words this long or more may be two edits away

_SOUNDS = [
    (re.compile(r"h"), ""),  # silent h: "ablar" / "hablar"; "ch" is kept below
    (re.compile(r"qu(?=[ei])"), "k"),
    (re.compile(r"q"), "k"),  # "paqete"
    (re.compile(r"c(?=[ei])"), "s"),
    (re.compile(r"c"), "k"),
    (re.compile(r"z"), "s"),
    (re.compile(r"g(?=[ei])"), "j"),
    (re.compile(r"gu(?=[ei])"), "g"),
    (re.compile(r"v"), "b"),
    (re.compile(r"w"), "b"),
    (re.compile(r"ll"), "y"),
    (re.compile(r"x"), "ks"),
    (re.compile(r"(.)\1+"), r"\1"),  # "rregalo", "direcion" / "direccion"
]


def sound_key(word: str) -> str:
    """How a lower-case, accent-free word sounds in Spanish, roughly: words that sound alike get one key
    ("kiero" and "quiero" -> "kiero", "debolucion" and "devolucion" -> "debolusion")."""
    key = word.replace("ch", "\0")
    for pattern, sound in _SOUNDS:
        key = pattern.sub(sound, key)
    return key.replace("\0", "ch")


def _words(text: str) -> list[str]:
    return [strip_accents(w) for w in WORD.findall(text.lower())]


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    return STOPWORDS | bm25_stopwords("en") | bm25_stopwords("es")


class Speller:
    """The words of an index by language, and the nearest of them to a word it does not have."""

    def __init__(self, texts: Iterable[tuple[str, str]], known_stems: Mapping[str, Collection[str]] | None = None
                 ) -> None:  # fmt: skip
        """``texts``: every indexed text (chunks and titles) with its language; ``known_stems``: per language, the
        stems (:func:`retrieval.lexicon.content_terms`) of real words, which are never changed though the index
        lacks them ("blanca" is not "banca", "hombre" not "nombre")."""
        self.known_stems = known_stems or {}
        self._languages = sorted(set(self.known_stems) | {"en", "es"})
        self.counts: dict[str, Counter[str]] = {}
        for text, lang in texts:
            self.counts.setdefault(lang, Counter()).update(w for w in _words(text) if w.isalpha())
        self.known = frozenset(w for counts in self.counts.values() for w in counts)
        self.words = {lang: sorted(counts) for lang, counts in self.counts.items()}
        self.by_sound: dict[str, str] = {}
        spanish = self.counts.get("es", Counter())
        for word in sorted(spanish, key=lambda w: (-spanish[w], w)):  # the most frequent word of a sound wins
            if len(word) >= MIN_LETTERS:
                self.by_sound.setdefault(sound_key(word), word)
        self.nearest = lru_cache(maxsize=4096)(self._nearest)
        self._by_stem: dict[str, str] | None = None  # Spanish stem -> the index's most frequent word of it

    def _nearest(self, word: str, lang: str) -> str | None:
        if lang == "es":  # the sound rules are Spanish spelling's
            found = self.by_sound.get(sound_key(word))
            if found is not None:
                return found
        words, counts = self.words.get(lang), self.counts.get(lang)
        if len(word) < MIN_EDIT_LETTERS or not words or counts is None:
            return None
        from rapidfuzz import process
        from rapidfuzz.distance import OSA

        edits = 2 if len(word) >= TWO_EDITS_FROM else 1
        matches = process.extract(word, words, scorer=OSA.distance, score_cutoff=edits, limit=None)
        if not matches:
            return None
        best = min(distance for _, distance, _ in matches)
        return max((m for m, distance, _ in matches if distance == best), key=lambda m: (counts[m], m))

    def fixes(self, query: str, lang: str | None, stems: bool = True) -> dict[str, str]:
        """Each of the query's words the index does not have -> the index's word (in ``lang``, the query's
        language; in either when it is unknown) to search for it; empty for a query whose words it has.
        ``stems=False``: typos only, not the index's word for a real word's stem (:meth:`unstressed`: "devuelvo" ->
        "devolver" helps a search, but "recomiéndame una serie" is not about "ser")."""
        langs = [lang] if lang in self.counts else sorted(self.counts)
        out: dict[str, str] = {}
        for word in _words(query):
            if len(word) < MIN_LETTERS or not word.isalpha() or word in self.known or word in _stopwords():
                continue
            if self._real(word, self._languages):  # a real word of either language: "function" in a Spanish query
                # a Spanish verb form whose stem changes ("devuelvo", "cierras"): the index's word of the stem
                # without the diphthong ("devolver", "cerrar"); Snowball cuts "devuelv" and "devolv" apart
                fixed = self.unstressed(word) if stems and "es" in langs else None
                if fixed is not None:
                    out[word] = fixed
                continue
            fixed = next((f for f in (self.nearest(word, current) for current in langs) if f is not None), None)
            if fixed is not None:
                out[word] = fixed
        return out

    def unstressed(self, word: str) -> str | None:
        """The index's most frequent Spanish word with the stem of ``word`` with its stressed diphthong undone ("ue"
        -> "o", "ie" -> "e", not in "que"/"gue"): "devuelvo" -> "devolver", "encuentro" -> "encontrar"; None when
        the index has no such word. Only for words the index lacks: done to every word, it cost the demo's Spanish
        dev R@5 0.919 -> 0.909 ("tienda" and "tender", "cuenta" and "contar")."""
        if self._by_stem is None:
            spanish = self.counts.get("es", Counter())
            words = sorted(spanish, key=lambda w: (-spanish[w], w))
            self._by_stem = {}
            for stem, word_of in zip(stem_words(words, "es"), words, strict=True):
                self._by_stem.setdefault(stem, word_of)
        for match in _DIPHTHONG.finditer(word):
            plain = word[: match.start()] + ("o" if match.group() == "ue" else "e") + word[match.end() :]
            found = self._by_stem.get(stem_words([plain], "es")[0])
            if found is not None and found != word:
                return found
        return None

    def _real(self, word: str, langs: list[str]) -> bool:
        from retrieval.lexicon import content_terms

        for lang in langs:
            stems = content_terms(word, lang)
            # no stem: one of the language's stopwords (spaCy's long list: "bueno", "podéis"), a real word too
            if not stems or stems[0] in self.known_stems.get(lang, ()):
                return True
        return False

    def corrections(self, query: str, lang: str | None) -> list[str]:
        """The index's words to search for the query's words it does not have (:meth:`fixes`), once each."""
        return list(dict.fromkeys(self.fixes(query, lang).values()))

    def corrected(self, query: str, lang: str | None, stems: bool = True) -> str:
        """``query`` with each word the index does not have replaced by its fix (:meth:`fixes`)."""
        fixes = self.fixes(query, lang, stems)
        if not fixes:
            return query
        return WORD.sub(lambda m: fixes.get(strip_accents(m.group().lower()), m.group()), query)
