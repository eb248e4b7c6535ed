"""The one text toolkit of the project: words, stems, stopwords and sentences, for Spanish and English.

Retrieval (BM25, dedup, the es<->en lexicon, chunking), the graph (rails, groundedness, the extractive generator,
streamed-output gating), evaluation and fine-tuning data preparation all tokenise, stem and split here, so a
question, a passage and an answer are cut the same way everywhere. Language detection lives beside it, in
:mod:`retrieval.language`.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from functools import lru_cache
from typing import Any

from retrieval.language import strip_accents

# A word: a run of letters or digits (BM25 terms, dedup shingles, lexicon terms).
WORD = re.compile(r"[^\W_]+")
# The rails' word: an inner apostrophe keeps "don't" or "l’article" one word.
WORD_WITH_APOSTROPHE = re.compile(rf"{WORD.pattern}(?:['’]{WORD.pattern})?")
# A personal-data placeholder that redaction (finetune.pii) leaves in a text: <EMAIL_1>, <PERSON_2>, <ORDER_1>.
PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_\d+>")
# A sentence ends with . ! ? or … followed by space and an upper-case letter or digit (after an optional opening
# ¿ ¡ quote or parenthesis), or at a line break. A citation such as "[1]" stays with the sentence before it. A list
# number that opens a piece ("1. Open My orders", "order. 2. Select") is not a sentence end: "1." was cut off as a
# sentence of its own and the step lost its number. An inline list starts a piece of its own after a colon ("Step by
# step: 1. Open ...", "prepara: a) la factura"), and a lettered item after a sentence end or a semicolon ("... app;
# b) pulsa").
_NOT_A_LIST_NUMBER = r"(?<!^\d\.)(?<!^\d\d\.)(?<!\n\d\.)(?<!\n\d\d\.)(?<![.!?…:;]\s\d\.)(?<![.!?…:;]\s\d\d\.)"
SENTENCE_END = re.compile(
    rf"(?<=[.!?…]){_NOT_A_LIST_NUMBER}\s+(?=[¿¡\"“«(]?[A-ZÁÉÍÓÚÑ0-9])"
    r"|(?<=:)\s+(?=(?:1|a)[.)]\s)|(?<=[.!?…;])\s+(?=[a-z]\)\s)|(?<=;)\s+(?=\d{1,2}[.)]\s)|\n+"
)
# A list item's mark at the start of a piece: a bullet (- * •), a number ("1." "2)") or a letter ("a)").
LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)]|[a-z]\))\s+")
# Invisible characters, bidi embeddings, overrides and isolates (they can make a stored message display as
# something else), and the C0/C1 control characters that are not whitespace (whitespace ones become one space).
_INVISIBLE = re.compile(r"[\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u202a-\u202e\u2066-\u2069"
                        r"\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")  # fmt: skip
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
# Chat stopwords of both languages at once, accent-free (greetings and "please" included): what the rails and the
# groundedness check ignore. BM25 uses each language's own list (:func:`bm25_stopwords`).
STOPWORDS = frozenset(strip_accents(w) for w in _STOPWORD_TEXT.split())


def clean(text: str) -> str:
    """Remove invisible characters (zero-width spaces, joiners), bidi overrides and isolates and control characters,
    and normalise whitespace and Unicode (NFC): what every customer or agent message goes through before it is kept."""
    return " ".join(_INVISIBLE.sub("", unicodedata.normalize("NFC", text)).split())


SHOUTED_SHARE = 0.7  # a message whose cased letters are at least this share capitals is shouted


def unshout(text: str) -> str:
    """A message typed in capitals ("¿CUÁNTO TARDA EN LLEGAR UN PEDIDO A IBIZA?") in lower case, for the embedders
    (USE reads case: that question scored 0.18 for the scope rail, in lower case 0.87); words with a digit
    ("NB-1234567") and text mostly in lower case are left as they are."""
    cased = [c for c in text if c.isalpha() and c.lower() != c.upper()]
    if len(cased) < 8 or sum(c.isupper() for c in cased) < SHOUTED_SHARE * len(cased):
        return text
    return re.sub(r"\S+", lambda m: m.group(0) if any(c.isdigit() for c in m.group(0)) else m.group(0).lower(), text)


def has_words(text: str) -> bool:
    """Whether ``text`` holds a letter or a digit: a query of only spaces, punctuation or symbols ('¿?¡!', '...')
    has nothing to search for."""
    return WORD.search(text) is not None


def words(text: str) -> list[str]:
    """Lower-cased, accent-folded words of ``text`` (an inner apostrophe kept)."""
    return [strip_accents(w) for w in WORD_WITH_APOSTROPHE.findall(text.lower())]


_MASH = re.compile(r"[bcdfghjklmnpqrstvwxz]{4,}|(.)\1{3,}|^[bcdfghjklmnpqrstvwxz]{3,}$")  # words() folds "ñ" to "n"
# Words of three letters or more with no vowel that customers do type.
_NO_VOWEL_WORDS = frozenset(
    ["pls", "plz", "thx", "thnx", "txt", "msg", "sms", "pdf", "hmm", "mmm", "shh", "hrs", "dni", "nif", "cif", "cvv"]
)
# Keys of a row of a QWERTY keyboard, for runs typed along it (the Spanish "ñ" at the end of the middle row is
# folded to "n" by words(): "ñlkj" is caught as four consonants).
_KEY = {c: (r, i) for r, row in enumerate(("qwertyuiop", "asdfghjkl", "zxcvbnm")) for i, c in enumerate(row)}
KEY_RUN = 4  # a word that is mostly a run of this many neighbouring keys of one row, one way ("asdf", "poiu")


def _key_run(token: str) -> int:
    """The longest run of letters of ``token`` that are neighbouring keys of one keyboard row, typed one way."""
    best = run = 1
    step = 0
    for a, b in itertools.pairwise(token):
        pa, pb = _KEY.get(a), _KEY.get(b)
        move = pb[1] - pa[1] if pa is not None and pb is not None and pa[0] == pb[0] else 0
        run = (run + 1 if run > 1 and move == step else 2) if move in (1, -1) else 1
        step = move
        best = max(best, run)
    return best


def _mashed(token: str) -> bool:
    run = _key_run(token)
    # "property", "liberty" end in a run ("erty") that is not most of the word
    return bool(_MASH.search(token)) or (run >= KEY_RUN and run >= 0.6 * len(token))


def gibberish(text: str) -> bool:
    """Most words have four consonants in a row, one letter repeated four times, no vowel at all ("fgh zzqx ppp"),
    or are mostly a run along a keyboard row ("asdf", "qwerty"): typed at random, not misspelt."""
    tokens = [t for t in words(text) if t not in _NO_VOWEL_WORDS]  # words() lower-cases and folds accents
    return bool(tokens) and sum(_mashed(t) for t in tokens) >= 0.4 * len(tokens)


@lru_cache(maxsize=2)
def stemmer(lang: str) -> Any:
    """The Snowball stemmer (PyStemmer) of ``lang``: Spanish for ``es``, English otherwise."""
    import Stemmer

    return Stemmer.Stemmer("spanish" if lang == "es" else "english")


@lru_cache(maxsize=2)
def bm25_stopwords(lang: str) -> frozenset[str]:
    """bm25s's stopword list of ``lang`` (en or es), lower-cased and accent-free."""
    from bm25s import stopwords

    found = stopwords.STOPWORDS_EN if lang == "en" else stopwords.STOPWORDS_SPANISH
    return frozenset(strip_accents(w.lower()) for w in found)


# An accent-less Spanish "vosotros" present ending ("enviais", "teneis"): typed without its accent, Snowball does not
# know it ("enviáis" -> "envi", "enviais" -> "enviais"). Restored before stemming.
_VOSOTROS = re.compile(r"(?<=\w{3})([ae])is$")


def stem_words(lowered: list[str], lang: str) -> list[str]:
    """Accent-free Snowball stems of lower-cased words as typed: stemmed with their accents (Spanish suffixes such as
    "-áis", "-éis", "-ió", "-ía" carry them: "¿Enviáis?" -> "envi", as "envío"), then folded; every stem of the
    project (BM25, the lexicon, the rails' content stems) is cut here."""
    if lang == "es":
        lowered = [_VOSOTROS.sub(lambda m: "áis" if m[1] == "a" else "éis", w) for w in lowered]
    return [strip_accents(stem) for stem in stemmer("es" if lang == "es" else "en").stemWords(lowered)]


def content_stems(text: str, lang: str) -> list[str]:
    """Stems of the content words (stop words and one-letter words dropped), in order."""
    lowered = WORD_WITH_APOSTROPHE.findall(text.lower())
    kept = [w for w in lowered if strip_accents(w) not in STOPWORDS and (len(w) > 1 or w.isdigit())]
    return stem_words(kept, lang)


# A cross-reference to another article: "(see Gift options)", "; see Customs and import taxes.", "(consulta «Tarjetas
# regalo»)". Its words are the other article's title, not this sentence's content.
CROSS_REFERENCE = re.compile(
    r"\((?i:see|read|consulta|ver|lee)\b[^)]*\)|[;,:]?\s*\b(?i:see|consulta)\s+[«\"“A-ZÁÉÍÓÚÑ][^;.]*"
)


def list_segments(text: str) -> list[tuple[str, str]]:
    """Split a passage at the ends :func:`split_sentences` splits at, as (segment as written, its list mark): a
    segment is one sentence (mark ``""``) or one list item with the sentences that continue it on its line ("2. Enter
    your email and a password. It needs 10 characters." is one step, mark ``"2."``); marks are bullets, numbers and
    letters (:data:`LIST_MARK`). Nothing is dropped: the segments joined with spaces are the passage's text."""
    out: list[tuple[str, str]] = []
    for line in re.split(r"\n+", text):
        in_item = False
        for piece in (p.strip() for p in SENTENCE_END.split(line)):
            if not piece:
                continue
            mark = LIST_MARK.match(piece)
            if mark:
                out.append((piece, mark.group().strip()))
                in_item = True
            elif in_item:
                out[-1] = (f"{out[-1][0]} {piece}", out[-1][1])
            else:
                out.append((piece, ""))
    return out


def ordered_mark(mark: str) -> bool:
    """Whether a list mark numbers a step ("1." "2)" "a)"), not a bullet: the items of such a list are a procedure
    that is read whole and in order."""
    return bool(mark) and mark[0].isalnum()


def list_items(text: str) -> list[tuple[str, str]]:
    """Split a passage into sentences and list items (:func:`list_segments`), as (text without its list mark, the
    mark or ``""``); empty pieces dropped."""
    out = []
    for segment, mark in list_segments(text):
        piece = LIST_MARK.sub("", segment).strip() if mark else segment
        if len(piece) > 2:
            out.append((piece, mark))
    return out


def sentence_items(text: str) -> list[tuple[str, bool]]:
    """Split a passage into sentences and list items, as (text without its bullet mark, whether it is a list item: a
    line that starts with one, with the sentences that continue it on its line); empty pieces dropped."""
    return [(piece, bool(mark)) for piece, mark in list_items(text)]


def sentences(text: str) -> list[str]:
    """Split a passage into sentences (and list items), dropping empty pieces and bullet marks."""
    return [sentence for sentence, _ in sentence_items(text)]


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences at the ends :func:`sentences` splits at, keeping every piece as written
    (bullets and short pieces included): chunking must not lose text."""
    return [piece.strip() for piece in SENTENCE_END.split(text) if piece.strip()]


def cut_sentences(text: str) -> list[str]:
    """``text`` cut after each sentence end (the ends :func:`sentences` splits at), separators kept.

    The pieces join back to ``text``; the last one may be an unfinished sentence. A sentence end is only seen
    once the next sentence has begun, so cutting a growing text never cuts a decimal or an abbreviation early:
    streamed output is released piece by piece with exactly the cuts the whole text gets.
    """
    pieces, start = [], 0
    for match in SENTENCE_END.finditer(text):
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


def chrf(answer: str, reference: str) -> float:
    """chrF (sacrebleu, character 6-grams, beta 2) of the answer against the reference, scaled to [0, 1].

    Measures character-level overlap, so inflections ("devolución"/"devoluciones", "return"/"returned") still
    count. It matters because word-level metrics under-score Spanish, a morphologically richer language, and
    a comparison across languages needs a metric that treats both fairly. An empty answer scores 0.
    """
    if not answer.strip() or not reference.strip():
        return 0.0
    from sacrebleu.metrics import CHRF

    return float(CHRF().sentence_score(answer, [reference]).score) / 100.0
