"""Small text helpers shared by the rails and the extractive generator: words, stems, sentences."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

from retrieval.language import strip_accents

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[¿¡\"“«(]?[A-ZÁÉÍÓÚÑ0-9])|\n+")
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_STOPWORD_TEXT = (
    "a an the of to and or in on at for with by from is are was were be been am do does did i you he she we they "
    "it my your our their me us this that these those what how when where which who why can could would should "
    "will shall may might must have has had not no yes if so as there here just also too very please hi hello "
    "thanks thank its im dont ive get got want need know tell about any some much many more than then into out "
    "up down over after before again still already all one two"
    " el la los las lo un una unos unas de del al a y o u e en con por para sin sobre es son fue ser estar esta "
    "este esto estos estas ese esa eso que qué como cómo cuando cuándo donde dónde cual cuál quien quién porque "
    "mi mis tu tus su sus nuestro nuestra me te se le les nos os yo ha he han hay muy mas más ya si sí no también "
    "pero hola gracias favor puedo puede quiero necesito tengo tiene hace hacer algo cuanto cuánto cuánta "
    "cuántos cuántas dos tres le vuestra vuestro"
)
STOPWORDS = frozenset(strip_accents(w) for w in _STOPWORD_TEXT.split())


def clean(text: str) -> str:
    """Remove invisible characters (zero-width spaces, joiners) and normalise whitespace and Unicode (NFC)."""
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split())


def words(text: str) -> list[str]:
    """Lower-cased, accent-folded words of ``text``."""
    return [strip_accents(w) for w in _WORD.findall(text.lower())]


@lru_cache(maxsize=2)
def _stemmer(lang: str) -> Any:
    import Stemmer

    return Stemmer.Stemmer("spanish" if lang == "es" else "english")


def content_stems(text: str, lang: str) -> list[str]:
    """Stems of the content words (stop words and one-letter words dropped), in order."""
    kept = [w for w in words(text) if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return list(_stemmer("es" if lang == "es" else "en").stemWords(kept))


def sentences(text: str) -> list[str]:
    """Split a passage into sentences (and list items), dropping empty pieces and bullet marks."""
    out = []
    for piece in _SENTENCE_END.split(text):
        piece = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", piece).strip()
        if len(piece) > 2:
            out.append(piece)
    return out


def cut_sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end (the ends :func:`sentences` splits at), separators kept.

    The pieces join back to ``text``; the last one may be an unfinished sentence. A sentence end is only seen
    once the next sentence has begun, so cutting a growing text never cuts a decimal or an abbreviation early:
    streamed output is released piece by piece with exactly the cuts the whole text gets.
    """
    pieces, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        pieces.append(text[start : match.end()])
        start = match.end()
    return [*pieces, text[start:]]


def overlap(claim: list[str], support: set[str]) -> float:
    """Share of ``claim``'s stems (numbers count double: figures must come from the passage) found in ``support``."""
    if not claim:
        return 1.0
    weights = [2.0 if s.isdigit() else 1.0 for s in claim]
    found = sum(w for s, w in zip(claim, weights, strict=True) if s in support)
    return found / sum(weights)
